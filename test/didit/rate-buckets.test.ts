import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STEADY_SHARE, WINDOW_MS, createLocalBuckets, windowWait, type Bucket } from '../../src/didit/rate-buckets.ts';
import { busiestWindow } from '../../scripts/soak/figures.ts';

/** The most calls in any window of 60 s. */
const busiestMinute = (times: number[]) => busiestWindow(times, 60_000).count;

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Asks for a call every `everyMs` for `minutes`, as fast as a greedy caller would: the times let through. */
async function greedy(bucket: Bucket, everyMs: number, minutes: number): Promise<number[]> {
  const buckets = createLocalBuckets();
  const passed: number[] = [];
  for (let t = 0; t < minutes * 60_000; t += everyMs) {
    if ((await buckets.take([bucket], 0)).ok) passed.push(Date.now());
    vi.advanceTimersByTime(everyMs);
  }
  return passed;
}

/**
 * Calls asked for at the given times (ascending), each let through at once when `windowWait` says
 * so, else asked again after the wait it gave, as the scheduler's callers do: the times let through
 * and the longest wait any call met.
 */
function replay(asks: number[], limit: number): { passed: number[]; longestWait: number } {
  const passed: number[] = [];
  let longestWait = 0;
  const pending = [...asks];
  while (pending.length > 0) {
    const at = pending.shift()!;
    const wait = windowWait(passed, limit, at);
    if (wait <= 0) passed.push(at);
    else {
      // Asked again once the wait is over, before any later ask.
      const again = at + wait;
      longestWait = Math.max(longestWait, wait);
      const index = pending.findIndex((t) => t > again);
      pending.splice(index < 0 ? pending.length : index, 0, again);
    }
  }
  return { passed, longestWait };
}

describe('strict buckets: sliding logs', () => {
  const asksOf = fc.array(fc.record({ gap: fc.integer({ min: 0, max: 5000 }), calls: fc.integer({ min: 1, max: 40 }) }), { minLength: 1, maxLength: 60 }).map((bursts) => {
    let t = 0;
    return bursts.flatMap(({ gap, calls }) => ((t += gap), Array.from({ length: calls }, () => t)));
  });
  // Didit's limits, and the parts of them an instance or a level counts (100 / 3, 50 × 0.4).
  const limits = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.double({ min: 10, max: 200, noNaN: true }));

  it('never lets more than the limit through in any 60 s window, whatever is asked and when', () => {
    fc.assert(
      fc.property(asksOf, limits, (asks, limit) => {
        expect(busiestMinute(replay(asks, limit).passed)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 200 },
    );
  });

  it('never keeps a call waiting longer than a steady flow’s spacing once its turn is asked for, whatever came before', () => {
    fc.assert(
      fc.property(asksOf, limits, (asks, limit) => {
        // (A 429's hold-off aside: that is Didit's word, not the log's. Under about two calls a
        // minute of steady flow, a call may wait for the window itself; 3 ms of rounding.)
        const steady = limit * STEADY_SHARE;
        expect(replay(asks, limit).longestWait).toBeLessThanOrEqual(steady >= 2 ? Math.ceil(WINDOW_MS / steady) + 3 : WINDOW_MS);
      }),
      { numRuns: 200 },
    );
  });

  it('reads only the calls that can hold the next one back, and gives the wait reading them all gives', () => {
    // Every call of the log read, as the rule says it (and as it was written before it stopped early).
    const readingAll = (times: number[], limit: number, now: number, keep: number) => {
      const steady = limit * STEADY_SHARE;
      let at = now;
      times.forEach((x, i) => {
        if (x <= now - WINDOW_MS) return;
        const room = Math.floor(limit - 1 - keep - (times.length - i));
        at = Math.max(at, room < 0 ? x + WINDOW_MS : Math.floor(x + WINDOW_MS - (WINDOW_MS * (room + 1)) / steady) + 1);
      });
      if (times.length > 0) at = Math.max(at, times[times.length - 1]!);
      return Math.ceil(at - now);
    };
    // Logs as long as the limit and far longer (a limit lifted far above use), whole and fractional
    // times, some calls let through for later than now.
    const time = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.double({ min: 0, max: 70_000, noNaN: true }));
    fc.assert(
      fc.property(fc.array(time, { maxLength: 400 }), fc.oneof(limits, fc.integer({ min: 1_000, max: 10_000_000 })), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 70_000 }), (times, limit, keep, now) => {
        times.sort((a, b) => a - b);
        expect(windowWait(times, limit, now, keep)).toBe(readingAll(times, limit, now, keep));
      }),
      { numRuns: 500 },
    );
  });

  it.each([100, 50, 20, 10, 4, 1])('lets a greedy caller alone use nearly all of %i a minute, a quarter of it at once', async (limit) => {
    const times = await greedy({ key: 'didit:decision', limit, shape: 'strict' }, 50, 5);
    expect(busiestMinute(times)).toBeLessThanOrEqual(limit);
    // (One call a poll of 50 ms.)
    expect(times.filter((t) => t < times[0]! + 50 * limit).length).toBeGreaterThanOrEqual(Math.max(1, limit - Math.floor(limit * STEADY_SHARE)));
    // The whole limit every 61 s (Didit's minute, and a second for calls on their way).
    expect(times.length).toBeGreaterThanOrEqual(Math.floor((limit * 5 * 60_000) / WINDOW_MS) - 1);
  });
});

describe('local buckets', () => {
  it('refill: the whole limit at once, then refilled at the limit a minute', async () => {
    const buckets = createLocalBuckets();
    const bucket: Bucket = { key: 'operations:x', limit: 12, shape: 'refill' };
    for (let i = 0; i < 12; i++) expect((await buckets.take([bucket], 0)).ok).toBe(true);
    expect(await buckets.take([bucket], 0)).toEqual({ ok: false, refused: 0, retryAfterMs: 5000 });
    vi.advanceTimersByTime(5000);
    expect((await buckets.take([bucket], 0)).ok).toBe(true);
  });

  it('takes from every bucket or from none', async () => {
    const buckets = createLocalBuckets();
    const share: Bucket = { key: 'share', limit: 100, shape: 'strict' };
    const pool: Bucket = { key: 'pool', limit: 2, shape: 'strict' };
    expect((await buckets.take([share, pool], 0)).ok).toBe(true);
    // The pool is empty (2 a minute: one at once); refused by it, the share keeps its room.
    expect(await buckets.take([share, pool], 0)).toMatchObject({ ok: false, refused: 1 });
    for (let i = 0; i < 24; i++) expect((await buckets.take([share], 0)).ok).toBe(true);
    expect((await buckets.take([share], 0)).ok).toBe(false);
  });

  it('holds a bucket off for as long as asked, then lets calls through again', async () => {
    const buckets = createLocalBuckets();
    const bucket: Bucket = { key: 'didit:pdf', limit: 50, shape: 'strict' };
    await buckets.holdOff(bucket, 30_000);
    expect(await buckets.take([bucket], 0)).toEqual({ ok: false, refused: 0, retryAfterMs: 30_000 });
    vi.advanceTimersByTime(30_000);
    expect((await buckets.take([bucket], 0)).ok).toBe(true);
  });
});
