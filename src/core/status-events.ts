import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { continueTrace, currentTraceparent, traceRedisCommands } from '../lib/tracing.ts';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { DELETED_STATUS, SEEN_KEYS, decide, deliveryKey, followsTable, type Seen } from '../domain/status.ts';
import { createLiveQueue, type LiveQueue } from './live-queue.ts';

/** A session's status changed: a verified webhook told one of the gateway's instances, or the gateway changed it itself. */
export interface StatusEvent {
  sessionId: string;
  /** Didit's status string, e.g. "Approved"; or `Deleted`, the gateway's own, after an erasure. */
  status: string;
  /** Unix seconds: Didit's, from the signed webhook body; the gateway's for an `observed` status. */
  timestamp: number;
  /** Didit's event id (v3 deliveries). */
  eventId?: string;
  /** Read from Didit by the gateway after a change it made itself (no webhook). */
  observed?: boolean;
  /** v3, on `Resubmitted`: the steps the applicant is asked to do again, and why. */
  resubmit?: ResubmitStep[];
}

export interface ResubmitStep {
  nodeId: string;
  feature: string | null;
  reason: string | null;
}

export interface StatusEvents {
  /**
   * Records a delivery and, when it is news (`decide`, domain/status.ts), sends it to every
   * instance: true. False for a duplicate, or a delivery older than the newest one seen. Rejects
   * when it could not be sent (Redis away or stalled), and then records nothing: Didit's retry is
   * news again.
   */
  record(event: StatusEvent): Promise<boolean>;
  /**
   * Events for one session on this instance, from this call on (not from the first read: a
   * change during the subscriber's own first read is not missed), until `return()`.
   */
  subscribe(sessionId: string): LiveQueue<StatusEvent>;
  /** Every session's events on this instance (the reviewers' live queue), from this call on. */
  subscribeAll(): LiveQueue<StatusEvent>;
  /** Called for every event this instance receives (the decision cache drops its copy); `own` when this instance recorded it. */
  onEvent(listener: (event: StatusEvent, own: boolean) => void): void;
  /** Subscribers on this instance. */
  subscriberCount(): number;
  /** True without Redis; with Redis, whether both connections are up. */
  connected(): boolean;
  close(): Promise<void>;
}

/** Events one subscriber may leave unread before it is ended (a client that stopped reading). */
const MAX_WAITING_EVENTS = 1000;
/** The key of the subscribers of every session (no session id looks like it). */
const ALL = '*';
/** Events kept in the stream (about): enough for an instance away for minutes to catch up. */
const MAX_STREAM_LENGTH = 10_000;
/** How long a session's deliveries are remembered for de-duplication and ordering (far beyond the replay window). */
const SEEN_TTL_SECONDS = 7 * 24 * 3600;
/**
 * How long an erased session's last status is remembered: past the webhooks' replay window
 * (webhooks.ts refuses deliveries signed more than five minutes ago), so a late one is no news.
 */
const ERASED_TTL_SECONDS = 10 * 60;
/** How long the last event of an erased session stays in the stream: every instance reading it has read it by then. */
const ERASED_EVENT_KEEP_MS = 60_000;
const SEEN_MAX = 100_000;
/** Longest a Redis command of this module may take: a stalled Redis must not hang webhooks or erasure. */
const REDIS_COMMAND_TIMEOUT_MS = 2000;

/**
 * `decide` (domain/status.ts), atomically: remember the delivery, and when it is news append the
 * event to the stream. The append comes first: a script is not rolled back, so if it fails nothing
 * is remembered. An erasure (`Deleted`) also removes the session's earlier entries from the stream
 * and remembers it only briefly.
 * KEYS[1] = the session's key, KEYS[2] = the stream;
 * ARGV = timestamp, status, ttl, event, stream length, observed ("1"/"0"), delivery key,
 * keys kept, session id, erased ttl, erased event kept ms, origin (the recording instance), the
 * recording's `traceparent` (or ""), then `followsTable(status)`.
 * Answers the new entry's id, or 0 when the delivery is no news.
 */
