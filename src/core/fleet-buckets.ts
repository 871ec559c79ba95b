import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { traceRedisCommands } from '../lib/tracing.ts';
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { STEADY_SHARE, WINDOW_MS, createLocalBuckets, gcraTiming, type Bucket, type RateBuckets, type Turn } from '../didit/rate-buckets.ts';
import type { UseCounter } from './pdf-links.ts';
import { IDLE_CREDIT, WAITING_TTL_MS, createLocalTurns, partOf, refusal, spacing, turnBuckets, type Level, type Turns } from './turns.ts';

/**
 * Lua shared by the scripts: Redis's clock (instances' clocks may disagree), and strict buckets as
 * sliding logs (a list of call times, ascending; `key:held` holds a 429's hold-off), with
 * `rate-buckets.ts`'s `windowWait` rule. Keep both in step. `W` and `STEADY` come first in ARGV.
 */
const LOGS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local W, STEADY = tonumber(ARGV[1]), tonumber(ARGV[2])
-- Drops the calls that left the window, oldest first; returns how many are in it.
local function logCount(key)
  while true do
    local x = redis.call('LINDEX', key, 0)
    if not x or tonumber(x) > now - W then break end
    redis.call('LPOP', key)
  end
  return redis.call('LLEN', key)
end
local function logWait(key, limit, keep)
  keep = keep or 0
  local n, at = logCount(key), now
  local steady = limit * STEADY
  -- Only the oldest calls can hold the next one back past the last call (windowWait's break):
  -- at most these many of them.
  local oldest = math.min(n, math.ceil(n + 2 + steady * (W + 1) / W - limit + keep))
  local times = oldest > 0 and redis.call('LRANGE', key, 0, oldest - 1) or {}
  for i = 1, #times do
    local x = tonumber(times[i])
    local room = math.floor(limit - 1 - keep - (n - i + 1))
    if W * (room + 1) / steady >= W + 1 then break end
    local t = x + W
    if room >= 0 then t = math.floor(x + W - W * (room + 1) / steady) + 1 end
    if t > at then at = t end
  end
  if n > 0 then
    local last = tonumber(redis.call('LINDEX', key, -1))
    if last > at then at = last end
  end
  local held = tonumber(redis.call('GET', key .. ':held') or 0)
  if held > at then at = held end
  return math.ceil(at - now)
end
local function logAdd(key, at)
  local last = tonumber(redis.call('LINDEX', key, -1) or 0)
  if last > at then at = last end
  redis.call('RPUSH', key, at)
  redis.call('PEXPIRE', key, at - now + W)
end
`;

/**
 * `rate-buckets.ts`'s `take`, run inside Redis so that every instance counts against one bucket.
 * All buckets or none, atomically. KEYS = the buckets; ARGV = W, STEADY, the longest wait (ms),
 * then per bucket: its limit, and for a refill bucket (GCRA) its interval and tolerance (ms), for
 * a strict one 0 and 0. Returns {0, wait} when taken, or {i, ms} when bucket i had no room for ms more.
 */
const TAKE = `${LOGS}
local maxWait, wait, tats = tonumber(ARGV[3]), 0, {}
for i, key in ipairs(KEYS) do
  local limit, interval, tolerance = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  local w
  if interval > 0 then
    local start = math.max(tonumber(redis.call('GET', key) or 0), now)
    w = start - tolerance - now
    tats[i] = start + interval
  else
    w = logWait(key, limit)
  end
  if w > maxWait then return {i, w} end
  if w > wait then wait = w end
end
for i, key in ipairs(KEYS) do
  if tats[i] then redis.call('SET', key, tats[i], 'PX', tats[i] - now) else logAdd(key, now + wait) end
end
return {0, wait}
`;

/**
 * `rate-buckets.ts`'s `takeUpTo` (`batchOf`), inside Redis: as many calls as the bucket has room
 * for now, ARGV[3] at most. KEYS[1] = the bucket; ARGV = interval, tolerance, most.
 * Returns {taken, 0}, or {0, ms} when it has no room for ms more.
 */
const TAKE_UP_TO = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval, tolerance, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local wait = start - tolerance - now
if wait > 0 then return {0, wait} end
local taken = math.max(1, math.min(most, math.floor(-wait / interval) + 1))
local tat = start + taken * interval
redis.call('SET', KEYS[1], tat, 'PX', tat - now)
return {taken, 0}
`;

/** KEYS[1] = a strict bucket; ARGV[3] = how long nothing may pass (ms). */
const HOLD_OFF = `${LOGS}
local held = math.max(tonumber(redis.call('GET', KEYS[1] .. ':held') or 0), now + tonumber(ARGV[3]))
redis.call('SET', KEYS[1] .. ':held', held, 'PX', held - now)
`;

/**
 * `turns.ts`'s `turn`, inside Redis for the whole fleet (keep both in step). KEYS: 1 Didit's pace,
 * 2 the scheduler's count of all calls, 3 the level's own bucket, 4 the level's virtual time,
 * 5 its flows' tags, 6 its waiting flows (by start tag), 7 until when they wait, 8 calls given in
 * the level, 9 that count at each flow's last call, 10 the levels' shared clock (a hash: `virtual`
 * and each level's tag), 11 the other level's own bucket, then pairs of (waiting, until) of the
 * other levels. ARGV: W, STEADY, flow, the limits of the pace, of `all` and of the own bucket (0:
 * none), how long a waiting flow counts, the idle credit, the spacing of `all` and of the own
 * bucket (for the estimate of a wait), the level, its part, the other level's part and the limit
 * of its own bucket (background: the level, 0, 0, 0).
 * Returns {1, borrowed} or {0, capacity wait, level wait, flows ahead, interval}.
 */
const TURN = `${LOGS}
local flow = ARGV[3]
local paceLimit, allLimit, ownLimit = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl, credit, allSpacing, ownSpacing = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local function prune(waiting, untilKey)
  local gone = redis.call('ZRANGEBYSCORE', untilKey, '-inf', now, 'LIMIT', 0, 100)
  if #gone > 0 then
    redis.call('ZREM', untilKey, unpack(gone))
    redis.call('ZREM', waiting, unpack(gone))
  end
end
prune(KEYS[6], KEYS[7])
local virtual = tonumber(redis.call('GET', KEYS[4]) or 0)
local served = tonumber(redis.call('GET', KEYS[8]) or 0)
local start = virtual - credit
local registered = redis.call('ZSCORE', KEYS[6], flow)
if registered then
  start = tonumber(registered)
else
  local tag = redis.call('ZSCORE', KEYS[5], flow)
  local mark = redis.call('HGET', KEYS[9], flow)
  local active = math.max(redis.call('ZCARD', KEYS[6]) + 1, redis.call('ZCARD', KEYS[5]))
  if tag and mark and served - tonumber(mark) <= active then start = math.max(tonumber(tag), start) end
end
local lowest = nil
local firsts = redis.call('ZRANGE', KEYS[6], 0, 1, 'WITHSCORES')
for i = 1, #firsts, 2 do
  if firsts[i] ~= flow and lowest == nil then lowest = tonumber(firsts[i + 1]) end
end
local ahead = redis.call('ZCOUNT', KEYS[6], '-inf', '(' .. start)
local othersWait = false
for i = 12, #KEYS, 2 do
  prune(KEYS[i], KEYS[i + 1])
  if redis.call('ZCARD', KEYS[i]) > 0 then othersWait = true end
end
local level, part, otherPart, otherLimit = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local clock = redis.call('HMGET', KEYS[10], 'virtual', 'reviewers', 'applicants')
local clockVirtual = tonumber(clock[1] or 0)
local mine, behind, takesAll, meOver, keep = clockVirtual, othersWait, false, false, 0
if level ~= 'background' then
  local tags = { reviewers = tonumber(clock[2] or 0), applicants = tonumber(clock[3] or 0) }
  local other = 'reviewers'
  if level == 'reviewers' then other = 'applicants' end
  mine = math.max(tags[level], clockVirtual)
  local theirs = math.max(tags[other], clockVirtual)
  local ownCount, otherCount = 0, 0
  if ownLimit > 0 then ownCount = logCount(KEYS[3]) end
  meOver = ownLimit <= 0 or ownCount >= ownLimit
  -- The other level's count matters only while it waits, or for what a borrower leaves it.
  if otherLimit > 0 and (othersWait or meOver) then otherCount = logCount(KEYS[11]) end
  local themOver = otherLimit <= 0 or otherCount >= otherLimit
  if ownLimit > 0 and otherLimit > 0 and start > virtual - credit then
    keep = math.max(0, math.floor(math.min(otherLimit * (1 - STEADY), otherCount, otherLimit - otherCount, ownCount - ownLimit + 1)))
  end
  takesAll = (not meOver) and themOver
  local otherFirst = theirs < mine or (theirs == mine and level == 'applicants')
  behind = othersWait and (part <= 0 or (otherPart > 0 and not takesAll and (meOver ~= themOver or otherFirst)))
end
local capacity = math.max(logWait(KEYS[1], paceLimit), logWait(KEYS[2], allLimit, keep))
local levelWait = 0
if behind then levelWait = allSpacing end
if (lowest == nil or start <= lowest) and capacity <= 0 and levelWait <= 0 then
  local borrowed = 0
  if meOver or level == 'background' then borrowed = 1 end
  logAdd(KEYS[2], now)
  if ownLimit > 0 then logAdd(KEYS[3], now) end
  if level ~= 'background' and part > 0 then
    redis.call('HSET', KEYS[10], 'virtual', mine, level, mine + 1 / part)
    redis.call('PEXPIRE', KEYS[10], 120000)
  end
  served = served + 1
  redis.call('SET', KEYS[8], served, 'PX', 120000)
  redis.call('ZADD', KEYS[5], start + 1, flow)
  redis.call('HSET', KEYS[9], flow, served)
  if start > virtual then virtual = start end
  redis.call('SET', KEYS[4], virtual, 'PX', 120000)
  local behind = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', virtual - credit, 'LIMIT', 0, 100)
  if #behind > 0 then
    redis.call('ZREM', KEYS[5], unpack(behind))
    redis.call('HDEL', KEYS[9], unpack(behind))
  end
  redis.call('PEXPIRE', KEYS[5], 120000)
  redis.call('PEXPIRE', KEYS[9], 120000)
  redis.call('ZREM', KEYS[6], flow)
  redis.call('ZREM', KEYS[7], flow)
  return {1, borrowed}
end
redis.call('ZADD', KEYS[6], start, flow)
redis.call('ZADD', KEYS[7], now + ttl, flow)
redis.call('PEXPIRE', KEYS[6], ttl * 10)
redis.call('PEXPIRE', KEYS[7], ttl * 10)
local interval = allSpacing
if ownLimit > 0 and othersWait and not takesAll then interval = ownSpacing end
return {0, capacity, levelWait, ahead, interval}
`;

/**
 * KEYS[1] = a strict bucket; ARGV[3...] = calls to add to it (counted elsewhere meanwhile), by how
 * many ms ago they were made; merged with the calls it holds, in order.
 */
const ADD = `${LOGS}
local times = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 3, #ARGV do times[#times + 1] = now - tonumber(ARGV[i]) end
for i = 1, #times do times[i] = tonumber(times[i]) end
table.sort(times)
redis.call('DEL', KEYS[1])
local last = now
for i = 1, #times do
  if times[i] > now - W then
    redis.call('RPUSH', KEYS[1], times[i])
    if times[i] > last then last = times[i] end
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], last - now + W) end
`;

/** The first arguments of every script (see LOGS). */
const LOG_ARGS = [WINDOW_MS, STEADY_SHARE];

interface BudgetCommands {
  budgetAdd(key: string, ...args: Array<string | number>): Promise<unknown>;
  budgetTurn(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number[]>;
  budgetTake(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<[number, number]>;
  budgetHoldOff(key: string, ...args: Array<string | number>): Promise<unknown>;
  budgetTakeUpTo(key: string, interval: number, tolerance: number, most: number): Promise<[number, number]>;
}

export interface FleetBuckets extends RateBuckets, Turns, UseCounter {
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
  /** A Redis command slower than this counts alone (1000 ms by default): a slow Redis never holds a request up long. */
  commandTimeoutMs?: number;
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
    peek: (bucket) => alone.peek(ownShare(bucket)),
    takeUpTo: (bucket, most) => alone.takeUpTo(ownShare(bucket), most),
  };
  // The request's limit is already this instance's part (below): the pace bucket is peeked as given.
  // In the same logs as the buckets: a retry counted in the scheduler's `all` is seen by the turns.
  const localTurns = createLocalTurns((bucket) => alone.peek(bucket), Date.now, alone.windows);
  const aloneTurns: Turns = {
    turn: (request) => localTurns.turn({ ...request, limit: request.limit / instances }),
    leave: (request) => localTurns.leave(request),
  };
  const uses = new LRUCache<string, number>({ max: 100_000, ttlAutopurge: false });
  const aloneUse: UseCounter['use'] = async (key, max, ttlMs) => {
    const count = (uses.get(key) ?? 0) + 1;
    uses.set(key, count, { ttl: Math.max(1, ttlMs), noUpdateTTL: count > 1 });
    return count <= Math.max(1, Math.floor(max / instances));
  };
  if (!options.redisUrl) return { ...aloneBuckets, ...aloneTurns, use: aloneUse, shared: () => false, close: async () => {} };

  // Commands fail at once while Redis is away, instead of queueing in memory.
  const redis = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: options.commandTimeoutMs ?? 1000 });
  traceRedisCommands(redis, 'budget');
  redis.defineCommand('budgetTake', { lua: TAKE });
  redis.defineCommand('budgetHoldOff', { lua: HOLD_OFF, numberOfKeys: 1 });
  redis.defineCommand('budgetAdd', { lua: ADD, numberOfKeys: 1 });
  redis.defineCommand('budgetTurn', { lua: TURN });
  redis.defineCommand('budgetTakeUpTo', { lua: TAKE_UP_TO, numberOfKeys: 1 });
  const commands = redis as unknown as BudgetCommands;

  let state: 'starting' | 'shared' | 'alone' = 'starting';
  let closed = false;
  /** While counting alone with the connection up (a command timed out), Redis is tried again after this. */
  let retryAt = 0;
  /** The Redis this instance last counted in (a random mark the first instance to reach it leaves), and since when it counts alone. */
  let epoch: string | null = null;
  let aloneSince = 0;
  const goAlone = (error?: unknown) => {
    retryAt = Date.now() + 1000;
    if (state === 'alone' || closed) return;
    state = 'alone';
    aloneSince = Date.now();
    log.warn({ err: error, instances }, 'redis unreachable: Didit and caller budgets are counted per instance (limit / DIDIT_INSTANCES)');
  };
  /**
   * Tells Redis of the calls to Didit it did not count: those made alone, or, when Redis is not the
   * one this instance counted in before (it restarted empty), all of the last minute's. By age,
   * since clocks differ. Didit's pace and the scheduler's own logs alike: a scheduler that counted
   * fewer calls than Didit's pace holds would give turns that only wait for the pace, one call
   * leaving the window at a time, out of order.
   */
  const rejoin = async () => {
    const mark = keyPrefix + 'budget:epoch';
    const [, [, current]] = (await redis.multi().set(mark, randomUUID(), 'NX').get(mark).exec()) as [unknown, [unknown, string]];
    const since = epoch === current ? aloneSince : 0;
    epoch = current;
    const now = Date.now();
    for (const [key, times] of alone.recent()) {
      const uncounted = times.filter((t) => t >= since);
      if (uncounted.length > 0) await commands.budgetAdd(keyPrefix + key, ...LOG_ARGS, ...uncounted.map((t) => now - t));
    }
  };
  const comeBack = () => {
    if (state === 'shared') return;
    if (state === 'alone') log.info('redis reachable again: Didit and caller budgets are shared by the fleet');
    state = 'shared';
    void rejoin().catch(() => {});
  };
  redis.on('ready', comeBack);
  redis.on('error', goAlone);
  redis.on('close', () => (state === 'shared' ? goAlone() : undefined));
  const inRedis = () => redis.status === 'ready' && (state === 'shared' || (state === 'alone' && Date.now() >= retryAt));

  return {
    async take(buckets, maxWaitMs) {
      if (!inRedis()) return aloneBuckets.take(buckets, maxWaitMs);
      const args = buckets.flatMap((bucket) => {
        const { interval, tolerance } = bucket.shape === 'refill' ? gcraTiming(bucket.limit) : { interval: 0, tolerance: 0 };
        return [bucket.limit, interval, tolerance];
      });
      try {
        const [refused, ms] = await commands.budgetTake(buckets.length, ...buckets.map((b) => keyPrefix + b.key), ...LOG_ARGS, maxWaitMs, ...args);
        comeBack();
        // Counted in this instance's own count too, so that if Redis goes away (or comes back
        // empty) the instance does not start afresh: alone, it waits until its calls of the last
        // minute are fewer than its part (never longer than the minute).
        if (refused === 0) alone.record(buckets.map(ownShare));
        return (refused === 0 ? { ok: true, waitMs: Math.max(0, ms) } : { ok: false, refused: refused - 1, retryAfterMs: ms }) satisfies Turn;
      } catch (error) {
        goAlone(error);
        return aloneBuckets.take(buckets, maxWaitMs);
      }
    },
    async takeUpTo(bucket, most) {
      if (!inRedis()) return aloneBuckets.takeUpTo(bucket, most);
      const { interval, tolerance } = gcraTiming(bucket.limit);
      try {
        const [taken, ms] = await commands.budgetTakeUpTo(keyPrefix + bucket.key, interval, tolerance, Math.max(1, Math.floor(most)));
        comeBack();
        // Counted in this instance's own part too, as `take` does (as much of it as that part has room for).
        if (taken > 0) await aloneBuckets.takeUpTo(bucket, taken);
        return { taken, retryAfterMs: taken > 0 ? 0 : ms };
      } catch (error) {
        goAlone(error);
        return aloneBuckets.takeUpTo(bucket, most);
      }
    },
    async holdOff(bucket, ms) {
      // Held off here too, so that this instance waits even if Redis went away meanwhile.
      await aloneBuckets.holdOff(bucket, ms);
      if (!inRedis()) return;
      await commands.budgetHoldOff(keyPrefix + bucket.key, ...LOG_ARGS, ms).catch(goAlone);
    },
    // This instance's own count (its part of the fleet's): the fleet's is read inside the scripts.
    peek: (bucket) => aloneBuckets.peek(bucket),
    async turn(request) {
      if (!inRedis()) return aloneTurns.turn(request);
      const buckets = turnBuckets(request);
      const own = request.level === 'background' ? undefined : buckets[request.level];
      const level = (name: Level) => [`budget:${request.endpoint}:waiting:${name}`, `budget:${request.endpoint}:until:${name}`];
      const blockers: Level[] = request.level === 'background' ? ['reviewers', 'applicants'] : [request.level === 'reviewers' ? 'applicants' : 'reviewers'];
      const other = blockers.length === 1 ? blockers[0]! : 'background';
      const otherOwn = other === 'background' ? undefined : buckets[other];
      const keys = [
        buckets.pace.key,
        buckets.all.key,
        own?.key ?? buckets.all.key,
        `budget:${request.endpoint}:virtual:${request.level}`,
        `budget:${request.endpoint}:tags:${request.level}`,
        ...level(request.level),
        `budget:${request.endpoint}:served:${request.level}`,
        `budget:${request.endpoint}:marks:${request.level}`,
        `budget:${request.endpoint}:levels`,
        otherOwn?.key ?? buckets.all.key,
        ...blockers.flatMap(level),
      ].map((key) => keyPrefix + key);
      const args = [
        ...LOG_ARGS,
        request.flow,
        buckets.pace.limit,
        buckets.all.limit,
        own?.limit ?? 0,
        WAITING_TTL_MS,
        IDLE_CREDIT,
        spacing(buckets.all.limit),
        own ? spacing(own.limit) : 0,
        request.level,
        partOf(request.level, request.reviewerReserve),
        partOf(other, request.reviewerReserve),
        otherOwn?.limit ?? 0,
      ];
      try {
        const [ok, a = 0, b = 0, ahead = 0, interval = 1] = await commands.budgetTurn(keys.length, ...keys, ...args);
        comeBack();
        if (ok !== 1) return refusal(a, b, ahead, interval);
        // Counted in this instance's own logs too, as its calls to Didit are (`take`).
        alone.windows.add(buckets.all.key);
        if (own) alone.windows.add(own.key);
        return { ok: true, borrowed: a === 1 };
      } catch (error) {
        goAlone(error);
        return aloneTurns.turn(request);
      }
    },
    async leave(request) {
      await aloneTurns.leave(request);
      if (!inRedis()) return;
      const [waiting, until] = [`waiting`, `until`].map((what) => `${keyPrefix}budget:${request.endpoint}:${what}:${request.level}`);
      await redis.multi().zrem(waiting!, request.flow).zrem(until!, request.flow).exec().catch(goAlone);
    },
    async use(key, max, ttlMs) {
      if (!inRedis()) return aloneUse(key, max, ttlMs);
      try {
        const [[, count]] = (await redis.multi().incr(keyPrefix + key).pexpire(keyPrefix + key, Math.max(1, Math.ceil(ttlMs)), 'NX').exec()) as [[unknown, number]];
        comeBack();
        return count <= max;
      } catch (error) {
        goAlone(error);
        return aloneUse(key, max, ttlMs);
      }
    },
    shared: () => state === 'shared' && redis.status === 'ready',
    async close() {
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
