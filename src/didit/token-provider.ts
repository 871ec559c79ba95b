/** A client access token and the moment (ms since the epoch) it stops being valid. */
export interface IssuedToken {
  token: string;
  expiresAt: number;
}

export interface TokenProviderOptions {
  /** Asks Didit for a new token. Called by at most one caller at a time. */
  fetchToken: () => Promise<IssuedToken>;
  /**
   * Share of a token's lifetime after which it is refreshed ahead of time. Default 0.8: a token
   * valid for 24 h is renewed after about 19 h, one valid for 60 s after 48 s.
   */
  refreshAfter?: number;
  /** Called after every successful fetch, for metrics. */
  onRefresh?: () => void;
}

export interface TokenProvider {
  /** A valid token, fetched or refreshed when needed. */
  get(): Promise<string>;
  /**
   * Drops `token` after Didit refused it (401). A token that has already been replaced is left
   * alone, so a burst of 401s for one stale token makes one refresh, not one per call.
   */
  invalidate(token: string): void;
  /** Whether a usable token is held right now (for readiness). */
  hasValidToken(): boolean;
}

interface Cached extends IssuedToken {
  refreshAt: number;
}

/**
 * Caches Didit's client token.
 *
 * 1. A cached token younger than `refreshAt` is returned at once.
 * 2. Past `refreshAt` but before expiry, the cached token is still returned and one refresh starts
 *    in the background; if that refresh fails the old token keeps serving until it expires.
 * 3. With no usable token, every caller waits on the same single fetch: however many calls arrive
 *    at once, one token request is in flight. A failed fetch rejects all its waiters and is
 *    forgotten, so the next call tries again.
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const refreshAfter = options.refreshAfter ?? 0.8;
  let cached: Cached | undefined;
  let inFlight: Promise<string> | undefined;

  function refresh(): Promise<string> {
    inFlight ??= (async () => {
      try {
        const issuedAt = Date.now();
        const issued = await options.fetchToken();
        const lifetime = Math.max(0, issued.expiresAt - issuedAt);
        cached = { ...issued, refreshAt: issuedAt + lifetime * refreshAfter };
        options.onRefresh?.();
        return issued.token;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  return {
    get() {
      const now = Date.now();
      if (cached && now < cached.expiresAt) {
        if (now >= cached.refreshAt && !inFlight) {
          // Background refresh: its failure is not this caller's problem.
          refresh().catch(() => {});
        }
        return Promise.resolve(cached.token);
      }
      return refresh();
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
    hasValidToken() {
      return cached !== undefined && Date.now() < cached.expiresAt;
    },
  };
}
