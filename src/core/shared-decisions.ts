import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { traceRedisCommands } from '../lib/tracing.ts';
import type { Logger } from 'pino';
import type { Decision } from '../domain/model.ts';

/** A copy of Didit's answer for one session, as both cache levels keep it. */
export interface CachedDecision {
  /** Didit's decision; absent when Didit said it has no such session. */
  decision?: Decision;
  /** When Didit last confirmed this answer (ms since epoch): how old a stale copy is. */
  fetchedAt: number;
  /**
   * When the whole decision was last read from Didit, if before `fetchedAt`: Didit's session list
   * confirms a copy's status and name only, so it renews a copy for a bounded time after that read.
   */
  readAt?: number;
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
   * Claims the read of a session from Didit for the fleet, for `ms`: undefined when another read
   * holds the claim (its answer will be stored), otherwise a token naming this read (Redis away
   * included), for `release`.
   */
  claim(sessionId: string, ms: number): Promise<string | undefined>;
  /** Gives a claim back once its read has ended (stored or failed), if the claim is still that read's. */
  release(sessionId: string, token: string): Promise<void>;
  /** Stores a copy for `keepMs`, unless the session was dropped since `generation` was read. */
  write(sessionId: string, copy: CachedDecision, generation: string, keepMs: number): Promise<void>;
  /**
   * Drops the stored copy, makes writes of reads already under way fail, and tells every other
   * instance to drop its own. When Redis is away, retried as soon as it is back.
   */
  drop(sessionId: string): Promise<void>;
  /**
   * Another instance dropped a session; `undefined`: drops may have been missed (the link to Redis
   * was lost, or is back after a loss), drop everything.
   */
  onDrop(listener: (sessionId: string | undefined) => void): void;
  /**
   * While this instance hears every drop: a number that changes with every loss of the link to
   * Redis (a copy stored under another number may have missed one). Undefined while it may be
   * missing drops (Redis away or not answering).
   */
  listening(): number | undefined;
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
 * Each drop sets a new random generation: one that expired and came back could never equal a
 * generation some read is still holding (a counter would restart at 1).
 */
const GENERATION_TTL_MS = 3_600_000;
/** How often a quiet link to Redis is checked, so that a paused Redis is noticed within about a second. */
const HEARTBEAT_MS = 1000;
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
 * The shape of a stored copy (`domain/model.ts`'s `Decision`), named in its key: an instance of
 * another version (a rolling deploy) reads a copy of another shape as a miss, never as its own.
 * Raise it whenever the model changes. Drops and claims stay shared, so a change reaches both.
 */
export const DECISION_FORMAT = 2;

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
    return { value: `${prefix}decision:v${DECISION_FORMAT}:{${hash}}`, generation: `${prefix}decision-generation:{${hash}}`, reading: `${prefix}decision-reading:{${hash}}` };
  };

  const commands = new Redis(options.redisUrl, {
    // Fail at once while Redis is away (the read goes to Didit) rather than queue in memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
  }) as ScriptedRedis;
  traceRedisCommands(commands, 'decision-cache');
  commands.defineCommand('writeIfGeneration', { numberOfKeys: 2, lua: WRITE_SCRIPT });
  commands.defineCommand('releaseIfOwn', { numberOfKeys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1" });
  const subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });

  const listeners: Array<(sessionId: string | undefined) => void> = [];
  let healthy = true;
  let closed = false;
  // Bumped at every loss: copies stored before it must not answer unconfirmed after it.
  let epoch = 1;
  const lost = () => {
    epoch += 1;
    for (const listener of listeners) listener(undefined);
  };
  // Logged once when the shared level goes away, once when it is back: not per read.
  const failed = (error?: unknown) => {
    if (!healthy || closed) return;
    healthy = false;
    log.warn({ reason: error instanceof Error ? error.message : 'connection lost' }, 'shared decision cache unavailable; reading through this instance only');
    lost();
  };
  commands.on('error', failed);
  commands.on('close', () => failed());
  subscriber.on('error', () => {});
  subscriber.on('close', () => {
    if (!closed && subscribed) lost();
  });
  // A paused Redis keeps its connections open: only an unanswered command tells.
  const heartbeat = setInterval(() => {
    if (commands.status === 'ready') commands.ping().then(succeeded, failed);
  }, HEARTBEAT_MS).unref();

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
      const results = await commands.multi().del(value, reading).set(generation, randomUUID(), 'PX', GENERATION_TTL_MS).publish(channel, message).exec();
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
      // Each read its own token: a read dropped meanwhile must not release its successor's claim.
      const token = randomUUID();
      if (commands.status !== 'ready') return token;
      try {
        return (await commands.set(names(sessionId).reading, token, 'PX', ms, 'NX')) === 'OK' ? token : undefined;
      } catch (error) {
        failed(error);
        return token;
      }
    },
    async release(sessionId, token) {
      if (commands.status !== 'ready') return;
      await commands.releaseIfOwn(names(sessionId).reading, token).catch(failed);
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
    listening() {
      return healthy && subscribed && subscriber.status === 'ready' && commands.status === 'ready' ? epoch : undefined;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(heartbeat);
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
  return !!decision && typeof decision === 'object' && typeof decision.sessionId === 'string' && decision.sessionId.toLowerCase() === sessionId;
}