const RECORD_SCRIPT = `
local seen = redis.call('HMGET', KEYS[1], 'ts', 'status', 'obs', 'keys')
local ts, status, observed, key = tonumber(ARGV[1]), ARGV[2], ARGV[6] == '1', ARGV[7]
local news, nts, nstatus, nobs, keys = true, ts, status, observed, {}
if observed then nts = 0 end
if seen[2] then
  local lts, lstatus, lobs = tonumber(seen[1]), seen[2], seen[3] == '1'
  keys = cjson.decode(seen[4] or '[]')
  if lstatus == 'Deleted' then return 0 end
  nts, nobs = lts, lobs
  if status == 'Deleted' then
  elseif observed then
    if status == lstatus then return 0 end
    nobs = true
  else
    for _, k in ipairs(keys) do
      if k == key then return 0 end
    end
    if ts < lts then return 0 end
    table.insert(keys, key)
    while #keys > tonumber(ARGV[8]) do table.remove(keys, 1) end
    if status == lstatus then
      news, nts, nobs = false, ts, false
    else
      if ts == lts or lobs then
        local follows = nil
        for i = 14, #ARGV, 2 do
          if ARGV[i] == lstatus then follows = ARGV[i + 1] == '1' end
        end
        if follows == nil then follows = ts > lts end
        news = follows
      end
      if news then nts, nobs = ts, false else nstatus = lstatus end
    end
  end
elseif not observed and status ~= 'Deleted' then
  keys = { key }
end
local id = 0
if news then
  if status == 'Deleted' then
    -- Nothing of an erased session stays in the stream: its earlier events, and the last events
    -- of sessions erased a while ago (every instance has read them since).
    local before = tonumber(redis.call('TIME')[1]) * 1000 - tonumber(ARGV[11])
    for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
      local ok, event = pcall(cjson.decode, entry[2][2])
      if ok and type(event) == 'table' then
        local erased = event.status == 'Deleted' and tonumber(string.match(entry[1], '^%d+')) < before
        if event.sessionId == ARGV[9] or erased then redis.call('XDEL', KEYS[2], entry[1]) end
      end
    end
  end
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[4], 'origin', ARGV[12], 'trace', ARGV[13])
end
redis.call('HSET', KEYS[1], 'ts', nts, 'status', nstatus, 'obs', nobs and '1' or '0', 'keys', cjson.encode(keys))
redis.call('EXPIRE', KEYS[1], tonumber(status == 'Deleted' and ARGV[10] or ARGV[3]))
return id
`;

/**
 * Status events between webhooks and subscribers. Without Redis, one process: in-memory fan-out
 * and de-duplication. With Redis, every instance appends events to one Redis stream and reads it
 * from where it left off, and de-duplicates through one Redis key per session, so a webhook
 * received by any instance reaches the subscribers of every instance exactly once.
 *
 * A stream rather than pub/sub: an instance whose connection drops picks up, when it returns, the
 * events appended meanwhile (pub/sub would lose them silently, and the publishing instance could
 * not tell, since Didit had already been answered 200).
 */
