import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { DiditClient } from '../didit/port.ts';
import { DiditNotFoundError, DiditRateLimitedError, DiditUnavailableError } from '../didit/errors.ts';
import type { Decision, Session } from '../domain/model.ts';
import { isFinal } from '../domain/status.ts';
import { createBackgroundReads, type BackgroundReads } from './background-reads.ts';
import type { CachedDecision, SharedDecisions } from './shared-decisions.ts';

/** `DECISION_MAX_AGE_MS`'s default: no answer rests on a copy Didit has not confirmed for longer. */
export const DEFAULT_DECISION_MAX_AGE_MS = 300_000;

export interface DecisionCacheOptions {
  /** Sessions held at once. A decision is a few kB: 5,000 of them stay well under 50 MB. */
  max: number;
  /**
   * `DECISION_MAX_AGE_MS`: no copy answers as fresh once Didit has not confirmed it for this long,
   * whatever webhooks did (they may be lost). Past half of it, a read answered from the copy
   * revalidates it behind the answer (stale-while-revalidate). Default 300000.
   */
  maxAgeMs?: number;
  /**
   * Without a shared level, whether this instance hears the fleet's changes (status events through
   * Redis): as `SharedDecisions.listening`. Default: always (one instance, nothing to miss).
   */
  fleetLink?: () => number | undefined;
  /**
   * v3: `reconcile` runs every quarter of the age bound, so a copy read past half of it waits for
   * the list's round, and is read alone only past three quarters.
   */
  reconciling?: boolean;
  /** The path of every revalidation read (default: straight to the client, uncharged). */
  background?: BackgroundReads;
  /**
   * Didit answered "no such session" for a session a copy of which was kept: it was deleted at
   * Didit (console, retention, batch delete: no webhook tells). Erase it everywhere.
   */
  onGone?: (sessionId: string) => void;
  /**
   * Didit holds another status than a kept copy said, learnt by a read or its session list rather
   * than a webhook (one that never came): subscribers must hear it too.
   */
  onChanged?: (sessionId: string, status: string) => void;
  /** A session still moving may change any moment: serve it from cache only briefly (0: never). */
  ttlActiveMs: number;
  /** A finished session changes only through a review or a webhook, which drop its entry. */
  ttlFinalMs: number;
  /** How long Didit's "no such session" is believed, so made-up ids cost Didit one read (0: never). */
  notFoundTtlMs?: number;
  /**
   * How old a copy may be and still answer while Didit is down or limiting us (0: never). Better a
   * status from a while ago than an error; a webhook or a review drops the copy at once.
   */
  staleIfErrorMs?: number;
  /** The level shared by every instance (Redis), behind this process's own. */
  shared?: {
    store: SharedDecisions;
    /** Freshness of a finished session there; an active one stays `ttlActiveMs` fresh. */
    ttlFinalMs: number;
  };
  /**
   * An upper bound on a decision's freshness, e.g. until the first presigned media URL in it
   * expires (Didit's v3 decisions carry some). Undefined: no bound.
   */
  maxTtlMs?: (decision: Decision) => number | undefined;
  /** Told how each read was answered: in-process ('hit'), from the shared level ('shared'), by Didit ('miss'), or with an old copy while Didit failed ('stale'). */
  onLookup?: (outcome: 'hit' | 'shared' | 'miss' | 'stale') => void;
  /** Told when a session is dropped (it changed), so that whatever was made from it goes too. */
  onDelete?: (sessionId: string) => void;
  log?: Logger;
}

