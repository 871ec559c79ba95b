import { LRUCache } from 'lru-cache';

/**
 * Rate limits, two kinds. Didit's limits ('strict') are sliding logs: the times of the calls of
 * the last 60 s, so that no window holds more than the limit and a caller alone can use nearly all
 * of it. The gateway's own per-caller limits ('refill') are GCRA buckets (the generic cell rate
 * algorithm): one number each, the theoretical arrival time (TAT) of the next call; calls are
 * spaced by `interval` and may come `tolerance` ms early, which is the burst. The same arithmetic
 * runs in memory (here) and in Redis for a fleet (core/fleet-buckets.ts).
 */
export interface Bucket {
  /** Names the bucket; never personal data (callers are hashed). */
  key: string;
  /** Calls per minute. */
  limit: number;
  /**
   * 'strict': no 60-second window ever holds more than `limit` calls, counted exactly (a sliding
   * log, see `windowWait`): for Didit's own limits and shares of them.
   * 'refill': `limit` calls at once, then refilled at `limit` a minute: for operations.
   */
  shape: 'strict' | 'refill';
}

/** Whether every bucket had room (then the call is taken from each), or the first that had none. */
export type Turn = { ok: true; waitMs: number } | { ok: false; refused: number; retryAfterMs: number };

/** Calls taken from one bucket at once (1 to `most`), or 0 and in how many ms it has room for one. */
export type Batch = { taken: number; retryAfterMs: number };

export interface RateBuckets {
  /**
   * Takes one call from every bucket, atomically: from all of them or from none. The call may
   * wait up to `maxWaitMs` for its turn (`waitMs`); a longer wait is refused.
   */
  take(buckets: readonly Bucket[], maxWaitMs: number): Promise<Turn>;
  /** Lets nothing through the bucket for `ms` (Didit answered 429 and said how long). */
  holdOff(bucket: Bucket, ms: number): Promise<void>;
  /** In how many ms the bucket has room for a call (0 or less: now), as this process counts it; takes nothing. */
  peek(bucket: Bucket): number;
  /** Takes as many calls as the bucket has room for now, `most` at most, without waiting (a lease, `core/rate-limit.ts`). */
  takeUpTo(bucket: Bucket, most: number): Promise<Batch>;
}

/**
 * `takeUpTo`'s arithmetic, shared with the Redis script (core/fleet-buckets.ts): a bucket whose
 * next call could come `wait` ms from now (0 or less: it has room) holds 1 + floor(-wait / interval) calls.
 */
export function batchOf(tat: number, now: number, bucket: Pick<Bucket, 'limit'>, most: number): { batch: Batch; tat: number } {
  const { interval, tolerance } = gcraTiming(bucket.limit);
  const start = Math.max(tat, now);
  const wait = start - tolerance - now;
  if (wait > 0) return { batch: { taken: 0, retryAfterMs: wait }, tat };
  const taken = Math.max(1, Math.min(Math.floor(most), Math.floor(-wait / interval) + 1));
  return { batch: { taken, retryAfterMs: 0 }, tat: start + taken * interval };
}

/** Whole milliseconds, rounded towards the slower rate, so rounding never lets more through. */
export function gcraTiming(limit: number): { interval: number; tolerance: number } {
  const interval = Math.ceil(60_000 / limit);
  return { interval, tolerance: Math.max(0, Math.floor(limit) - 1) * interval };
}

/**
 * The window strict buckets count calls in: Didit's minute, and a second more, since a call
 * reaches Didit a little after its turn (timers, the network) and not always in the order of the
 * turns; so Didit's own windows never hold more than the limit.
 */
export const WINDOW_MS = 61_000;
/**
 * The part of a strict bucket's limit that every call let through keeps free for a steady flow
 * in every window to come; the rest is the burst. Three quarters: a quarter of the limit at once.
 */
export const STEADY_SHARE = 0.75;

/**
 * When the next call may go under a strict bucket, in ms from `now` (0 or less: now), from the
 * times of the calls let through (ascending; those older than the window are ignored).
 *
 * The rule: no window of 60 s holds more than `limit` calls, and a call goes only if a steady
 * flow of `STEADY_SHARE` of the limit still fits in every window to come. For each call at `x`
 * still in the window, with `n` calls at or after it, the new call at `t` must find
 * `n + 1 + floor(steady × (x + 60 s - t) / 60 s) <= limit`. So a quarter of the limit may go at
 * once, a caller alone with calls always waiting gets the whole limit a minute once the burst is
 * past, and whoever comes later never finds the window full for longer than a steady flow's
 * spacing: a burst is paid back before its calls leave the window. (A GCRA pace with the same
 * burst keeps a quarter of the limit unused for good under sustained demand.) `keep` calls of
 * every window are left to others (a borrowing level leaves the lender its burst, turns.ts).
 */
