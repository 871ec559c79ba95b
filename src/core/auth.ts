import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Caller } from './access.ts';
import { Unauthenticated } from './errors.ts';

export interface AuthOptions {
  /** HS256 secret shared with whoever issues callers' tokens. */
  jwtSecret?: string;
  /** An identity provider's JWKS (asymmetric keys, fetched, cached and refreshed by jose). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Claim holding the caller's roles (a list, or a space-separated string); dots reach into objects. */
  rolesClaim: string;
  /** The role in that claim that may read the audit trail (`AUTH_AUDITOR_ROLE`). */
  auditorRole?: string;
}

/** Resolves an `Authorization` header to a caller: null without one, UNAUTHENTICATED for a bad one. */
export type Authenticate = (authorization: string | null | undefined) => Promise<Caller | null>;

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Longest clock difference tolerated between the issuer and us, in seconds. */
const CLOCK_TOLERANCE_S = 30;
/** Verified tokens kept, so a busy caller's signature is checked once, not per request. */
const VERIFIED_CACHE_MAX = 10_000;
const VERIFIED_CACHE_TTL_MS = 60_000;
const MAX_TOKEN_LENGTH = 8192;
const MAX_SUBJECT_LENGTH = 256;

function unauthenticated(message = 'Invalid or expired token'): Unauthenticated {
  return new Unauthenticated(message);
}

/**
 * Verifies callers' JWTs. The algorithm decides the key, and each key admits only its own family:
 * HS256 tokens are checked with the shared secret alone, asymmetric ones with the JWKS alone, so
 * neither `alg: none` nor a public key used as an HMAC secret (key confusion) can pass. Expiry,
 * not-before, issuer and audience are checked by jose; a token must carry an expiry (jose lets one
 * without `exp` live forever), so a leaked token is not good for ever.
 */
export function createAuthenticator(options: AuthOptions): Authenticate {
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
  const verified = new LRUCache<string, Caller & { exp: number }>({ max: VERIFIED_CACHE_MAX, ttl: VERIFIED_CACHE_TTL_MS });
  const claims = { issuer: options.issuer, audience: options.audience, clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp'] };

  async function verify(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated('Malformed token');
    }
    try {
      if (alg === 'HS256' && secret) return (await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] })).payload;
      if (alg && ASYMMETRIC.includes(alg) && jwks) return (await jwtVerify(token, jwks, { ...claims, algorithms: ASYMMETRIC })).payload;
    } catch {
      throw unauthenticated();
    }
    throw unauthenticated('Token algorithm not accepted');
  }

  return async (authorization) => {
    if (!authorization) return null;
    const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization.trim());
    if (!match) throw unauthenticated('Authorization must be "Bearer <JWT>"');
    const token = match[1]!;
    if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated(`The token is over ${MAX_TOKEN_LENGTH} characters`);
    const cached = verified.get(token);
    if (cached && cached.exp > Date.now() / 1000) return { sub: cached.sub, reviewer: cached.reviewer, auditor: cached.auditor, expiresAt: cached.exp };

    const payload = await verify(token);
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw unauthenticated('Token has no subject');
    if (payload.sub.length > MAX_SUBJECT_LENGTH) throw unauthenticated(`The token subject (sub) is over ${MAX_SUBJECT_LENGTH} characters`);
    // jose made sure there is an expiry.
    const roles = rolesOf(payload, options.rolesClaim);
    const caller: Caller = { sub: payload.sub, reviewer: roles.includes('reviewer'), auditor: roles.includes(options.auditorRole ?? 'auditor'), expiresAt: payload.exp! };
    // Remembered never beyond the token's expiry.
    verified.set(token, { ...caller, exp: payload.exp! });
    return caller;
  };
}

function rolesOf(payload: JWTPayload, claim: string): string[] {
  let value: unknown = payload;
  for (const part of claim.split('.')) {
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (typeof value === 'string') return value.split(/\s+/);
  return Array.isArray(value) ? value.filter((role): role is string => typeof role === 'string') : [];
}
