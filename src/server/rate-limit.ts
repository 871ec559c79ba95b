import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { GatewayContext } from './context.ts';

const WINDOW_MS = 60_000;
/** Callers tracked at once; the least recently seen are forgotten first. */
const TRACKED_CALLERS = 50_000;

/**
 * At most `perMinute` operations per caller per minute window, counted per instance. Callers are
 * told RATE_LIMITED with `retryAfter` (seconds) before anything executes or reaches Didit.
 * Authenticated callers are keyed by `sub`; a request without a token by its address.
 */
export function useCallerRateLimit(perMinute: number): Plugin {
  const windows = new LRUCache<string, { count: number; resetAt: number }>({ max: TRACKED_CALLERS, ttl: WINDOW_MS });

  const check = (context: GatewayContext & { req?: { socket?: { remoteAddress?: string } }; request?: Request }) => {
    const key = context.caller ? `sub:${context.caller.sub}` : `ip:${context.req?.socket?.remoteAddress ?? 'unknown'}`;
    const now = Date.now();
    let window = windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + WINDOW_MS };
      windows.set(key, window);
    }
    window.count += 1;
    if (window.count <= perMinute) return null;
    const retryAfter = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
    return new GraphQLError('Too many requests; try again later', { extensions: { code: 'RATE_LIMITED', retryAfter } });
  };

  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args.contextValue as never);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args.contextValue as never);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
