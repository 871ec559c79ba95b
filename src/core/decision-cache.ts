import { LRUCache } from 'lru-cache';
import type { DiditClient } from '../didit/client.ts';
import { DiditRateLimitedError, DiditUnavailableError } from '../didit/errors.ts';
import type { Decision } from '../didit/types.ts';

export interface DecisionCacheOptions {
  /** Sessions held at once. A decision is a few kB: 5,000 of them stay well under 50 MB. */
  max: number;
  /** A session still moving may change any moment: serve it from cache only briefly (0: never). */
  ttlActiveMs: number;
  /** A finished session changes only through a review or a webhook, which drop its entry. */
  ttlFinalMs: number;
  /** Told whether each read was a hit, a miss, or a stale copy served while Didit failed. */
  onLookup?: (outcome: 'hit' | 'miss' | 'stale') => void;
  /** Told when a session is dropped (it changed), so that whatever was made from it goes too. */
  onDelete?: (sessionId: string) => void;
}

/**
 * How old a copy may be and still answer while Didit is down or limiting us. Better a status
 * from a few minutes ago than an error; a webhook or a review still drops it at once.
 */
const STALE_IF_ERROR_MS = 10 * 60_000;

const FINAL = new Set(['Approved', 'Declined', 'In Review', 'Abandoned', 'Expired', 'Kyc Expired']);

export interface DecisionCache {
  /**
   * Didit's raw decision for a session: cached, or fetched once however many ask at the same time.
   * `charge` is called right before a read is really sent to Didit (not for a hit, nor for joining
   * a read under way); if it throws, nothing is sent and this caller alone gets its error.
   */
  get(sessionId: string, options?: { charge?: () => void | Promise<void> }): Promise<Decision>;
  /** Forgets a session after it changed; a read already under way is not cached. */
  delete(sessionId: string): void;
  /** How long the cached copy of a session stays fresh, in ms (0 or less: not cached). */
  remainingTtl(sessionId: string): number;
}

interface Entry {
  decision: Decision;
  fetchedAt: number;
}

/**
 * Holds Didit's raw answers across requests, keyed by session id alone. That is safe because
 * nothing here is shaped for a caller: who may see a session, and which parts, is decided per
 * request after the cache (see `access.ts`).
 */
export function createDecisionCache(didit: DiditClient, options: DecisionCacheOptions): DecisionCache {
  const { ttlActiveMs: ttlActive, ttlFinalMs: ttlFinal, onLookup, onDelete } = options;
  // Expired entries stay (until evicted) so that they can answer while Didit fails.
  const cache = new LRUCache<string, Entry>({ max: options.max, noDeleteOnStaleGet: true });
  const inFlight = new Map<string, Promise<Decision>>();

  function fetch(key: string): Promise<Decision> {
    const read: Promise<Decision> = didit
      .getDecision(key)
      .then(
        (decision) => {
          // Cache only if nobody dropped the session while this read was under way.
          if (inFlight.get(key) === read) {
            const ttl = FINAL.has(decision.status) ? ttlFinal : ttlActive;
            if (ttl > 0) cache.set(key, { decision, fetchedAt: Date.now() }, { ttl });
          }
          return decision;
        },
        (error: unknown) => {
          const stale = cache.get(key, { allowStale: true });
          const usable = error instanceof DiditUnavailableError || error instanceof DiditRateLimitedError;
          if (usable && stale && Date.now() - stale.fetchedAt < STALE_IF_ERROR_MS) {
            onLookup?.('stale');
            return stale.decision;
          }
          throw error;
        },
      )
      .finally(() => {
        if (inFlight.get(key) === read) inFlight.delete(key);
      });
    inFlight.set(key, read);
    return read;
  }

  return {
    get(sessionId, options) {
      const key = sessionId.toLowerCase();
      const hit = cache.get(key);
      if (hit) {
        onLookup?.('hit');
        return Promise.resolve(hit.decision);
      }
      onLookup?.('miss');
      const charge = options?.charge;
      if (!charge || inFlight.has(key)) return inFlight.get(key) ?? fetch(key);
      // Another request may have started or finished the read while this one was charged: join it.
      return Promise.resolve().then(charge).then(() => cache.get(key)?.decision ?? inFlight.get(key) ?? fetch(key));
    },
    delete(sessionId) {
      const key = sessionId.toLowerCase();
      cache.delete(key);
      inFlight.delete(key);
      onDelete?.(key);
    },
    remainingTtl: (sessionId) => cache.getRemainingTTL(sessionId.toLowerCase()),
  };
}
