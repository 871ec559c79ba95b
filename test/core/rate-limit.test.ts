import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Caller } from '../../src/core/access.ts';
import { RateLimited } from '../../src/core/errors.ts';
import { createFleetBuckets, type FleetBuckets } from '../../src/core/fleet-buckets.ts';
import { createRateLimit } from '../../src/core/rate-limit.ts';
import { createLocalBuckets, gcraTiming } from '../../src/didit/rate-buckets.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_PREFIX = `test-${randomUUID()}:`;
const log = pino({ level: 'silent' });
const caller = (sub: string): Caller => ({ sub, reviewer: false });

const opened: FleetBuckets[] = [];
afterAll(async () => {
  await Promise.all(opened.map((buckets) => buckets.close()));
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${RUN_PREFIX}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

/**
 * `count` gateway instances' buckets on one Redis, under their own key prefix. Commands may take
 * long on a loaded machine without the instances counting alone: what is tested is the fleet's count.
 */
async function fleet(count: number, prefix: string): Promise<FleetBuckets[]> {
  const all = Array.from({ length: count }, () => createFleetBuckets({ redisUrl: REDIS_URL, keyPrefix: prefix, instances: count, log, commandTimeoutMs: 30_000 }));
  opened.push(...all);
  await vi.waitFor(() => expect(all.every((buckets) => buckets.shared())).toBe(true), { timeout: 5000 });
  return all;
}

/** Counts the round trips to Redis a rate limit makes for its leases. */
function counted(buckets: FleetBuckets) {
  const counter = { calls: 0 };
  const takeUpTo = buckets.takeUpTo.bind(buckets);
  return Object.assign(counter, {
    buckets: Object.assign(Object.create(buckets) as FleetBuckets, {
      takeUpTo: (...args: Parameters<FleetBuckets['takeUpTo']>) => {
        counter.calls += 1;
        return takeUpTo(...args);
      },
    }),
  });
}

describe('the operation limit', () => {
  it('without Redis, counts every operation as it comes: exactly the limit, then RATE_LIMITED', async () => {
    const limit = createRateLimit(60, createLocalBuckets());
    const outcomes = [];
    for (let i = 0; i < 61; i++) outcomes.push(await limit.take(caller('alone'), undefined));
    expect(outcomes.slice(0, 60).every((o) => o === null)).toBe(true);
    expect(outcomes[60]).toBeInstanceOf(RateLimited);
    expect(outcomes[60]).toMatchObject({ limit: 'caller' });
    expect((outcomes[60] as RateLimited).retryAfter).toBeGreaterThan(0);
  });

  it('with Redis, leases operations: one round trip for many requests, and RATE_LIMITED for the whole fleet', async () => {
    const [first, second] = await fleet(2, `${RUN_PREFIX}lease:`);
    const a = counted(first!);
    const b = counted(second!);
    // 600 a minute: leases of 30.
    const limits = [createRateLimit(600, a.buckets), createRateLimit(600, b.buckets)];
    const who = caller(`lease-${randomUUID()}`);
    // 60 at once on the first instance: two leases, whatever the order they arrive in.
    expect((await Promise.all(Array.from({ length: 60 }, () => limits[0]!.take(who, undefined)))).every((o) => o === null)).toBe(true);
    expect(a.calls).toBe(2);
    // Spend the bucket's 600 from both; the fleet refuses the caller once they are gone, on both instances.
    let served = 60;
    let refused: RateLimited | null = null;
    for (let i = 0; i < 800 && !refused; i++) {
      refused = await limits[i % 2]!.take(who, undefined);
      if (!refused) served += 1;
    }
    expect(refused).toMatchObject({ limit: 'caller' });
    expect(refused!.retryAfter).toBeGreaterThan(0);
    // Up to 29 operations a lease left unspent on the other instance; a little refill meanwhile.
    expect(served).toBeGreaterThanOrEqual(600 - 29);
    expect(served).toBeLessThanOrEqual(600 + 10);
    expect(a.calls + b.calls).toBeLessThan(served / 10);
    const other = await limits[1]!.take(who, undefined);
    const again = await limits[0]!.take(who, undefined);
    expect([other, again].filter((o) => o instanceof RateLimited).length).toBeGreaterThanOrEqual(1);
  });

  // (Twelve fleets of up to three instances, each connecting to Redis: a minute on a loaded machine.
  // A failure is reported as found, not shrunk: each shrinking step would connect a fleet again.)
  it('with Redis, never serves a caller more than the bucket gives plus what leases hold, nor refuses it before the bucket minus that (property)', { timeout: 60_000 }, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 40, max: 400 }),
        // Requests: which instance, in bursts sent at once.
        fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 30 }),
        async (instances, perMinute, bursts) => {
          const all = await fleet(instances, `${RUN_PREFIX}property-${run++}:`);
          const probes = all.map(counted);
          const limits = probes.map((probe) => createRateLimit(perMinute, probe.buckets));
          const lease = Math.min(100, Math.floor(perMinute / 20));
          const who = caller('property');
          const started = Date.now();
          let served = 0;
          let sent = 0;
          let firstRefusalAt: number | null = null;
          for (const burst of bursts) {
            const outcomes = await Promise.all(burst.map((pick) => limits[pick % instances]!.take(who, undefined)));
            for (const outcome of outcomes) {
              sent += 1;
              if (outcome === null) served += 1;
              else {
                expect(outcome).toMatchObject({ limit: 'caller' });
                expect(outcome.retryAfter).toBeGreaterThan(0);
                firstRefusalAt ??= served;
              }
            }
          }
          // What the bucket gave meanwhile: its burst, plus its refill over the time taken (rounded up).
          const { interval } = gcraTiming(perMinute);
          const given = perMinute + Math.ceil((Date.now() - started) / interval) + 1;
          // Every operation served was taken from the fleet's bucket first.
          expect(served).toBeLessThanOrEqual(given);
          // Refused only once the bucket was spent, less what leases held unspent (N - 1 per instance).
          if (firstRefusalAt !== null) expect(firstRefusalAt).toBeGreaterThanOrEqual(perMinute - (lease - 1) * instances);
          else expect(served).toBe(sent);
          await Promise.all(all.map((buckets) => buckets.close()));
        },
      ),
      { numRuns: 12, endOnFailure: true },
    );
  });
});
