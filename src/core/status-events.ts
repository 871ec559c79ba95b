import { Repeater } from 'graphql-yoga';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { followsTable, isNews } from './status-order.ts';

/** A session's status changed, as a verified webhook told one of the gateway's instances. */
export interface StatusEvent {
  sessionId: string;
  /** Didit's status string, e.g. "Approved"; or `Deleted`, the gateway's own, after an erasure. */
  status: string;
  /** Unix seconds, from the webhook body: orders deliveries for one session. */
  timestamp: number;
  /** v3, on `Resubmitted`: the steps the applicant is asked to do again, and why. */
  resubmit?: ResubmitStep[];
}

export interface ResubmitStep {
  nodeId: string;
  feature: string | null;
  reason: string | null;
}

/** The status of the last event of a session the gateway erased at Didit. */
export const DELETED_STATUS = 'Deleted';

export interface StatusEvents {
  /**
   * Records a delivery and, when it is news, sends it to every instance: true. False for a
   * duplicate, or a status that does not follow the last one seen (`isNews`). Rejects when it could
   * not be sent (Redis away), and then records nothing: Didit's retry is news again.
   */
  record(event: StatusEvent): Promise<boolean>;
  /** Events for one session on this instance, until the consumer stops. */
  subscribe(sessionId: string): AsyncIterableIterator<StatusEvent>;
  /** Every session's events on this instance (the reviewers' live queue), until the consumer stops. */
  subscribeAll(): AsyncIterableIterator<StatusEvent>;
  /** Called for every event this instance receives (the decision cache drops its copy). */
  onEvent(listener: (event: StatusEvent) => void): void;
  /** Subscribers on this instance. */
  subscriberCount(): number;
  /** True without Redis; with Redis, whether both connections are up. */
  connected(): boolean;
  close(): Promise<void>;
}

/** Events one subscriber may leave unread before it is ended (a client that stopped reading); under the repeater's own 1,024. */
const MAX_WAITING_EVENTS = 1000;
/** The key of the subscribers of every session (no session id looks like it). */
const ALL = '*';
/** Events kept in the stream (about): enough for an instance away for minutes to catch up. */
const MAX_STREAM_LENGTH = 10_000;
/** How long a session's last delivery is remembered for de-duplication and ordering. */
const SEEN_TTL_SECONDS = 7 * 24 * 3600;
const SEEN_MAX = 100_000;

/**
 * Where a status stands in a session's life, for a subscriber's read of the session: a status
 * read at a later stage than its event's needs no second read. (Which deliveries are news is
 * status-order.ts's.)
 */
export function stage(status: string): number {
  return status === 'Not Started' ? 0 : status === 'In Progress' ? 1 : 2;
}

/**
 * `isNews` (status-order.ts), atomically: refuse a delivery that is not news after the newest seen
 * for the session; otherwise append the event to the stream and remember it. The append comes
 * first: a script is not rolled back, so if it fails nothing is remembered.
 * KEYS[1] = the session's key, KEYS[2] = the stream;
 * ARGV = timestamp, status, ttl, event, stream length, then `followsTable(status)`.
 */
const RECORD_SCRIPT = `
local seen = redis.call('HMGET', KEYS[1], 'ts', 'status')
if seen[1] then
  local ts, incoming = tonumber(seen[1]), tonumber(ARGV[1])
  if seen[2] == ARGV[2] then return 0 end
  if ARGV[2] ~= 'Deleted' then
    if incoming < ts then return 0 end
    local follows = nil
    for i = 6, #ARGV, 2 do
      if ARGV[i] == seen[2] then follows = ARGV[i + 1] == '1' end
    end
    if follows == nil then follows = incoming > ts end
    if not follows then return 0 end
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[4])
redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'status', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
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
export function createStatusEvents(options: { redisUrl?: string; keyPrefix?: string; log: Logger }): StatusEvents {
  const { log } = options;
  const prefix = options.keyPrefix ?? 'didit-gateway:';
  const stream = `${prefix}session-status`;
  const seenPrefix = `${prefix}webhook-seen:`;
  const local = new Map<string, Set<Subscriber>>();
  const listeners: Array<(event: StatusEvent) => void> = [];

  /** Subscribers by session id; `ALL` holds those of every session. */
  function dispatch(event: StatusEvent) {
    for (const listener of listeners) listener(event);
    for (const subscriber of local.get(event.sessionId) ?? []) subscriber.push(event);
    for (const subscriber of local.get(ALL) ?? []) subscriber.push(event);
  }

  function subscribe(sessionId: string): AsyncIterableIterator<StatusEvent> {
    return new Repeater<StatusEvent>(async (push, stop) => {
      let set = local.get(sessionId);
      if (!set) local.set(sessionId, (set = new Set()));
      let waiting = 0;
      const subscriber: Subscriber = {
        push(event) {
          // A subscriber that stops reading is ended, not buffered for without bound: its events
          // would pile up until the repeater throws inside the fan-out to everyone else.
          if (waiting >= MAX_WAITING_EVENTS) return void stop();
          waiting += 1;
          push(event).then(
            () => (waiting -= 1),
            () => (waiting -= 1),
          );
        },
        stop: () => stop(),
      };
      set.add(subscriber);
      await stop;
      set.delete(subscriber);
      if (set.size === 0) local.delete(sessionId);
    });
  }

  let redis: { commands: Redis; reader: Redis } | undefined;
  let stopped = false;
  if (options.redisUrl) {
    // Commands fail at once while Redis is away (the webhook answers 503 and Didit retries),
    // instead of queueing in memory. The reader waits for Redis to return and reads on.
    const commands = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const reader = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
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
            if (event) dispatch(event);
          }
        }
      } catch (error) {
        if (stopped) return;
        log.warn({ err: error }, 'reading status events failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  const seen = new LRUCache<string, { timestamp: number; status: string }>({ max: SEEN_MAX, ttl: SEEN_TTL_SECONDS * 1000 });

  return {
    async record(event) {
      if (redis) {
        const key = `${seenPrefix}${event.sessionId}`;
        const args = [event.timestamp, event.status, SEEN_TTL_SECONDS, JSON.stringify(event), MAX_STREAM_LENGTH, ...followsTable(event.status)];
        return (await redis.commands.eval(RECORD_SCRIPT, 2, key, stream, ...args)) === 1;
      }
      // Without Redis, what was seen lives in this process only: a restarted gateway takes a
      // replayed delivery (within the five minutes X-Timestamp allows) as news once more.
      if (!isNews(seen.get(event.sessionId), event)) return false;
      seen.set(event.sessionId, { timestamp: event.timestamp, status: event.status });
      queueMicrotask(() => dispatch(event));
      return true;
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
      for (const set of local.values()) for (const subscriber of set) subscriber.stop();
      if (redis) {
        // The reader may be blocked in XREAD: cut it rather than wait for its answer.
        redis.reader.disconnect();
        await redis.commands.quit().catch(() => {});
      }
    },
  };
}

interface Subscriber {
  push(event: StatusEvent): void;
  stop(): void;
}

function parseEvent(text: string | undefined): StatusEvent | undefined {
  try {
    const event = JSON.parse(text ?? '') as StatusEvent | null;
    const valid = typeof event?.sessionId === 'string' && typeof event.status === 'string' && typeof event.timestamp === 'number';
    if (!valid) return undefined;
    const { sessionId, status, timestamp, resubmit } = event;
    return { sessionId, status, timestamp, ...(Array.isArray(resubmit) && { resubmit }) };
  } catch {
    return undefined;
  }
}
