/**
 * The status lifecycle, in one room: the names Didit gives a session's statuses (and the gateway's
 * own `Deleted`), which are final, which carry a decision, the moves Didit makes between them, and
 * what is news. Nothing else in `src/` spells these rules; the Redis script of
 * `core/status-events.ts` takes its table from `followsTable` here.
 *
 * What is news: Didit's signed timestamp and event id first, then, where they cannot order two
 * statuses (the same second, or after a status the gateway read itself), the moves Didit can make.
 * Every move Didit can make is accepted, reversals included; only a delivery older than the newest
 * one seen is dropped. Didit stamps deliveries in whole seconds, and a retried delivery can arrive
 * after later ones.
 */

/** Session statuses Didit documents. Didit may add more: `SessionStatus` stays open. */
export const SESSION_STATUSES = [
  'Not Started',
  'In Progress',
  'In Review',
  'Approved',
  'Declined',
  'Abandoned',
  'Expired',
  'Kyc Expired',
  // v3 only: a reviewer asked for steps again; a business (KYB) session waits for its people.
  'Resubmitted',
  'Awaiting User',
] as const;
export type DiditStatus = (typeof SESSION_STATUSES)[number];

/** The status of the last event of a session the gateway erased at Didit: the gateway's own. */
export const DELETED_STATUS = 'Deleted';

/**
 * A session's status as Didit spells it, or `Deleted`. A status Didit adds later is kept as it
 * came (never a crash); the schema shows it as UNKNOWN.
 */
export type SessionStatus = DiditStatus | typeof DELETED_STATUS | (string & {});

/** What one check of a decision says (kyc.status, face.livenessStatus, aml.status, ...); open like `SessionStatus`. */
export const CHECK_STATUSES = ['Approved', 'Declined', 'In Review', 'Not Finished'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number] | (string & {});

/** A reviewer's verdict, and what a session may be finished with: the statuses a decision is made of. */
export const VERDICTS = ['Approved', 'Declined', 'In Review'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Statuses whose webhook carries the decision (Didit's, and the sandbox's). */
export const CARRIES_DECISION: ReadonlySet<string> = new Set(['Approved', 'Declined', 'In Review', 'Abandoned']);

/**
 * Final statuses: they change only through a review (a mutation here, a webhook from Didit's
 * console), never on their own. "In Review" is one: it ends by a review.
 */
const FINAL: ReadonlySet<string> = new Set(['Approved', 'Declined', 'In Review', 'Abandoned', 'Expired', 'Kyc Expired']);
export const isFinal = (status: string): boolean => FINAL.has(status);

/** The statuses Didit renders a PDF report for, per API (it answers 403 for the others). */
export const REPORTABLE = {
  v1: new Set<string>(VERDICTS),
  v3: new Set<string>([...VERDICTS, 'Kyc Expired']),
} as const;

/**
 * Every move Didit can make, from one status to the next. Reversals included: ongoing AML
 * monitoring sends an approved session back to review, a console review decides again, a session
 * abandoned or whose KYC expired may be reviewed and decided. The gateway's own `Deleted` (an
 * erasure) may follow any of them and ends the session.
 */
const DIDIT_MOVES: Record<string, readonly string[]> = {
  'Not Started': ['In Progress', 'Awaiting User', 'Expired'],
  'In Progress': ['Awaiting User', 'Approved', 'Declined', 'In Review', 'Abandoned', 'Expired'],
  // Didit v3's KYB stage, where the applicant still has something to do: like In Progress.
  'Awaiting User': ['In Progress', 'Approved', 'Declined', 'In Review', 'Abandoned', 'Expired'],
  'In Review': ['Approved', 'Declined', 'Resubmitted'],
  Approved: ['Declined', 'In Review', 'Kyc Expired', 'Resubmitted'],
  Declined: ['Approved', 'In Review', 'Resubmitted'],
  Abandoned: ['In Review', 'Approved', 'Declined', 'Resubmitted'],
  'Kyc Expired': ['In Review', 'Approved', 'Declined', 'Resubmitted'],
  Expired: [],
  // Didit v3: the applicant goes through the verification again.
  Resubmitted: ['In Progress', 'Awaiting User'],
} satisfies Record<DiditStatus, readonly string[]>;

/**
 * For each status, every status that may come after it, in one move or several (a delivery in
 * between may have been lost). Only a move out of Resubmitted starts a new round, so a session
 * never goes back to an earlier stage unless Resubmitted itself was seen.
 */
const LATER: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  SESSION_STATUSES.map((from) => {
    const later = new Set<string>();
    const next = [...DIDIT_MOVES[from]!];
    while (next.length) {
      const status = next.pop()!;
      if (later.has(status)) continue;
      later.add(status);
      if (status !== 'Resubmitted') next.push(...DIDIT_MOVES[status]!);
    }
    later.delete(from);
    return [from, later];
  }),
);

