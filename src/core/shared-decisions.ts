import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Decision } from '../didit/types.ts';

/** A copy of Didit's answer for one session, as both cache levels keep it. */
export interface CachedDecision {
  /** Didit's decision; absent when Didit said it has no such session. */
  decision?: Decision;
  /** When Didit gave this answer (ms since epoch): how old a stale copy is. */
  fetchedAt: number;
  /** Until when it answers without asking Didit again (ms since epoch). */
  freshUntil: number;
}

/**
 * The second cache level, shared by every instance through Redis. Its failures never reach a
 * caller: Redis away, a value that does not decrypt or parse, all read as "nothing stored".
 */
export interface SharedDecisions {
  /**
   * The stored copy of a session and its generation, read together. Without a generation
   * (Redis away, or a drop of this session not yet delivered to Redis) nothing may be written.
   */
  read(sessionId: string): Promise<{ copy?: CachedDecision; generation?: string }>;
  /**
   * Claims the read of a session from Didit for the fleet, for `ms`: false when another instance
   * holds the claim (its answer will be stored), true otherwise (Redis away included).
   */
  claim(sessionId: string, ms: number): Promise<boolean>;
  /** Gives a claim of this instance back, once its read has ended (stored or failed). */
  release(sessionId: string): Promise<void>;
  /** Stores a copy for `keepMs`, unless the session was dropped since `generation` was read. */
  write(sessionId: string, copy: CachedDecision, generation: string, keepMs: number): Promise<void>;
  /**
   * Drops the stored copy, makes writes of reads already under way fail, and tells every other
   * instance to drop its own. When Redis is away, retried as soon as it is back.
   */
  drop(sessionId: string): Promise<void>;
  /** Another instance dropped a session; `undefined`: drops may have been missed, drop everything. */
  onDrop(listener: (sessionId: string | undefined) => void): void;
  close(): Promise<void>;
}

export interface SharedDecisionsOptions {
  redisUrl: string;
  /** `REDIS_KEY_PREFIX`: every key and the channel start with it. */
  prefix: string;
  /** `DECISION_CACHE_KEY`, 32 bytes: the same on every instance. */
  key: Buffer;
  log: Logger;
  /** A Redis that answers slower than this counts as away (default 500 ms). */
  commandTimeoutMs?: number;
}

/** Larger values are not shared (a decision is a few kB; one with hundreds of AML hits may not be). */
export const MAX_SHARED_VALUE_BYTES = 256 * 1024;
/**
 * How long a drop is remembered. A read that began before the drop must end within it, or its
 * (old) answer could be stored after all; reads end within a few minutes (timeouts, retries).
 */
const GENERATION_TTL_MS = 3_600_000;
/** Drops waiting for Redis to return; beyond that, the oldest are forgotten (and logged). */
const MAX_PENDING_DROPS = 10_000;
const FORMAT = 1;

/**
 * Stores `ARGV[2]` at `KEYS[1]` for `ARGV[3]` ms only if the session's generation (`KEYS[2]`)
 * is still `ARGV[1]`, the one read before Didit was asked: a drop in between (a webhook, a
 * review) means the answer may be older than the change, and it must not be served for hours.
 */
const WRITE_SCRIPT = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

type ScriptedRedis = Redis & {
  writeIfGeneration(valueKey: string, generationKey: string, generation: string, value: Buffer, keepMs: number): Promise<number>;
  releaseIfOwn(readingKey: string, instance: string): Promise<number>;
};

/**
 * Redis keys are an HMAC of the session id (they tell nothing about the session), and values
 * are sealed with AES-256-GCM bound to their key, so a value read under another key, written
 * with another `DECISION_CACHE_KEY` or altered in Redis fails to open and reads as a miss.
 */
