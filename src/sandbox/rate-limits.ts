/**
 * Didit's per-key rate limits (docs/didit-v3.md §11), for the sandbox's v3 API when `rateLimits` is on:
 * each request counts in its endpoint's scope (if it has one) and in the generic scope of its
 * method, over a 60 s sliding window; the first scope to overflow answers 429. Time is read from
 * `Date.now()`, so tests can move it with fake timers.
 */

const WINDOW_MS = 60_000;

export interface Scope {
  name: string;
  /** Requests per window. */
  limit: number;
}

/** Every GET, and every POST / PATCH / DELETE, per key (the current docs edition). */
export const GENERIC_GET: Scope = { name: 'generic-get', limit: 600 };
export const GENERIC_WRITE: Scope = { name: 'generic-write', limit: 300 };

export interface Verdict {
  allowed: boolean;
  /** The scope the headers describe: the one refused, else the tightest. */
  scope: Scope;
  remaining: number;
  /** Epoch seconds when a request of that scope leaves the window. */
  reset: number;
  /** Seconds until a refused request may be tried again. */
  retryAfter: number;
}

export class RateLimiter {
  /** Request times by `key scope`, oldest first. */
  private readonly windows = new Map<string, number[]>();

  /** Counts one request in each of `scopes` unless one of them is full. */
  take(key: string, scopes: readonly Scope[]): Verdict {
    const now = Date.now();
    const states = scopes.map((scope) => {
      const id = `${key}\u0000${scope.name}`;
      const times = (this.windows.get(id) ?? []).filter((t) => t > now - WINDOW_MS);
      this.windows.set(id, times);
      return { scope, times };
    });
    const full = states.find(({ scope, times }) => times.length >= scope.limit);
    if (full) {
      const reset = full.times[0]! + WINDOW_MS;
      return { allowed: false, scope: full.scope, remaining: 0, reset: Math.ceil(reset / 1000), retryAfter: Math.max(1, Math.ceil((reset - now) / 1000)) };
    }
    for (const { times } of states) times.push(now);
    const tightest = states.reduce((a, b) => (b.scope.limit - b.times.length < a.scope.limit - a.times.length ? b : a));
    return {
      allowed: true,
      scope: tightest.scope,
      remaining: tightest.scope.limit - tightest.times.length,
      reset: Math.ceil((tightest.times[0]! + WINDOW_MS) / 1000),
      retryAfter: 0,
    };
  }
}

/** The headers Didit sends with a rate-limited answer. */
export function rateLimitHeaders(verdict: Pick<Verdict, 'scope' | 'remaining' | 'reset'>): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(verdict.scope.limit),
    'X-RateLimit-Remaining': String(verdict.remaining),
    'X-RateLimit-Reset': String(verdict.reset),
  };
}
