import type { GraphQLError } from 'graphql';
import type { RateBuckets } from '../didit/rate-buckets.ts';
import type { Caller } from './access.ts';
import { pseudonym, rateLimited } from './budget.ts';

export interface RateLimit {
  /** Counts one operation; RATE_LIMITED (`retryAfter` in seconds, `limit: "caller"`) once over the limit. */
  take(caller: Caller | null, address: string | undefined): Promise<GraphQLError | null>;
}

/**
 * At most `perMinute` operations per caller: that many at once, refilled at `perMinute` a minute,
 * counted for the whole fleet when the buckets are (Redis). The upstream calls an operation causes
 * are charged apart (`budget.ts`). Authenticated callers are keyed by `sub`, a request without a
 * token by its address, both hashed.
 */
export function createRateLimit(perMinute: number, buckets: RateBuckets): RateLimit {
  return {
    async take(caller, address) {
      const who = pseudonym(caller ? `sub:${caller.sub}` : `ip:${address ?? 'unknown'}`);
      const turn = await buckets.take([{ key: `operations:${who}`, limit: perMinute, shape: 'refill' }], 0);
      return turn.ok ? null : rateLimited('Too many requests; try again later', turn.retryAfterMs, 'caller');
    },
  };
}
