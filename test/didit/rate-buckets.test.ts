import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLocalBuckets, type Bucket } from '../../src/didit/rate-buckets.ts';

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

/** The most calls in any window of 60 s. */
function busiestMinute(times: number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 60_000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('local GCRA buckets', () => {
  it.each([100, 50, 20, 10, 4, 1])('strict: no window of 60 s ever holds more than %i calls, however greedy the caller', async (limit) => {
    const times = await greedy({ key: 'didit:decision', limit, shape: 'strict' }, 50, 5);
    expect(busiestMinute(times)).toBeLessThanOrEqual(limit);
    // And the limit is used, not starved: at least three quarters of it every minute.
    expect(times.length).toBeGreaterThanOrEqual(Math.floor(limit * 0.75 * 5));
  });

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
    const pool: Bucket = { key: 'pool', limit: 4, shape: 'strict' };
    expect((await buckets.take([share, pool], 0)).ok).toBe(true);
    // The pool is empty (4 a minute: one at once); refused by it, the share keeps its room.
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
