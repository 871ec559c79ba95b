import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Caller } from './access.ts';

const WINDOW_MS = 60_000;
/** Callers tracked at once; the least recently seen are forgotten first. */
const TRACKED_CALLERS = 50_000;

export interface RateLimit {
  /** Counts one operation; RATE_LIMITED (with `retryAfter`, seconds) once over the limit. */
  take(caller: Caller | null, address: string | undefined): GraphQLError | null;
}

/**
 * At most `perMinute` operations per caller per minute window, counted per instance.
 * Authenticated callers are keyed by `sub`; a request without a token by its address.
 */
export function createRateLimit(perMinute: number): RateLimit {
  const windows = new LRUCache<string, { count: number; resetAt: number }>({ max: TRACKED_CALLERS, ttl: WINDOW_MS });
  return {
    take(caller, address) {
      const key = caller ? `sub:${caller.sub}` : `ip:${address ?? 'unknown'}`;
      const now = Date.now();
      let window = windows.get(key);
      if (!window || window.resetAt <= now) {
        window = { count: 0, resetAt: now + WINDOW_MS };
        windows.set(key, window);
      }
      window.count += 1;
      if (window.count <= perMinute) return null;
      const retryAfter = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
      return new GraphQLError('Too many requests; try again later', { extensions: { code: 'RATE_LIMITED', retryAfter } });
    },
  };
}