export interface DecisionCache {
  /**
   * Didit's raw decision for a session: cached, or fetched once however many ask at the same time.
   * `charge` runs right before Didit is asked (not for a cached answer, nor for a read already under
   * way); a throw refuses the read, and the error is handled like Didit's own (a stale copy answers a
   * `DiditRateLimitedError` or `DiditUnavailableError`; otherwise it is thrown).
   * `background`: a read nobody asked for (a webhook's re-read): it waits for a background turn of
   * Didit's budget before it becomes the session's read (see background-reads.ts), never charged.
   */
  get(sessionId: string, options?: { charge?: () => void | Promise<void>; background?: boolean }): Promise<Decision>;
  /**
   * Forgets a session everywhere: in this process, in the shared level and in every other instance,
   * including "no such session" and copies kept for outages. For a change, a new session, and erasure.
   * Resolves once the shared copy is gone (or, Redis away, the drop is queued for its return); never rejects.
   */
  delete(sessionId: string): Promise<void>;
  /** This instance only: a change another instance has already dropped fleet-wide (a status event). */
  forget(sessionId: string): void;
  /** This instance only, every session: it may have missed changes (its link to the fleet was lost). */
  forgetAll(): void;
  /** How long the cached copy of a session stays fresh, in ms (0 or less: not cached). */
  remainingTtl(sessionId: string): number;
  /** When Didit last confirmed this decision as this cache answered it (ms since epoch). */
  confirmedAt(decision: Decision): number | undefined;
  /**
   * v3: confirms the copies due for revalidation with pages of Didit's session list (one call
   * confirms up to 100): a copy whose status Didit still lists is confirmed, one whose status
   * differs is dropped everywhere, one missing from the whole list is read alone (a 404 erases it).
   */
  reconcile(): Promise<{ due: number; confirmed: number; dropped: number; listCalls: number }>;
}

/** How long one instance's read of a session holds the others off, and how often they look for its answer. */
const FLEET_READ_CLAIM_MS = 3000;
const FLEET_READ_POLL_MS = 50;

/**
 * Didit's list confirms a copy's status and name, not every field: it renews a copy for at most
 * this many age bounds after the whole decision was read; then the copy expires and is read again.
 */
const LIST_RENEWALS = 4;
const REVALIDATE_AT_MOST_EVERY_MS = 1000;
/** Pages of Didit's session list one reconciliation round reads at most (100 rows each). */
const RECONCILE_MAX_PAGES = 10;
const PAGE_SIZE = 100;
/** "No such session" answers are few bytes; they are kept apart so they never push decisions out. */
const NOT_FOUND_MAX = 10_000;

type Outcome = 'shared' | 'miss' | 'stale';
interface Flight {
  /** No decision: Didit has no such session (as the shared level remembers). */
  promise: Promise<{ decision?: Decision; outcome: Outcome; confirmedAt?: number }>;
}
/**
 * A copy kept in this process. `epoch` is the shared level's link to the fleet when it was stored:
 * a copy stored before this instance lost Redis (and so may have missed a drop) never answers.
 */
type Entry = CachedDecision & { decision: Decision; epoch: number };

/** Someone's `charge` refused the read: their answer, not necessarily the others' waiting on it. */
class Refused {
  constructor(readonly error: unknown) {}
}

/**
 * Holds Didit's raw answers across requests, keyed by session id alone. That is safe because
 * nothing here is shaped for a caller: who may see a session, and which parts, is decided per
 * request after the cache (see `access.ts`).
 *
 * Two levels: this process's LRU in front, and optionally a shared one (Redis) behind it, so that a
 * fleet reads a session from Didit once while it does not change.
 */
