import { LRUCache } from 'lru-cache';

/**
 * Rate limits as GCRA buckets (the generic cell rate algorithm): each bucket is one number, the
 * theoretical arrival time (TAT) of its next call. Calls are spaced by `interval`, and may come
 * `tolerance` ms early, which is the burst. The same arithmetic runs in memory (here) and in Redis
 * for a fleet (core/fleet-buckets.ts).
 */
export interface Bucket {
  /** Names the bucket; never personal data (callers are hashed). */
  key: string;
  /** Calls per minute. */
  limit: number;
  /**
   * 'strict': no 60-second window ever holds more than `limit` calls (a burst of a quarter, then
   * three quarters of the limit as steady rate): for Didit's own limits and shares of them.
   * 'refill': `limit` calls at once, then refilled at `limit` a minute: for operations.
   */
  shape: 'strict' | 'refill';
}

/** Whether every bucket had room (then the call is taken from each), or the first that had none. */
export type Turn = { ok: true; waitMs: number } | { ok: false; refused: number; retryAfterMs: number };

export interface RateBuckets {
  /**
   * Takes one call from every bucket, atomically: from all of them or from none. The call may
   * wait up to `maxWaitMs` for its turn (`waitMs`); a longer wait is refused.
   */
  take(buckets: readonly Bucket[], maxWaitMs: number): Promise<Turn>;
  /** Lets nothing through the bucket for `ms` (Didit answered 429 and said how long). */
  holdOff(bucket: Bucket, ms: number): Promise<void>;
}

/** Whole milliseconds, rounded towards the slower rate, so rounding never lets more through. */
export function gcraTiming(bucket: Pick<Bucket, 'limit' | 'shape'>): { interval: number; tolerance: number } {
  if (bucket.shape === 'refill') {
    const interval = Math.ceil(60_000 / bucket.limit);
    return { interval, tolerance: Math.max(0, Math.floor(bucket.limit) - 1) * interval };
  }
  // limit/4 at once plus 60 s of the steady 3/4 * limit: the limit, in any window of 60 s.
  const interval = Math.ceil(60_000 / (bucket.limit * 0.75));
  return { interval, tolerance: Math.max(0, Math.floor(bucket.limit / 4) - 1) * interval };
}

/** Buckets in this process's memory: one instance's own count. */
export function createLocalBuckets(maxKeys = 100_000): RateBuckets {
  // A bucket whose TAT has passed is the same as no bucket: the least recently used go first.
  const tats = new LRUCache<string, number>({ max: maxKeys });

  return {
    async take(buckets, maxWaitMs) {
      const now = Date.now();
      let waitMs = 0;
      const next: number[] = [];
      for (const [index, bucket] of buckets.entries()) {
        const { interval, tolerance } = gcraTiming(bucket);
        const start = Math.max(tats.get(bucket.key) ?? 0, now);
        const wait = start - tolerance - now;
        if (wait > maxWaitMs) return { ok: false, refused: index, retryAfterMs: wait };
        waitMs = Math.max(waitMs, wait);
        next.push(start + interval);
      }
      buckets.forEach((bucket, index) => tats.set(bucket.key, next[index]!));
      return { ok: true, waitMs };
    },
    async holdOff(bucket, ms) {
      const now = Date.now();
      tats.set(bucket.key, Math.max(tats.get(bucket.key) ?? 0, now + ms + gcraTiming(bucket).tolerance));
    },
  };
}
