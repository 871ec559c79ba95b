import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { DiditClient } from '../didit/port.ts';
import { DiditNotFoundError, DiditRateLimitedError, DiditUnavailableError } from '../didit/errors.ts';
import type { Decision } from '../didit/types.ts';
import type { CachedDecision, SharedDecisions } from './shared-decisions.ts';

export interface DecisionCacheOptions {
  /** Sessions held at once. A decision is a few kB: 5,000 of them stay well under 50 MB. */
  max: number;
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
   */
  get(sessionId: string, options?: { charge?: () => void | Promise<void> }): Promise<Decision>;
  /**
   * Forgets a session everywhere: in this process, in the shared level and in every other instance,
   * including "no such session" and copies kept for outages. For a change, a new session, and erasure.
   * Resolves once the shared copy is gone (or, Redis away, the drop is queued for its return); never rejects.
   */
  delete(sessionId: string): Promise<void>;
  /** How long the cached copy of a session stays fresh, in ms (0 or less: not cached). */
  remainingTtl(sessionId: string): number;
}

/**
 * Statuses that change only through a review (a mutation here, a webhook from Didit's console),
 * never on their own; both drop the cached copy. "In Review" is one: it ends by a review.
 */
/** How long one instance's read of a session holds the others off, and how often they look for its answer. */
const FLEET_READ_CLAIM_MS = 3000;
const FLEET_READ_POLL_MS = 50;

const FINAL = new Set(['Approved', 'Declined', 'In Review', 'Abandoned', 'Expired', 'Kyc Expired']);
/** "No such session" answers are few bytes; they are kept apart so they never push decisions out. */
const NOT_FOUND_MAX = 10_000;