export function windowWait(times: readonly number[], limit: number, now: number, keep = 0): number {
  const steady = limit * STEADY_SHARE;
  let at = now;
  for (let i = 0; i < times.length; i++) {
    const x = times[i]!;
    if (x <= now - WINDOW_MS) continue;
    const room = Math.floor(limit - 1 - keep - (times.length - i));
    // A call with room for more than a steady flow's whole window holds the next call back to
    // no later than itself, and every later call has more room: only the oldest calls are read
    // (all of a log as long as the limit, none of one far under it).
    if ((WINDOW_MS * (room + 1)) / steady >= WINDOW_MS + 1) break;
    // Room for none: wait until x leaves the window; else until the steady flow's share of what
    // is left of x's window is under room + 1 calls.
    at = Math.max(at, room < 0 ? x + WINDOW_MS : Math.floor(x + WINDOW_MS - (WINDOW_MS * (room + 1)) / steady) + 1);
  }
  // Calls go in the order they were let through.
  if (times.length > 0) at = Math.max(at, times[times.length - 1]!);
  return Math.ceil(at - now);
}

/** Sliding logs of calls, by key, for strict buckets in this process. */
export function createWindows(clock: () => number = Date.now, maxKeys = 100_000) {
  // A log whose calls have all left the window is the same as no log: the least recently used go first.
  const logs = new LRUCache<string, { times: number[]; heldUntil: number }>({ max: maxKeys });
  const logOf = (key: string, now: number) => {
    let log = logs.get(key);
    if (!log) logs.set(key, (log = { times: [], heldUntil: 0 }));
    let expired = 0;
    while (expired < log.times.length && log.times[expired]! <= now - WINDOW_MS) expired++;
    if (expired > 0) log.times.splice(0, expired);
    return log;
  };
  return {
    /** ms until the bucket has room for a call, `keep` left over (0 or less: now). */
    wait(key: string, limit: number, keep = 0): number {
      const now = clock();
      const log = logOf(key, now);
      return Math.max(windowWait(log.times, limit, now, keep), log.heldUntil - now);
    },
    /** Calls in the window. */
    count(key: string): number {
      return logOf(key, clock()).times.length;
    },
    /** Counts a call let through at `at` (now, or later when it waits for its turn). */
    add(key: string, at: number = clock()): void {
      const log = logOf(key, clock());
      log.times.push(Math.max(at, log.times[log.times.length - 1] ?? at));
    },
    /** Lets nothing through until `until`. */
    holdOff(key: string, until: number): void {
      const log = logOf(key, clock());
      log.heldUntil = Math.max(log.heldUntil, until);
    },
    /** Logs with calls still in the window, and their times. */
    recent(): Array<[key: string, times: number[]]> {
      const now = clock();
      return [...logs.keys()].flatMap((key) => {
        const { times } = logOf(key, now);
        return times.length > 0 ? [[key, [...times]] as [string, number[]]] : [];
      });
    },
  };
}

export type Windows = ReturnType<typeof createWindows>;

/** Buckets in this process's memory: one instance's own count. */
export function createLocalBuckets(maxKeys = 100_000): RateBuckets & {
  /** The strict buckets' logs (the scheduler's turns count in them too, see core/fleet-buckets.ts). */
  windows: Windows;
  /** Strict buckets with calls in the last minute, and their times. */
  recent(): Array<[key: string, times: number[]]>;
  /** Counts a call made now, room or not (it was let through elsewhere); a refill bucket at most a minute ahead. */
  record(buckets: readonly Bucket[]): void;
} {
  // A refill bucket whose TAT has passed is the same as no bucket: the least recently used go first.
  const tats = new LRUCache<string, number>({ max: maxKeys });
  const windows = createWindows(Date.now, maxKeys);
  const waitOf = (bucket: Bucket, now: number) => {
    if (bucket.shape === 'strict') return windows.wait(bucket.key, bucket.limit);
    return Math.max(tats.get(bucket.key) ?? 0, now) - gcraTiming(bucket.limit).tolerance - now;
  };

  return {
    async take(buckets, maxWaitMs) {
      const now = Date.now();
      let waitMs = 0;
      for (const [index, bucket] of buckets.entries()) {
        const wait = waitOf(bucket, now);
        if (wait > maxWaitMs) return { ok: false, refused: index, retryAfterMs: wait };
        waitMs = Math.max(waitMs, wait);
      }
      for (const bucket of buckets) {
        if (bucket.shape === 'strict') windows.add(bucket.key, now + waitMs);
        else tats.set(bucket.key, Math.max(tats.get(bucket.key) ?? 0, now) + gcraTiming(bucket.limit).interval);
      }
      return { ok: true, waitMs };
    },
    windows,
    peek: (bucket) => waitOf(bucket, Date.now()),
    recent: () => windows.recent(),
    record(buckets) {
      const now = Date.now();
      for (const bucket of buckets) {
        if (bucket.shape === 'strict') windows.add(bucket.key, now);
        else tats.set(bucket.key, Math.min(Math.max(tats.get(bucket.key) ?? 0, now) + gcraTiming(bucket.limit).interval, now + 60_000));
      }
    },
    async takeUpTo(bucket, most) {
      const now = Date.now();
      const { batch, tat } = batchOf(tats.get(bucket.key) ?? 0, now, bucket, most);
      if (batch.taken) tats.set(bucket.key, tat);
      return batch;
    },
    async holdOff(bucket, ms) {
      windows.holdOff(bucket.key, Date.now() + ms);
    },
  };
}