export function createDecisionCache(didit: DiditClient, options: DecisionCacheOptions): DecisionCache {
  const { ttlActiveMs, ttlFinalMs, notFoundTtlMs = 0, staleIfErrorMs = 0, shared, onLookup, onDelete, onGone, onChanged, log } = options;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_DECISION_MAX_AGE_MS;
  /** Copies are due for revalidation past half their bound; read alone, when listed in bulk, past three quarters. */
  const refreshAfterMs = maxAgeMs / 2;
  const readAloneAfterMs = options.reconciling ? (maxAgeMs * 3) / 4 : refreshAfterMs;
  const background = options.background ?? createBackgroundReads(didit);
  // Entries outlive their freshness (up to `staleIfErrorMs`) to answer while Didit fails.
  const decisions = new LRUCache<string, Entry>({ max: options.max });
  /** "No such session", with the fleet link it was stored under. */
  const notFound = new LRUCache<string, number>({ max: Math.min(options.max, NOT_FOUND_MAX) });
  const inFlight = new Map<string, Flight>();
  const confirmations = new WeakMap<Decision, number>();
  /** Sessions revalidated in the last second: a failing Didit is not asked again on every hit. */
  const revalidated = new LRUCache<string, true>({ max: options.max, ttl: REVALIDATE_AT_MOST_EVERY_MS });

  function dropAll() {
    for (const key of [...decisions.keys()]) dropLocal(key);
    notFound.clear();
    inFlight.clear();
  }
  shared?.store.onDrop((sessionId) => (sessionId === undefined ? dropAll() : dropLocal(sessionId)));

  /**
   * The fleet link copies are stored under: 0 without a shared level (nothing to miss); with one,
   * its current epoch while it hears drops, undefined while it may be missing some.
   */
  const link = (): number | undefined => (shared ? shared.store.listening() : (options.fleetLink?.() ?? 0));
  const usable = <T extends { epoch: number }>(entry: T | undefined): T | undefined => (entry && entry.epoch === link() ? entry : undefined);

  function freshFor(decision: Decision, level: 'local' | 'shared'): number {
    const final = isFinal(decision.status);
    const ttl = Math.min(!final ? ttlActiveMs : level === 'local' ? ttlFinalMs : shared!.ttlFinalMs, maxAgeMs);
    // Not kept (TTL 0): the walk of the decision for its media links' lifetime would change nothing.
    if (ttl <= 0 || !options.maxTtlMs) return Math.max(0, ttl);
    return Math.max(0, Math.min(ttl, options.maxTtlMs(decision) ?? Infinity));
  }

  function confirmed(decision: Decision, at: number): Decision {
    confirmations.set(decision, Math.max(at, confirmations.get(decision) ?? 0));
    return decision;
  }

  function keepLocal(key: string, copy: CachedDecision) {
    const now = Date.now();
    const epoch = link();
    // Deaf to the fleet's drops (Redis lost): nothing is kept that could outlive a missed one.
    if (epoch === undefined) return void dropLocal(key);
    if (!copy.decision) {
      // Gone from Didit (or never there): no old copy of it may answer for it any more.
      decisions.delete(key);
      if (copy.freshUntil > now) notFound.set(key, epoch, { ttl: copy.freshUntil - now });
      return;
    }
    notFound.delete(key);
    // Never fresh past the age bound, whatever level the copy came from.
    const freshUntil = Math.min(copy.freshUntil, copy.fetchedAt + maxAgeMs);
    const keep = Math.max(freshUntil, copy.fetchedAt + staleIfErrorMs) - now;
    confirmed(copy.decision, copy.fetchedAt);
    if (keep > 0) decisions.set(key, { ...copy, freshUntil, decision: copy.decision, epoch }, { ttl: keep });
  }

  function dropLocal(key: string) {
    decisions.delete(key);
    notFound.delete(key);
    inFlight.delete(key);
    onDelete?.(key);
  }

  /** The newest copy of a session that may answer while Didit fails with `error`, if any. */
  function staleCopy(key: string, sharedCopy: CachedDecision | undefined, error: unknown) {
    if (!(error instanceof DiditUnavailableError || error instanceof DiditRateLimitedError)) return undefined;
    // An instance that may have missed a drop never answers from its own copies (see `keepLocal`).
    const local = usable(decisions.get(key));
    const copy = sharedCopy && (!local || sharedCopy.fetchedAt > local.fetchedAt) ? sharedCopy : local;
    return copy?.decision && Date.now() - copy.fetchedAt < staleIfErrorMs ? { decision: copy.decision, fetchedAt: copy.fetchedAt } : undefined;
  }

  /** Reads the session again behind an answer given from its copy (stale-while-revalidate). */
  function revalidate(key: string) {
    if (inFlight.has(key) || revalidated.has(key)) return;
    revalidated.set(key, true);
    join(key, undefined, true, false).catch((error: unknown) => {
      log?.debug({ reason: (error as Error & { code?: string })?.code ?? 'failed' }, 'revalidating a decision failed; the copy expires at its age bound');
    });
  }

  function refreshIfAging(key: string, confirmedAt: number | undefined) {
    if (confirmedAt !== undefined && Date.now() - confirmedAt >= readAloneAfterMs) setImmediate(revalidate, key);
  }

  /**
   * One read of a session for everyone asking meanwhile. A `background` read (its turn already
   * given, see `join`) goes through the background path and takes no shared copy as old as the one
   * it renews.
   */
  function load(key: string, charge: (() => void | Promise<void>) | undefined, isBackground = false): Flight {
    const flight = {} as Flight;
    // Dropped while under way (a change, or a new session): whatever this read learns is not kept.
    const current = () => inFlight.get(key) === flight;
    /** The answer a fresh copy of the shared level gives (kept here too), if it is fresh. */
    const sharedAnswer = (copy: CachedDecision | undefined) => {
      const now = Date.now();
      if (!copy || copy.freshUntil <= now || now - copy.fetchedAt >= (isBackground ? refreshAfterMs : maxAgeMs)) return undefined;
      const localTtl = copy.decision ? freshFor(copy.decision, 'local') : notFoundTtlMs;
      if (current()) keepLocal(key, { ...copy, freshUntil: Math.min(copy.freshUntil, now + localTtl) });
      return { decision: copy.decision && confirmed(copy.decision, copy.fetchedAt), outcome: 'shared' as const, confirmedAt: copy.fetchedAt };
    };
    inFlight.set(key, flight);
    let claim: string | undefined;
    flight.promise = (async () => {
      try {
        let generation: string | undefined;
        let sharedCopy: CachedDecision | undefined;
        // The shared level is read even while this instance may be missing drops: a drop deletes
        // the copy in Redis itself, so what Redis holds is what no drop has removed.
        if (shared) {
          // One instance of the fleet reads a session from Didit at a time: the others wait for
          // its answer in the shared level (and read Didit themselves if it does not come).
          const waitUntil = Date.now() + FLEET_READ_CLAIM_MS;
          for (;;) {
            const found = await shared.store.read(key);
            generation = found.generation;
            const answer = sharedAnswer(found.copy);
            if (answer) return answer;
            sharedCopy = found.copy;
            if (generation === undefined || Date.now() >= waitUntil) break;
            claim = await shared.store.claim(key, FLEET_READ_CLAIM_MS);
            if (claim !== undefined) break;
            await new Promise((resolve) => setTimeout(resolve, FLEET_READ_POLL_MS));
          }
        }

        let decision: Decision;
        let charged = false;
        try {
          if (charge) {
            charged = true;
            await charge();
            charged = false;
            // Another instance's read (one waited for past its claim, or one that went ahead of
            // this claim) may have answered while this one waited for its turn: then Didit is not
            // asked twice.
            if (shared && generation !== undefined) {
              const answer = sharedAnswer((await shared.store.read(key)).copy);
              if (answer) return answer;
            }
          }
          decision = await (isBackground ? background.decision(key) : didit.getDecision(key));
        } catch (error) {
          if (error instanceof DiditNotFoundError) {
            // A copy was kept: Didit deleted the session since. Erased everywhere, as `deleteSession` does.
            const held = decisions.peek(key)?.decision ?? sharedCopy?.decision;
            if (current()) {
              const now = Date.now();
              const copy = { fetchedAt: now, freshUntil: now + notFoundTtlMs };
              keepLocal(key, copy);
              if (generation !== undefined && notFoundTtlMs > 0) await shared?.store.write(key, copy, generation, notFoundTtlMs);
            }
            if (held) {
              log?.info('a kept session is gone from Didit; erasing it everywhere');
              onGone?.(key);
            }
          }
          // A session dropped meanwhile changed: its old copy must not answer.
          const stale = current() ? staleCopy(key, sharedCopy, error) : undefined;
          if (stale) {
            log?.debug({ reason: (error as Error & { code?: string }).code ?? 'refused', ageMs: Date.now() - stale.fetchedAt }, 'decision answered from a stale copy');
            return { decision: confirmed(stale.decision, stale.fetchedAt), outcome: 'stale' as const, confirmedAt: stale.fetchedAt };
          }
          throw charged ? new Refused(error) : error;
        }

        const now = Date.now();
        confirmed(decision, now);
        // Only a copy still current can be compared: a dropped one was dropped for a change already announced.
        const held = current() ? (decisions.peek(key)?.decision ?? sharedCopy?.decision) : undefined;
        if (held && held.status !== decision.status) onChanged?.(key, decision.status);
        if (current()) {
          keepLocal(key, { decision, fetchedAt: now, freshUntil: now + freshFor(decision, 'local') });
          if (shared && generation !== undefined) {
            const fresh = freshFor(decision, 'shared');
            await shared.store.write(key, { decision, fetchedAt: now, freshUntil: now + fresh }, generation, Math.max(fresh, staleIfErrorMs));
          }
        }
        return { decision, outcome: 'miss' as const, confirmedAt: now };
      } finally {
        if (current()) inFlight.delete(key);
        if (claim !== undefined) await shared?.store.release(key, claim);
      }
    })();
    return flight;
  }

  /**
   * Everyone's read of a session: the one in flight, or a new one. A `background` read first waits
   * for its turn at the budget's lowest level OUTSIDE the flight (holding no fleet claim), so that a
   * caller who asks meanwhile reads at its own level rather than behind it; once it has its turn it
   * joins whatever read is under way then, or makes one that renews even a fairly fresh shared copy.
   */
  async function join(key: string, charge: (() => void | Promise<void>) | undefined, isBackground = false, count = true): Promise<Decision> {
    if (isBackground && !inFlight.has(key)) {
      const asked = Date.now();
      await background.turn();
      // Renewed while it waited (a caller read it): nothing left to do.
      const kept = usable(decisions.peek(key));
      if (kept && kept.fetchedAt >= asked && kept.freshUntil > Date.now()) return kept.decision;
    }
    const pending = inFlight.get(key);
    let answer: Awaited<Flight['promise']>;
    try {
      answer = await (pending ?? load(key, charge, isBackground)).promise;
    } catch (error) {
      // Refused by another caller's charge: this caller has not been refused, and asks again.
      if (pending && error instanceof Refused) return join(key, charge, isBackground, count);
      if (count) onLookup?.('miss');
      throw error instanceof Refused ? error.error : error;
    }
    if (count) onLookup?.(answer.outcome);
    if (!answer.decision) throw new DiditNotFoundError();
    if (answer.outcome === 'shared') refreshIfAging(key, answer.confirmedAt);
    return answer.decision;
  }

  /** Confirms a kept copy Didit's list still shows as it is, in this process and the shared level. */
  async function confirm(key: string, entry: Entry, at: number, generation: string | undefined) {
    if (decisions.peek(key) !== entry) return;
    const readAt = entry.readAt ?? entry.fetchedAt;
    // Never fresh past LIST_RENEWALS bounds after the whole decision was read.
    const until = (level: 'local' | 'shared') => Math.min(at + freshFor(entry.decision, level), readAt + LIST_RENEWALS * maxAgeMs);
    keepLocal(key, { decision: entry.decision, fetchedAt: at, readAt, freshUntil: until('local') });
    if (shared && generation !== undefined) {
      const fresh = until('shared') - at;
      await shared.store.write(key, { decision: entry.decision, fetchedAt: at, readAt, freshUntil: at + fresh }, generation, Math.max(fresh, staleIfErrorMs));
    }
  }

  const cache: DecisionCache = {
    get(sessionId, getOptions) {
      const key = sessionId.toLowerCase();
      const hit = usable(decisions.get(key));
      if (hit && hit.freshUntil > Date.now()) {
        onLookup?.('hit');
        refreshIfAging(key, hit.fetchedAt);
        return Promise.resolve(confirmed(hit.decision, hit.fetchedAt));
      }
      const gone = notFound.get(key);
      if (gone !== undefined && gone === link()) {
        onLookup?.('hit');
        return Promise.reject(new DiditNotFoundError());
      }
      return join(key, getOptions?.charge, getOptions?.background);
    },
    async delete(sessionId) {
      const key = sessionId.toLowerCase();
      dropLocal(key);
      await shared?.store.drop(key);
    },
    forget(sessionId) {
      dropLocal(sessionId.toLowerCase());
    },
    forgetAll: dropAll,
    remainingTtl(sessionId) {
      const copy = usable(decisions.peek(sessionId.toLowerCase()));
      // Answers made from a copy live only until it is due for revalidation, so that a repeated
      // query reaches the copy then and renews it behind its answer.
      return copy ? Math.min(copy.freshUntil, copy.fetchedAt + refreshAfterMs) - Date.now() : 0;
    },
    confirmedAt: (decision) => confirmations.get(decision),
    async reconcile() {
      const result = { due: 0, confirmed: 0, dropped: 0, listCalls: 0 };
      if (didit.api !== 'v3') return result;
      const now = Date.now();
      const due = new Map<string, Entry>();
      for (const [key, entry] of decisions.entries()) {
        const renewable = now - (entry.readAt ?? entry.fetchedAt) < LIST_RENEWALS * maxAgeMs;
        if (usable(entry) && renewable && now - entry.fetchedAt >= refreshAfterMs && !inFlight.has(key)) due.set(key, entry);
      }
      result.due = due.size;
      if (due.size === 0) return result;
      // Generations read before the list: a drop after them refuses the confirmation's write.
      const generations = new Map<string, string | undefined>();
      if (shared) await Promise.all([...due.keys()].map(async (key) => generations.set(key, (await shared.store.read(key)).generation)));
      const dateFrom = oldestDay([...due.values()].map((entry) => entry.decision.createdAt));
      const listedAt = Date.now();
      const rows = new Map<string, Session>();
      let complete = false;
      for (let offset = 0; result.listCalls < RECONCILE_MAX_PAGES; ) {
        const page = await background.sessions(dateFrom ? { dateFrom } : {}, { limit: PAGE_SIZE, offset });
        result.listCalls += 1;
        for (const row of page.results) {
          const key = row.id.toLowerCase();
          if (due.has(key)) rows.set(key, row);
        }
        offset += page.results.length;
        if (page.results.length === 0 || offset >= page.count) {
          complete = true;
          break;
        }
        if (rows.size === due.size) break;
      }
      for (const [key, entry] of due) {
        const row = rows.get(key);
        if (row && listedAsKept(row, entry.decision)) {
          await confirm(key, entry, listedAt, generations.get(key));
          result.confirmed += 1;
        } else if (row) {
          // Didit lists another status (or name) than the copy: it changed without a webhook.
          await cache.delete(key);
          result.dropped += 1;
          if (row.status !== entry.decision.status) onChanged?.(key, row.status);
        } else if (complete) {
          // Missing from Didit's whole list: most likely deleted. Read it alone (a 404 erases it).
          revalidate(key);
        }
      }
      return result;
    },
  };
  return cache;
}

/**
 * Whether Didit's list row says what the kept decision says: its status, and the name on the
 * document when both tell one (the row's document type is a short code, not comparable).
 */
function listedAsKept(row: Session, decision: Decision): boolean {
  if (row.status !== decision.status) return false;
  const kept = decision.kyc?.fullName;
  return !row.fullName || !kept || row.fullName === kept;
}

/** The earliest day (YYYY-MM-DD, UTC) of these creation times, or undefined if one is unknown. */
function oldestDay(createdAt: Array<string | null | undefined>): string | undefined {
  let oldest = Infinity;
  for (const text of createdAt) {
    const time = text ? Date.parse(text) : NaN;
    if (!Number.isFinite(time)) return undefined;
    oldest = Math.min(oldest, time);
  }
  return Number.isFinite(oldest) ? new Date(oldest).toISOString().slice(0, 10) : undefined;
}