type Outcome = 'shared' | 'miss' | 'stale';
interface Flight {
  /** No decision: Didit has no such session (as the shared level remembers). */
  promise: Promise<{ decision?: Decision; outcome: Outcome }>;
}

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
  const { ttlActiveMs, ttlFinalMs, notFoundTtlMs = 0, staleIfErrorMs = 0, shared, onLookup, onDelete, log } = options;
  // Entries outlive their freshness (up to `staleIfErrorMs`) to answer while Didit fails.
  const decisions = new LRUCache<string, CachedDecision & { decision: Decision }>({ max: options.max });
  const notFound = new LRUCache<string, true>({ max: Math.min(options.max, NOT_FOUND_MAX) });
  const inFlight = new Map<string, Flight>();

  shared?.store.onDrop((sessionId) => {
    if (sessionId !== undefined) return dropLocal(sessionId);
    for (const key of [...decisions.keys()]) dropLocal(key);
    notFound.clear();
    inFlight.clear();
  });

  function freshFor(decision: Decision, level: 'local' | 'shared'): number {
    const final = FINAL.has(decision.status);
    const ttl = !final ? ttlActiveMs : level === 'local' ? ttlFinalMs : shared!.ttlFinalMs;
    return Math.max(0, Math.min(ttl, options.maxTtlMs?.(decision) ?? Infinity));
  }

  function keepLocal(key: string, copy: CachedDecision) {
    const now = Date.now();
    if (!copy.decision) {
      // Gone from Didit (or never there): no old copy of it may answer for it any more.
      decisions.delete(key);
      if (copy.freshUntil > now) notFound.set(key, true, { ttl: copy.freshUntil - now });
      return;
    }
    notFound.delete(key);
    const keep = Math.max(copy.freshUntil, copy.fetchedAt + staleIfErrorMs) - now;
    if (keep > 0) decisions.set(key, { ...copy, decision: copy.decision }, { ttl: keep });
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
    const local = decisions.get(key);
    const copy = sharedCopy && (!local || sharedCopy.fetchedAt > local.fetchedAt) ? sharedCopy : local;
    return copy?.decision && Date.now() - copy.fetchedAt < staleIfErrorMs ? { decision: copy.decision, fetchedAt: copy.fetchedAt } : undefined;
  }

  function load(key: string, charge: (() => void | Promise<void>) | undefined): Flight {
    const flight = {} as Flight;
    // Dropped while under way (a change, or a new session): whatever this read learns is not kept.
    const current = () => inFlight.get(key) === flight;
    inFlight.set(key, flight);
    let claimed = false;
    flight.promise = (async () => {
      try {
        let generation: string | undefined;
        let sharedCopy: CachedDecision | undefined;
        if (shared) {
          // One instance of the fleet reads a session from Didit at a time: the others wait for
          // its answer in the shared level (and read Didit themselves if it does not come).
          const waitUntil = Date.now() + FLEET_READ_CLAIM_MS;
          for (;;) {
            const found = await shared.store.read(key);
            generation = found.generation;
            const copy = found.copy;
            if (copy && copy.freshUntil > Date.now()) {
              const localTtl = copy.decision ? freshFor(copy.decision, 'local') : notFoundTtlMs;
              if (current()) keepLocal(key, { ...copy, freshUntil: Math.min(copy.freshUntil, Date.now() + localTtl) });
              return { decision: copy.decision, outcome: 'shared' as const };
            }
            sharedCopy = copy;
            if (generation === undefined || Date.now() >= waitUntil) break;
            claimed = await shared.store.claim(key, FLEET_READ_CLAIM_MS);
            if (claimed) break;
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
          }
          decision = await didit.getDecision(key);
        } catch (error) {
          if (error instanceof DiditNotFoundError && current()) {
            const now = Date.now();
            const copy = { fetchedAt: now, freshUntil: now + notFoundTtlMs };
            keepLocal(key, copy);
            if (generation !== undefined && notFoundTtlMs > 0) await shared?.store.write(key, copy, generation, notFoundTtlMs);
          }
          // A session dropped meanwhile changed: its old copy must not answer.
          const stale = current() ? staleCopy(key, sharedCopy, error) : undefined;
          if (stale) {
            log?.debug({ reason: (error as Error & { code?: string }).code ?? 'refused', ageMs: Date.now() - stale.fetchedAt }, 'decision answered from a stale copy');
            return { decision: stale.decision, outcome: 'stale' as const };
          }
          throw charged ? new Refused(error) : error;
        }

        if (current()) {
          const now = Date.now();
          keepLocal(key, { decision, fetchedAt: now, freshUntil: now + freshFor(decision, 'local') });
          if (shared && generation !== undefined) {
            const fresh = freshFor(decision, 'shared');
            await shared.store.write(key, { decision, fetchedAt: now, freshUntil: now + fresh }, generation, Math.max(fresh, staleIfErrorMs));
          }
        }
        return { decision, outcome: 'miss' as const };
      } finally {
        if (current()) inFlight.delete(key);
        if (claimed) await shared?.store.release(key);
      }
    })();
    return flight;
  }

  async function join(key: string, charge: (() => void | Promise<void>) | undefined): Promise<Decision> {
    const pending = inFlight.get(key);
    let answer: Awaited<Flight['promise']>;
    try {
      answer = await (pending ?? load(key, charge)).promise;
    } catch (error) {
      // Refused by another caller's charge: this caller has not been refused, and asks again.
      if (pending && error instanceof Refused) return join(key, charge);
      onLookup?.('miss');
      throw error instanceof Refused ? error.error : error;
    }
    onLookup?.(answer.outcome);
    if (!answer.decision) throw new DiditNotFoundError();
    return answer.decision;
  }

  return {
    get(sessionId, getOptions) {
      const key = sessionId.toLowerCase();
      const hit = decisions.get(key);
      if (hit && hit.freshUntil > Date.now()) {
        onLookup?.('hit');
        return Promise.resolve(hit.decision);
      }
      if (notFound.has(key)) {
        onLookup?.('hit');
        return Promise.reject(new DiditNotFoundError());
      }
      return join(key, getOptions?.charge);
    },
    async delete(sessionId) {
      const key = sessionId.toLowerCase();
      dropLocal(key);
      await shared?.store.drop(key);
    },
    remainingTtl(sessionId) {
      const copy = decisions.peek(sessionId.toLowerCase());
      return copy ? copy.freshUntil - Date.now() : 0;
    },
  };
}
