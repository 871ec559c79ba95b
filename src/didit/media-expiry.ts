/**
 * When the first media link in a decision stops working. Didit's v3 decisions carry presigned
 * links to images and videos (S3 style: `X-Amz-Date` + `X-Amz-Expires`, or an `Expires` epoch);
 * a decision kept longer than they live would hand clients dead links.
 */
import type { Decision } from '../domain/model.ts';

/** Links are given up this long before they expire, so a client still has time to load them. */
const MARGIN_MS = 60_000;
/** Walking a decision stops after this many values (a decision is a few hundred). */
const MAX_VALUES = 10_000;

/** Milliseconds since the epoch when the link expires, if it says. */
export function linkExpiry(url: string): number | undefined {
  if (!url.startsWith('https://') && !url.startsWith('http://')) return undefined;
  const query = url.indexOf('?');
  if (query === -1) return undefined;
  const params = new URLSearchParams(url.slice(query + 1));
  const amzDate = params.get('X-Amz-Date');
  const amzExpires = params.get('X-Amz-Expires');
  if (amzDate && amzExpires && /^\d{8}T\d{6}Z$/.test(amzDate) && /^\d{1,7}$/.test(amzExpires)) {
    const signed = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
    return signed + Number(amzExpires) * 1000;
  }
  const expires = params.get('Expires');
  return expires && /^\d{9,11}$/.test(expires) ? Number(expires) * 1000 : undefined;
}

/**
 * How long the decision's media links stay usable, in ms (0 once the first has expired), or
 * `fallbackMs` when it has links whose lifetime cannot be read; undefined when it has none.
 */
export function mediaLifetimeMs(decision: Decision, fallbackMs: number, now = Date.now()): number | undefined {
  let earliest = Infinity;
  let unreadable = false;
  const stack: unknown[] = [decision];
  for (let seen = 0; stack.length && seen < MAX_VALUES; seen += 1) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (!/^https?:\/\//.test(value) || !value.includes('?')) continue;
      const expiry = linkExpiry(value);
      if (expiry === undefined) unreadable = true;
      else earliest = Math.min(earliest, expiry);
    } else if (value && typeof value === 'object') {
      stack.push(...Object.values(value));
    }
  }
  if (earliest === Infinity) return unreadable ? fallbackMs : undefined;
  return Math.max(0, Math.min(earliest - MARGIN_MS - now, unreadable ? fallbackMs : Infinity));
}
