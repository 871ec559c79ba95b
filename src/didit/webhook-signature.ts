/**
 * Signing primitives for Didit status webhooks, shared by the sandbox (which signs) and the
 * gateway (which verifies), so both sides compute exactly the same bytes.
 *
 * - `X-Signature` is the hex HMAC-SHA256 of the exact raw body: the receiver must hash the bytes
 *   it received, before any JSON parsing, because re-serialising can change them.
 * - `X-Signature-V2` is the hex HMAC-SHA256 of the canonical JSON of the parsed body: it survives
 *   proxies that re-encode JSON, at the price of agreeing on one canonical form (below).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Hex HMAC-SHA256 of the raw body bytes (a string is hashed as its UTF-8 bytes). */
export function signWebhookBody(rawBody: string | Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/** Hex HMAC-SHA256 of `canonicalJson(value)`. */
export function signWebhookCanonical(value: unknown, secret: string): string {
  return signWebhookBody(canonicalJson(value), secret);
}

/**
 * Whether `signature` (hex, as received in a header) is the expected hex HMAC, compared in
 * constant time so a forger learns nothing from response timing. Anything that is not
 * well-formed hex of the right length is simply false.
 */
export function signatureMatches(signature: string | undefined, expectedHex: string): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]+$/i.test(signature)) return false;
  const given = Buffer.from(signature, 'hex');
  const expected = Buffer.from(expectedHex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * JSON with object keys sorted recursively (by UTF-16 code units, as `Array.prototype.sort`
 * does), no whitespace, and numbers as JavaScript prints them, so `1.0` parsed from a body is
 * written `1`. Otherwise it follows `JSON.stringify`: `undefined` members are left out, `undefined`
 * array items and non-finite numbers become `null`, `toJSON` (e.g. on a Date) is honoured.
 *
 * Written by hand rather than with a `JSON.stringify` replacer: a rebuilt object would list
 * integer-like keys ("2", "10") in numeric order whatever order they were inserted in.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value) ?? 'null';
}

/** `undefined` when the value has no JSON form (undefined, a function, a symbol). */
function serialise(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => serialise(item) ?? 'null').join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const members: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const member = serialise((value as Record<string, unknown>)[key]);
      if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
    }
    return `{${members.join(',')}}`;
  }
  if (typeof value === 'bigint') throw new TypeError('BigInt has no JSON form');
  return JSON.stringify(value);
}