export function createSharedDecisions(options: SharedDecisionsOptions): SharedDecisions {
  const { prefix, log } = options;
  const sealKey = Buffer.from(hkdfSync('sha256', options.key, '', 'didit-gateway decision cache: values', 32));
  const nameKey = Buffer.from(hkdfSync('sha256', options.key, '', 'didit-gateway decision cache: key names', 32));
  const channel = `${prefix}decision-cache:drops`;
  const instance = randomUUID();

  const names = (sessionId: string) => {
    const hash = createHmac('sha256', nameKey).update(sessionId).digest('base64url');
    // One hash tag for both keys: a Redis Cluster keeps them in one slot, as the script needs.
    return { value: `${prefix}decision:{${hash}}`, generation: `${prefix}decision-generation:{${hash}}`, reading: `${prefix}decision-reading:{${hash}}` };
  };

  const commands = new Redis(options.redisUrl, {
    // Fail at once while Redis is away (the read goes to Didit) rather than queue in memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
  }) as ScriptedRedis;
  commands.defineCommand('writeIfGeneration', { numberOfKeys: 2, lua: WRITE_SCRIPT });
  commands.defineCommand('releaseIfOwn', { numberOfKeys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1" });
  const subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });

  let healthy = true;
  let closed = false;
  // Logged once when the shared level goes away, once when it is back: not per read.
  const failed = (error?: unknown) => {
    if (!healthy || closed) return;
    healthy = false;
    log.warn({ reason: error instanceof Error ? error.message : 'connection lost' }, 'shared decision cache unavailable; reading through this instance only');
  };
  commands.on('error', failed);
  commands.on('close', () => failed());
  subscriber.on('error', () => {});

  const succeeded = () => {
    if (healthy) return;
    healthy = true;
    log.info('shared decision cache available again');
  };
  let connected = false;
  commands.on('ready', () => {
    if (!connected) log.info('shared decision cache connected');
    connected = true;
    succeeded();
    retryDrops();
  });

  // Sessions dropped while Redis was away: their stored copy may still be there, so this instance
  // does not read it, and the drop is retried (each second, and when the connection is back) so
  // that the others stop reading it too.
  const pending = new Set<string>();
  let retry: NodeJS.Timeout | undefined;
  function retryDrops() {
    clearTimeout(retry);
    retry = undefined;
    for (const sessionId of [...pending]) void drop(sessionId);
  }

  const listeners: Array<(sessionId: string | undefined) => void> = [];
  let subscribed = false;
  subscriber.on('ready', () => {
    // Drops published while this connection was down were lost: forget every local copy.
    if (subscribed) for (const listener of listeners) listener(undefined);
    subscribed = true;
  });
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const opened = open(Buffer.from(message, 'base64'), channel);
    const drop = parse(opened, (value): value is { sessionId: string; instance: string } => typeof value?.sessionId === 'string' && typeof value.instance === 'string');
    if (drop && drop.instance !== instance) for (const listener of listeners) listener(drop.sessionId);
  });
  subscriber.subscribe(channel).catch(() => {});

  function seal(plaintext: string, aad: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT), iv, cipher.getAuthTag(), body]);
  }

  function open(sealed: Buffer, aad: string): string | undefined {
    if (sealed.length < 29 || sealed[0] !== FORMAT) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', sealKey, sealed.subarray(1, 13), { authTagLength: 16 });
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(sealed.subarray(13, 29));
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  async function drop(sessionId: string): Promise<void> {
    pending.delete(sessionId);
    const { value, generation, reading } = names(sessionId);
    try {
      if (commands.status !== 'ready') throw new Error('not connected');
      const message = seal(JSON.stringify({ sessionId, instance }), channel).toString('base64');
      // A read under way is of the old state: the next one need not wait for it.
      const results = await commands.multi().del(value, reading).incr(generation).pexpire(generation, GENERATION_TTL_MS).publish(channel, message).exec();
      const error = results?.find(([commandError]) => commandError)?.[0];
      if (!results || error) throw error ?? new Error('transaction discarded');
      succeeded();
    } catch (error) {
      failed(error);
      if (closed) return;
      if (pending.size >= MAX_PENDING_DROPS) {
        const oldest = pending.values().next().value!;
        pending.delete(oldest);
        log.error('too many session drops waiting for Redis; the oldest is forgotten and its shared copy may be served until it expires');
      }
      pending.add(sessionId);
      retry ??= setTimeout(retryDrops, 1000).unref();
    }
  }

  return {
    async read(sessionId) {
      if (pending.has(sessionId) || commands.status !== 'ready') return {};
      const { value, generation } = names(sessionId);
      try {
        const [stored, current] = await commands.mgetBuffer(value, generation);
        succeeded();
        const copy = stored ? parse(open(stored, value), (c): c is CachedDecision => isCopyOf(c, sessionId)) : undefined;
        return { copy, generation: current?.toString() ?? '0' };
      } catch (error) {
        failed(error);
        return {};
      }
    },
    async claim(sessionId, ms) {
      if (commands.status !== 'ready') return true;
      try {
        return (await commands.set(names(sessionId).reading, instance, 'PX', ms, 'NX')) === 'OK';
      } catch (error) {
        failed(error);
        return true;
      }
    },
    async release(sessionId) {
      if (commands.status !== 'ready') return;
      await commands.releaseIfOwn(names(sessionId).reading, instance).catch(failed);
    },
    async write(sessionId, copy, generation, keepMs) {
      if (keepMs <= 0 || commands.status !== 'ready') return;
      const { value, generation: generationKey } = names(sessionId);
      const sealed = seal(JSON.stringify(copy), value);
      if (sealed.length > MAX_SHARED_VALUE_BYTES) return;
      try {
        await commands.writeIfGeneration(value, generationKey, generation, sealed, Math.ceil(keepMs));
        succeeded();
      } catch (error) {
        failed(error);
      }
    },
    drop,
    onDrop(listener) {
      listeners.push(listener);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      subscriber.disconnect();
      await commands.quit().catch(() => {});
    },
  };
}

function parse<T>(text: string | undefined, valid: (value: any) => value is T): T | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return valid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isCopyOf(value: any, sessionId: string): value is CachedDecision {
  if (!value || typeof value !== 'object' || !Number.isFinite(value.fetchedAt) || !Number.isFinite(value.freshUntil)) return false;
  const decision = value.decision;
  if (decision === undefined) return true;
  return !!decision && typeof decision === 'object' && typeof decision.session_id === 'string' && decision.session_id.toLowerCase() === sessionId;
}