export function createStatusEvents(options: { redisUrl?: string; keyPrefix?: string; log: Logger; erasedEventKeepMs?: number }): StatusEvents {
  const { log, erasedEventKeepMs = ERASED_EVENT_KEEP_MS } = options;
  const prefix = options.keyPrefix ?? 'didit-gateway:';
  const stream = `${prefix}session-status`;
  const seenPrefix = `${prefix}webhook-seen:`;
  const local = new Map<string, Set<LiveQueue<StatusEvent>>>();
  const listeners: Array<(event: StatusEvent, own: boolean) => void> = [];
  /** Marks this instance's events in the stream. */
  const origin = randomUUID();

  /** Subscribers by session id; `ALL` holds those of every session. */
  function dispatch(event: StatusEvent, own = true) {
    for (const listener of listeners) listener(event, own);
    for (const subscriber of local.get(event.sessionId) ?? []) subscriber.push(event);
    for (const subscriber of local.get(ALL) ?? []) subscriber.push(event);
  }

  function subscribe(sessionId: string): LiveQueue<StatusEvent> {
    let set = local.get(sessionId);
    if (!set) local.set(sessionId, (set = new Set()));
    const subscribers = set;
    // A subscriber that stops reading is ended, not buffered for without bound.
    const queue: LiveQueue<StatusEvent> = createLiveQueue({
      max: MAX_WAITING_EVENTS,
      onEnd() {
        subscribers.delete(queue);
        if (subscribers.size === 0 && local.get(sessionId) === subscribers) local.delete(sessionId);
      },
    });
    subscribers.add(queue);
    return queue;
  }

  let redis: { commands: Redis; reader: Redis } | undefined;
  let stopped = false;
  if (options.redisUrl) {
    // Commands fail at once while Redis is away (the webhook answers 503 and Didit retries),
    // instead of queueing in memory. The reader waits for Redis to return and reads on.
    // A command that gets no answer (Redis stalled, not gone) fails after REDIS_COMMAND_TIMEOUT_MS.
    const commands = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
    const reader = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    traceRedisCommands(commands, 'status-events');
    for (const [name, client] of [['commands', commands], ['reader', reader]] as const) {
      let up = false;
      client.on('ready', () => {
        if (!up) log.info({ connection: name }, 'redis connected');
        up = true;
      });
      const lost = (error?: Error) => {
        if (up && !stopped) log.error({ connection: name, err: error }, 'redis connection lost; reconnecting');
        up = false;
      };
      client.on('error', lost);
      client.on('close', () => lost());
    }
    redis = { commands, reader };
    void readStream(reader);
  }

  /** Reads the stream from the newest entry at start, then onwards from the last one seen. */
  async function readStream(reader: Redis) {
    let lastId: string | undefined;
    while (!stopped) {
      try {
        lastId ??= (await reader.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
        const batches = await reader.xread('COUNT', 500, 'BLOCK', 5000, 'STREAMS', stream, lastId);
        for (const [, entries] of batches ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const event = parseEvent(fields[1]);
            // Its delivery here continues the trace of whoever recorded it (a webhook, a change).
            if (event) continueTrace('status_events.deliver', fields[5] || undefined, { 'didit.status': event.status.slice(0, 40) }, () => dispatch(event, fields[3] === origin));
          }
        }
      } catch (error) {
        if (stopped) return;
        log.warn({ err: error }, 'reading status events failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  const seen = new LRUCache<string, Seen>({ max: SEEN_MAX, ttl: SEEN_TTL_SECONDS * 1000 });

  return {
    async record(event) {
      if (redis) {
        const key = `${seenPrefix}${event.sessionId}`;
        const args = [
          event.timestamp, event.status, SEEN_TTL_SECONDS, JSON.stringify(event), MAX_STREAM_LENGTH, event.observed ? '1' : '0',
          deliveryKey(event), SEEN_KEYS, event.sessionId, ERASED_TTL_SECONDS, erasedEventKeepMs, origin, currentTraceparent() ?? '', ...followsTable(event.status),
        ];
        const entry = await redis.commands.eval(RECORD_SCRIPT, 2, key, stream, ...args);
        if (typeof entry === 'string' && event.status === DELETED_STATUS) {
          // The erasure's own event goes too, once every instance has read it.
          const commands = redis.commands;
          setTimeout(() => void commands.xdel(stream, entry).catch(() => {}), erasedEventKeepMs).unref();
        }
        return entry !== 0;
      }
      // Without Redis, what was seen lives in this process only: a restarted gateway takes a
      // replayed delivery (within the replay window, see webhooks.ts) as news once more.
      const { news, seen: next } = decide(seen.get(event.sessionId), event);
      seen.set(event.sessionId, next);
      if (news) queueMicrotask(() => dispatch(event));
      return news;
    },
    subscribe,
    subscribeAll: () => subscribe(ALL),
    onEvent(listener) {
      listeners.push(listener);
    },
    subscriberCount() {
      let count = 0;
      for (const set of local.values()) count += set.size;
      return count;
    },
    connected() {
      return !redis || (redis.commands.status === 'ready' && redis.reader.status === 'ready');
    },
    async close() {
      stopped = true;
      for (const set of local.values()) for (const subscriber of [...set]) subscriber.end();
      if (redis) {
        // The reader may be blocked in XREAD: cut it rather than wait for its answer.
        redis.reader.disconnect();
        await redis.commands.quit().catch(() => {});
      }
    },
  };
}

function parseEvent(text: string | undefined): StatusEvent | undefined {
  try {
    const event = JSON.parse(text ?? '') as StatusEvent | null;
    const valid = typeof event?.sessionId === 'string' && typeof event.status === 'string' && typeof event.timestamp === 'number';
    if (!valid) return undefined;
    const { sessionId, status, timestamp, eventId, observed, resubmit } = event;
    return {
      sessionId, status, timestamp,
      ...(typeof eventId === 'string' && { eventId }),
      ...(observed === true && { observed }),
      ...(Array.isArray(resubmit) && { resubmit }),
    };
  } catch {
    return undefined;
  }
}
