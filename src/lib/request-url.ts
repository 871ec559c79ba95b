import type { IncomingMessage } from 'node:http';

/** The request's URL, parsed as browsers do (dot segments, percent-encoding, absolute form). */
export const requestUrl = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://gateway.invalid');

/**
 * The request's path. A plain one (`/`-separated words of letters, digits, `-` and `_`: every
 * GraphQL request) is taken as sent, which is what URL parsing gives for it, at no cost to the
 * request; any other is parsed.
 */
export function pathnameOf(raw = '/'): string {
  const end = raw.indexOf('?');
  const path = end === -1 ? raw : raw.slice(0, end);
  return /^\/(?:[\w-]+\/)*[\w-]*$/.test(path) ? path : new URL(raw, 'http://gateway.invalid').pathname;
}
