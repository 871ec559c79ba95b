import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createLocalBuckets, gcraTiming, type Bucket, type RateBuckets, type Turn } from '../didit/rate-buckets.ts';

/**
 * `rate-buckets.ts`'s `take`, run inside Redis so that every instance counts against one bucket,
 * with Redis's clock (instances' clocks may disagree). All buckets or none, atomically.
 * KEYS = the buckets; ARGV = longest wait (ms), then interval and tolerance (ms) per bucket.
 * Returns {0, wait} when taken, or {i, ms} when bucket i had no room for ms more.
 */
const TAKE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local maxWait, wait, tats = tonumber(ARGV[1]), 0, {}
for i, key in ipairs(KEYS) do
  local interval, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local start = math.max(tonumber(redis.call('GET', key) or 0), now)
  local w = start - tolerance - now
  if w > maxWait then return {i, w} end
  if w > wait then wait = w end
  tats[i] = start + interval
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tats[i], 'PX', tats[i] - now)
end
return {0, wait}
`;

/** KEYS[1] = the bucket; ARGV[1] = how long nothing may pass, plus the bucket's tolerance (ms). */
const HOLD_OFF = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tat, 'PX', tat - now)
`;

interface BudgetCommands {
  budgetTake(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<[number, number]>;
  budgetHoldOff(key: string, ms: number): Promise<unknown>;
}

export interface FleetBuckets extends RateBuckets {
  /** True while the buckets are counted in Redis for the whole fleet. */
  shared(): boolean;
  close(): Promise<void>;
}

export interface FleetBucketsOptions {
  redisUrl?: string;
  /** Prefix of every key written (`didit-gateway:` by default). */
  keyPrefix: string;
  /** Instances in the fleet: when counting alone, each takes limit / instances. */
  instances: number;
  log: Logger;
}

/**
 * Rate buckets for a fleet of gateway instances. With Redis, one count for all of them. Without
 * Redis, or while it is unreachable, each instance counts alone against its share of every limit
 * (limit / instances), so that the fleet together still stays under it; the switch either way is
 * logged once. A Redis command that fails or times out is counted alone, never refused for it.
 */
export function createFleetBuckets(options: FleetBucketsOptions): FleetBuckets {
  const { keyPrefix, instances, log } = options;
  const alone = createLocalBuckets();
  const ownShare = (bucket: Bucket): Bucket => ({ ...bucket, limit: bucket.limit / instances });
  const aloneBuckets: RateBuckets = {
    take: (buckets, maxWaitMs) => alone.take(buckets.map(ownShare), maxWaitMs),
    holdOff: (bucket, ms) => alone.holdOff(ownShare(bucket), ms),
  };
  if (!options.redisUrl) return { ...aloneBuckets, shared: () => false, close: async () => {} };

  // Commands fail at once while Redis is away, instead of queueing in memory.
  const redis = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 });
  redis.defineCommand('budgetTake', { lua: TAKE });
  redis.defineCommand('budgetHoldOff', { lua: HOLD_OFF, numberOfKeys: 1 });
  const commands = redis as unknown as BudgetCommands;

  let state: 'starting' | 'shared' | 'alone' = 'starting';
  let closed = false;
  /** While counting alone with the connection up (a command timed out), Redis is tried again after this. */
  let retryAt = 0;
  const goAlone = (error?: unknown) => {
    retryAt = Date.now() + 1000;
    if (state === 'alone' || closed) return;
    state = 'alone';
    log.warn({ err: error, instances }, 'redis unreachable: Didit and caller budgets are counted per instance (limit / DIDIT_INSTANCES)');
  };
  const comeBack = () => {
    if (state === 'alone') log.info('redis reachable again: Didit and caller budgets are shared by the fleet');
    state = 'shared';
  };
  redis.on('ready', comeBack);
  redis.on('error', goAlone);
  redis.on('close', () => (state === 'shared' ? goAlone() : undefined));
  const inRedis = () => redis.status === 'ready' && (state === 'shared' || (state === 'alone' && Date.now() >= retryAt));

  return {
    async take(buckets, maxWaitMs) {
      if (!inRedis()) return aloneBuckets.take(buckets, maxWaitMs);
      const args = buckets.flatMap((bucket) => {
        const { interval, tolerance } = gcraTiming(bucket);
        return [interval, tolerance];
      });
      try {
        const [refused, ms] = await commands.budgetTake(buckets.length, ...buckets.map((b) => keyPrefix + b.key), maxWaitMs, ...args);
        comeBack();
        return (refused === 0 ? { ok: true, waitMs: Math.max(0, ms) } : { ok: false, refused: refused - 1, retryAfterMs: ms }) satisfies Turn;
      } catch (error) {
        goAlone(error);
        return aloneBuckets.take(buckets, maxWaitMs);
      }
    },
    async holdOff(bucket, ms) {
      // Held off here too, so that this instance waits even if Redis went away meanwhile.
      await aloneBuckets.holdOff(bucket, ms);
      if (!inRedis()) return;
      await commands.budgetHoldOff(keyPrefix + bucket.key, ms + gcraTiming(bucket).tolerance).catch(goAlone);
    },
    shared: () => state === 'shared' && redis.status === 'ready',
    async close() {
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