/** True when `to` may follow `from` in one round; undefined when either status is not one Didit documents. */
export function mayFollow(from: string, to: string): boolean | undefined {
  const later = LATER.get(from);
  return later && LATER.has(to) ? later.has(to) : undefined;
}

/** One delivery (or reading) of a session's status. */
export interface Delivery {
  status: string;
  /** Unix seconds: Didit's, signed in the webhook body; for an `observed` status, the gateway's (for display only). */
  timestamp: number;
  /** Didit's event id (v3 deliveries), the same on every retry. */
  eventId?: string;
  /** Read from Didit by the gateway (after a change it made), not delivered: no Didit timestamp orders it. */
  observed?: boolean;
}

/** What is remembered of a session's deliveries. */
export interface Seen {
  /** The last status announced. */
  status: string;
  /** The newest Didit timestamp seen (0: none yet). */
  timestamp: number;
  /** The last status was read by the gateway, and no delivery of Didit's has been ordered after it. */
  observed: boolean;
  /** The newest deliveries' keys (event id, else status and timestamp): a retry of one is no news. */
  keys: readonly string[];
}

/** Delivery keys remembered per session. */
export const SEEN_KEYS = 16;

/** A delivery's identity: Didit's event id, else its status and signed timestamp. */
export function deliveryKey(delivery: Delivery): string {
  return delivery.eventId ?? `${delivery.timestamp}:${delivery.status}`;
}

/**
 * Whether `incoming` is news after what was seen, and what to remember then. The Redis script of
 * status-events.ts decides the same, with the table of `followsTable`.
 * - After `Deleted`, nothing; `Deleted` itself, once (only the gateway records it: a delivery that
 *   says Deleted is not believed, see webhooks.ts).
 * - A status the gateway read (`observed`): news when it is not the last one announced.
 * - A delivery: never one seen before (same key), never one stamped before the newest seen, never
 *   the last status again. Stamped later: news, whatever the move. At the same second, or after an
 *   observed status (no Didit timestamp orders the two): news only when Didit can move from the
 *   last status to it.
 */
export function decide(last: Seen | undefined, incoming: Delivery): { news: boolean; seen: Seen } {
  const key = deliveryKey(incoming);
  if (!last) {
    const seen = incoming.observed
      ? { status: incoming.status, timestamp: 0, observed: true, keys: [] }
      : { status: incoming.status, timestamp: incoming.timestamp, observed: false, keys: [key] };
    return { news: true, seen };
  }
  if (last.status === DELETED_STATUS) return { news: false, seen: last };
  if (incoming.status === DELETED_STATUS) return { news: true, seen: { ...last, status: DELETED_STATUS } };
  if (incoming.observed) {
    const news = incoming.status !== last.status;
    return { news, seen: news ? { ...last, status: incoming.status, observed: true } : last };
  }
  if (last.keys.includes(key) || incoming.timestamp < last.timestamp) return { news: false, seen: last };
  const keys = [...last.keys, key].slice(-SEEN_KEYS);
  // Didit confirms the status announced last, at its own time.
  if (incoming.status === last.status) return { news: false, seen: { ...last, timestamp: incoming.timestamp, observed: false, keys } };
  const unordered = incoming.timestamp === last.timestamp || last.observed;
  const news = !unordered || (mayFollow(last.status, incoming.status) ?? incoming.timestamp > last.timestamp);
  return { news, seen: news ? { status: incoming.status, timestamp: incoming.timestamp, observed: false, keys } : { ...last, keys } };
}

export function isNews(last: Seen | undefined, incoming: Delivery): boolean {
  return decide(last, incoming).news;
}

/**
 * `mayFollow(from, incoming)` as data for a script: for every documented status, "1" when
 * `incoming` may follow it, else "0", flattened (status, verdict, status, verdict...). Empty for an
 * undocumented `incoming`.
 */
export function followsTable(incoming: string): string[] {
  if (!LATER.has(incoming)) return [];
  return [...LATER.keys()].flatMap((from) => [from, mayFollow(from, incoming) ? '1' : '0']);
}
