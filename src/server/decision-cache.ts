import { LRUCache } from 'lru-cache';
import type { DiditClient } from '../didit/client.ts';
import type { Decision } from '../didit/types.ts';

export interface DecisionCacheOptions {
  /** Sessions held at once. A decision is a few kB: 5,000 of them stay well under 50 MB. */
  max: number;
  /** A session still moving may change any moment: serve it from cache only briefly (0: never). */
  ttlActiveMs: number;
  /** A finished session changes only through a review or a webhook, which drop its entry. */
  ttlFinalMs: number;
}

const FINAL = new Set(['Approved', 'Declined', 'In Review', 'Abandoned', 'Expired', 'Kyc Expired']);

export interface DecisionCache {
  /** Didit's raw decision for a session: cached, or fetched once however many ask at the same time. */
  get(sessionId: string): Promise<Decision>;
  /** Forgets a session after it changed; a read already under way is not cached. */
  delete(sessionId: string): void;
}

/**
 * Holds Didit's raw answers across requests, keyed by session id alone. That is safe because
 * nothing here is shaped for a caller: who may see a session, and which parts, is decided per
 * request after the cache (see `access.ts`).
 */
export function createDecisionCache(didit: DiditClient, options: DecisionCacheOptions): DecisionCache {
  const { ttlActiveMs: ttlActive, ttlFinalMs: ttlFinal } = options;
  const cache = new LRUCache<string, Decision>({ max: options.max });
  const inFlight = new Map<string, Promise<Decision>>();

  return {
    get(sessionId) {
      const key = sessionId.toLowerCase();
      const hit = cache.get(key);
      if (hit) return Promise.resolve(hit);
      const pending = inFlight.get(key);
      if (pending) return pending;
      const read: Promise<Decision> = didit
        .getDecision(key)
        .then((decision) => {
          // Cache only if nobody dropped the session while this read was under way.
          if (inFlight.get(key) === read) {
            const ttl = FINAL.has(decision.status) ? ttlFinal : ttlActive;
            if (ttl > 0) cache.set(key, decision, { ttl });
          }
          return decision;
        })
        .finally(() => {
          if (inFlight.get(key) === read) inFlight.delete(key);
        });
      inFlight.set(key, read);
      return read;
    },
    delete(sessionId) {
      const key = sessionId.toLowerCase();
      cache.delete(key);
      inFlight.delete(key);
    },
  };
}
