/**
 * Whether a webhook delivery tells something new about a session, decided by Didit's documented
 * status moves rather than by timestamps alone: Didit stamps deliveries in whole seconds, and a
 * retried delivery can arrive after later ones, so "In Progress" must never replace "Approved",
 * whatever its timestamp.
 */

/** The moves Didit documents, from one status to the next; any may end in the gateway's own `Deleted` (an erasure). */
const DIDIT_MOVES: Record<string, readonly string[]> = {
  'Not Started': ['In Progress', 'Awaiting User', 'Expired'],
  'In Progress': ['Awaiting User', 'Approved', 'Declined', 'In Review', 'Abandoned'],
  // Didit v3's KYB stage, where the applicant still has something to do: like In Progress.
  'Awaiting User': ['In Progress', 'Approved', 'Declined', 'In Review', 'Abandoned'],
  'In Review': ['Approved', 'Declined', 'Resubmitted'],
  // A reviewer's update-status may decide again: Approved <-> Declined.
  Approved: ['Declined', 'Kyc Expired', 'Resubmitted'],
  Declined: ['Approved', 'Resubmitted'],
  Abandoned: ['Resubmitted'],
  'Kyc Expired': ['Resubmitted'],
  Expired: [],
  // Didit v3: the applicant goes through the verification again.
  Resubmitted: ['In Progress', 'Awaiting User'],
};
const MOVES: Record<string, readonly string[]> = {
  ...Object.fromEntries(Object.entries(DIDIT_MOVES).map(([from, to]) => [from, [...to, 'Deleted']])),
  Deleted: [],
};

/**
 * For each status, every status that may come after it, in one move or several (a webhook in
 * between may have been lost). Only a move out of Resubmitted starts a new round, so a session
 * never goes back to an earlier stage unless Resubmitted itself was seen.
 */
const LATER: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.keys(MOVES).map((from) => {
    const later = new Set<string>();
    const next = [...MOVES[from]!];
    while (next.length) {
      const status = next.pop()!;
      if (later.has(status)) continue;
      later.add(status);
      if (status !== 'Resubmitted') next.push(...MOVES[status]!);
    }
    later.delete(from);
    return [from, later];
  }),
);

/** True when `to` may follow `from`; undefined when either status is not one Didit documents. */
export function mayFollow(from: string, to: string): boolean | undefined {
  const later = LATER.get(from);
  return later && LATER.has(to) ? later.has(to) : undefined;
}

export interface Delivery {
  status: string;
  /** Unix seconds, from the webhook body. */
  timestamp: number;
}

/**
 * Whether `incoming` is news after `last`, the newest delivery seen for the session: never the
 * same status again, never one stamped earlier; between documented statuses, only a documented
 * move (several in a row included); with a status Didit may add later, a later timestamp.
 * The Redis script of status-events.ts decides the same, with the table of `followsTable`.
 */
export function isNews(last: Delivery | undefined, incoming: Delivery): boolean {
  if (!last) return true;
  // An erasure ends a session whatever was stamped before it (a clock ahead of ours included).
  if (incoming.status === 'Deleted') return last.status !== 'Deleted';
  if (last.status === incoming.status || incoming.timestamp < last.timestamp) return false;
  return mayFollow(last.status, incoming.status) ?? incoming.timestamp > last.timestamp;
}

/**
 * `isNews` as data for a script: for every documented status, "1" when `incoming` may follow it,
 * else "0", flattened (status, verdict, status, verdict...). Empty for an undocumented `incoming`.
 */
export function followsTable(incoming: string): string[] {
  if (!LATER.has(incoming)) return [];
  return [...LATER.keys()].flatMap((from) => [from, mayFollow(from, incoming) ? '1' : '0']);
}
