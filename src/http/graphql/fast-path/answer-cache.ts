import { LRUCache } from 'lru-cache';

/** A finished answer to one query, as sent. */
export interface CachedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The operation's name, for metrics. */
  operation: string | undefined;
}

export interface AnswerCache {
  readonly enabled: boolean;
  get(key: string): CachedResponse | undefined;
  /** Changes whenever a session is dropped: an answer begun before a drop may be stale. */
  generation(): number;
  /**
   * Keeps an answer for `ttlMs` at most, and only until one of the sessions it read changes.
   * Not kept if any session was dropped since `generation` (read before executing).
   */
  set(key: string, response: CachedResponse, sessions: Iterable<string>, ttlMs: number, generation: number): void;
  /** Forgets every answer that read this session. */
  dropSession(sessionId: string): void;
}

/** Room for answers, whatever their number: bodies are a few kB. */
const MAX_BYTES = 32 * 1024 * 1024;

interface Entry {
  response: CachedResponse;
  sessions: string[];
}

/**
 * Answers to repeated queries (a frontend polling its session's status), kept per caller and
 * request body, so a repeat costs no GraphQL work at all. An answer never outlives the decisions
 * it was made from: its lifetime is their remaining one, and a webhook or review that drops a
 * decision drops every answer that read it. Only error-free query answers are kept (see the
 * fast path); `max` 0 turns it off.
 */
export function createAnswerCache(max: number): AnswerCache {
  if (max === 0) return { enabled: false, get: () => undefined, generation: () => 0, set: () => {}, dropSession: () => {} };
  let drops = 0;
  const keysBySession = new Map<string, Set<string>>();
  const cache = new LRUCache<string, Entry>({
    max,
    maxSize: MAX_BYTES,
    sizeCalculation: (entry, key) => entry.response.body.length + key.length,
    dispose: (entry, key) => {
      for (const id of entry.sessions) {
        const keys = keysBySession.get(id);
        keys?.delete(key);
        if (keys?.size === 0) keysBySession.delete(id);
      }
    },
  });
  return {
    enabled: true,
    get: (key) => cache.get(key)?.response,
    generation: () => drops,
    set(key, response, sessions, ttlMs, generation) {
      if (generation !== drops) return;
      const ids = [...new Set([...sessions].map((id) => id.toLowerCase()))];
      cache.set(key, { response, sessions: ids }, { ttl: ttlMs });
      if (!cache.has(key)) return; // too big to keep
      for (const id of ids) {
        let keys = keysBySession.get(id);
        if (!keys) keysBySession.set(id, (keys = new Set()));
        keys.add(key);
      }
    },
    dropSession(sessionId) {
      drops += 1;
      for (const key of [...(keysBySession.get(sessionId.toLowerCase()) ?? [])]) cache.delete(key);
    },
  };
}
