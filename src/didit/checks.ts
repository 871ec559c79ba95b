/**
 * What a caller may send upstream, checked before anything travels: the same for both APIs.
 * A refusal is a `DiditInvalidInputError` naming the field; nothing reaches Didit.
 */
import { isHttpUrl } from '../lib/url.ts';
import { DiditInvalidInputError } from './errors.ts';
import { isSessionId } from './session-id.ts';

/** Upper bounds on what a caller may send upstream; Didit's own limits are undocumented. */
export const MAX_COMMENT_LENGTH = 1000;
export const MAX_VENDOR_DATA_LENGTH = 256;
const MAX_CALLBACK_LENGTH = 2048;

/** The callback's form (Didit's own demand); which origins may be used is `core/callback-policy.ts`'s `callbackRefusal`. */
export function assertCallbackUrl(callback: unknown): void {
  if (!isHttpUrl(callback) || callback.length > MAX_CALLBACK_LENGTH) {
    throw new DiditInvalidInputError('callback', 'The callback must be an absolute http(s) URL');
  }
}

export function checkVendorData(vendorData: unknown): void {
  if (vendorData !== undefined && (typeof vendorData !== 'string' || vendorData.length > MAX_VENDOR_DATA_LENGTH)) {
    throw new DiditInvalidInputError('vendorData', `vendorData must be at most ${MAX_VENDOR_DATA_LENGTH} characters`);
  }
}

export function checkComment(comment: unknown): void {
  if (comment !== undefined && (typeof comment !== 'string' || comment.length > MAX_COMMENT_LENGTH)) {
    throw new DiditInvalidInputError('comment', `The comment must be at most ${MAX_COMMENT_LENGTH} characters`);
  }
}

/** `/{version}/session/{id}/{action}/`, with the id checked to be a UUID first. */
export function sessionPath(version: 'v1' | 'v3', sessionId: string, action: string): string {
  if (!isSessionId(sessionId)) throw new DiditInvalidInputError('sessionId', 'A session id must be a UUID');
  return `/${version}/session/${sessionId.toLowerCase()}/${action}/`;
}
