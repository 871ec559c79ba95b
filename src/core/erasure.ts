import type { Logger } from 'pino';
import type { DecisionCache } from './decision-cache.ts';
import { DELETED_STATUS } from '../domain/status.ts';
import type { Owners } from './owners.ts';
import type { StatusEvents } from './status-events.ts';

/** The longest `erase` keeps its caller waiting for Redis; the rest goes on behind the answer. */
export const ERASE_WAIT_MS = 2000;
const RETRY_MS = 1000;
/** Erasures whose last event waits for Redis; beyond that, the oldest are forgotten (and logged). */
const MAX_PENDING = 10_000;

/**
 * After Didit deleted a session (the gateway's own `deleteSession`, or a 404 for a session a copy
 * of which was kept): this instance forgets it at once, every other instance drops its copies, and
 * subscribers everywhere hear a last `Deleted` event. Answers within `waitMs` whatever Redis does
 * (stopped, or paused): what could not reach Redis by then is retried until it does, and an
 * instance that cannot hear Redis serves no copy unconfirmed meanwhile (decision-cache.ts).
 */
export function createErasure(options: { decisionCache: DecisionCache; events: StatusEvents; owners: Owners; log: Logger; waitMs?: number }) {
  const { decisionCache, events, owners, log, waitMs = ERASE_WAIT_MS } = options;
  /** Sessions whose `Deleted` event has not reached the fleet yet, with the event's time. */
  const pending = new Map<string, number>();
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  async function announce(sessionId: string, timestamp: number): Promise<void> {
    try {
      await events.record({ sessionId, status: DELETED_STATUS, timestamp });
      pending.delete(sessionId);
    } catch (error) {
      if (closed) return;
      if (!pending.has(sessionId)) log.warn({ err: error }, 'the end of an erased session could not be announced yet; retrying until Redis answers');
      if (pending.size >= MAX_PENDING && !pending.has(sessionId)) {
        const oldest = pending.keys().next().value!;
        pending.delete(oldest);
        log.error('too many erasures waiting for Redis; the oldest is no longer announced');
      }
      pending.set(sessionId, timestamp);
      retry ??= setTimeout(retryAll, RETRY_MS).unref();
    }
  }

  function retryAll() {
    retry = undefined;
    for (const [sessionId, timestamp] of pending) void announce(sessionId, timestamp);
  }

  return {
    async erase(sessionId: string): Promise<void> {
      const key = sessionId.toLowerCase();
      owners.forget(key);
      const done = Promise.all([decisionCache.delete(key), announce(key, Math.floor(Date.now() / 1000))]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    },
    close() {
      closed = true;
      clearTimeout(retry);
    },
  };
}
