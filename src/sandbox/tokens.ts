/**
 * The client access tokens the sandbox issues at `POST /auth/v2/token/`: opaque random strings,
 * each valid for the configured lifetime. Time is read from `Date.now()`, so tests can expire
 * tokens with fake timers instead of waiting.
 */
import { randomBytes } from 'node:crypto';

export interface IssuedToken {
  accessToken: string;
  /** Unix seconds. */
  iat: number;
  exp: number;
}

export class AccessTokens {
  /** Token → expiry in epoch milliseconds. */
  private readonly expiries = new Map<string, number>();

  constructor(private readonly ttlSeconds: number) {}

  issue(): IssuedToken {
    const now = Date.now();
    // Forget expired tokens here, so a long soak run does not keep every token it ever got.
    for (const [token, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(token);
    const accessToken = randomBytes(32).toString('base64url');
    const expiry = now + this.ttlSeconds * 1000;
    this.expiries.set(accessToken, expiry);
    return { accessToken, iat: Math.floor(now / 1000), exp: Math.floor(expiry / 1000) };
  }

  isValid(token: string): boolean {
    const expiry = this.expiries.get(token);
    return expiry !== undefined && Date.now() < expiry;
  }

  /** Every token issued so far stops working, as when Didit rotates its keys. */
  revokeAll(): void {
    this.expiries.clear();
  }
}
