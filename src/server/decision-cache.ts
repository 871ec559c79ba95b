import { LRUCache } from 'lru-cache';
import type { DiditClient } from '../didit/client.ts';
import type { Decision } from '../didit/types.ts';

/** Sessions cached at once. A decision is a few kB: 5,000 of them stay well under 50 MB. */
export const DECISION_CACHE_MAX = 5000;
/** A session still moving may change any moment: serve it from cache only briefly. */
export const DECISION_TTL_ACTIVE_MS = 2000;
/** A finished session changes only through a review, which drops its entry. */
export const DECISION_TTL_FINAL_MS = 60_000;

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
export function createDecisionCache(didit: DiditClient, options: { ttlActiveMs?: number; ttlFinalMs?: number; max?: number } = {}): DecisionCache {
  const ttlActive = options.ttlActiveMs ?? DECISION_TTL_ACTIVE_MS;
  const ttlFinal = options.ttlFinalMs ?? DECISION_TTL_FINAL_MS;
  const cache = new LRUCache<string, Decision>({ max: options.max ?? DECISION_CACHE_MAX, ttl: ttlFinal });
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
