import { LRUCache } from 'lru-cache';
import type { Bucket, RateBuckets } from '../didit/rate-buckets.ts';
import type { Caller } from './access.ts';
import { pseudonym } from './budget.ts';
import { RateLimited } from './errors.ts';

export interface RateLimit {
  /** Counts one operation; RATE_LIMITED (`retryAfter` in seconds, `limit: "caller"`) once over the limit. */
  take(caller: Caller | null, address: string | undefined): Promise<RateLimited | null>;
}

/** A lease is a twentieth of the limit (RATE_LIMIT_PER_MINUTE 600: 30 operations)... */
const LEASE_SHARE = 20;
/** ...and never more than this, so that its error stays small beside high limits. */
const LEASE_MAX = 100;
/** An unspent lease is dropped after this long, its rest lost (see below). */
const LEASE_TTL_MS = 60_000;
/** Callers with a lease, per instance; the least recently seen go first (their rest is lost). */
const LEASE_KEYS = 100_000;

interface Lease {
  /** Operations taken from the bucket and not spent yet. */
  left: number;
  /** The request in flight to Redis for the next lease: the others wait for it instead of asking too. */
  renewing?: Promise<RateLimited | null>;
}

/**
 * At most `perMinute` operations per caller: that many at once, refilled at `perMinute` a minute,
 * counted for the whole fleet when the buckets are (Redis). The upstream calls an operation causes
 * are charged apart (`budget.ts`). Authenticated callers are keyed by `sub`, a request without a
 * token by its address, both hashed.
 *
 * In a fleet (the buckets shared in Redis), each instance takes a caller's operations from the
 * Redis bucket in leases of N = perMinute / 20 (1 to 100) and spends them locally, so that only
 * one request in N makes a round trip to Redis:
 *
 * 1. A request spends one operation of its caller's lease on this instance, if one is left.
 * 2. Otherwise it takes a new lease: as many operations as the bucket has room for, N at most
 *    (one script in Redis). Requests arriving meanwhile wait for that same lease.
 * 3. None left in the bucket: RATE_LIMITED, with the bucket's `retryAfter`, for the whole fleet.
 * 4. A lease not spent within a minute is dropped with what it has left (never given back).
 *
 * Every operation is taken from the fleet's bucket before it is served, so the error against
 * one exact count is bounded by what leases hold: in any window, the fleet serves at most
 * (N − 1) × instances operations of a caller beyond the bucket (taken before the window, spent in
 * it); and it may refuse a caller up to (N − 1) × instances operations early (held unspent by
 * instances the caller does not reach now, or dropped with a lease, at most N − 1 per instance a
 * minute). With the default 600 a minute, N = 30: 29 operations per instance either way, under
 * 5 % of the limit. Without Redis (or while it is unreachable) every operation is counted as it
 * comes, as before: no lease, no error.
 */
export function createRateLimit(perMinute: number, buckets: RateBuckets & { shared?(): boolean }): RateLimit {
  const leaseSize = Math.max(1, Math.min(LEASE_MAX, Math.floor(perMinute / LEASE_SHARE)));
  const leases = new LRUCache<string, Lease>({ max: LEASE_KEYS, ttl: LEASE_TTL_MS });
  const bucketOf = (who: string): Bucket => ({ key: `operations:${who}`, limit: perMinute, shape: 'refill' });
  const refusal = (retryAfterMs: number) => new RateLimited('Too many requests; try again later', retryAfterMs, 'caller');

  const renew = async (who: string, lease: Lease): Promise<RateLimited | null> => {
    try {
      const { taken, retryAfterMs } = await buckets.takeUpTo(bucketOf(who), leaseSize);
      if (!taken) return refusal(retryAfterMs);
      // The one that asked spends the first; the lease's age counts from now.
      lease.left += taken - 1;
      leases.set(who, lease);
      return null;
    } finally {
      lease.renewing = undefined;
    }
  };

  return {
    async take(caller, address) {
      const who = pseudonym(caller ? `sub:${caller.sub}` : `ip:${address ?? 'unknown'}`);
      if (leaseSize === 1 || !buckets.shared?.()) {
        const turn = await buckets.take([bucketOf(who)], 0);
        return turn.ok ? null : refusal(turn.retryAfterMs);
      }
      for (;;) {
        let lease = leases.get(who);
        if (lease && lease.left > 0) {
          lease.left -= 1;
          return null;
        }
        if (lease?.renewing) {
          // Refused for the one that asked: refused for its companions too. Granted: take a share, or ask again.
          const refused = await lease.renewing;
          if (refused) return refused;
          continue;
        }
        if (!lease) leases.set(who, (lease = { left: 0 }));
        lease.renewing = renew(who, lease);
        return lease.renewing;
      }
    },
  };
}
