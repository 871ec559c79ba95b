/** Checks of the secrets callers present, in constant time so timing tells nothing about them. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether two secrets are equal; hashing first gives `timingSafeEqual` the equal lengths it needs. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/** Whether a Basic `Authorization` header carries exactly these credentials. */
export function basicCredentialsMatch(header: string | undefined, clientId: string, clientSecret: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both compared always, so timing does not tell whether the client id alone was right.
  const idMatches = sameSecret(decoded.slice(0, colon), clientId);
  const secretMatches = sameSecret(decoded.slice(colon + 1), clientSecret);
  return idMatches && secretMatches;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * A UUID-shaped id that is the same for the same input: the token's `sub` and `organization_id`,
 * and the v3 webhooks' `application_id` (the same application as the token's `sub`).
 */
export function stableUuid(input: string): string {
  const hex = sha256(input).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
