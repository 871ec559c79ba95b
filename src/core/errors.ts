/**
 * What the gateway's domain refuses, in its own words. Nothing here knows GraphQL or HTTP: the
 * edge (`http/errors.ts`) turns each kind into a GraphQL error code or an HTTP answer, once.
 * Messages are written for the caller and never hold personal data or upstream text.
 */
export abstract class GatewayError extends Error {}

/** No token, or one that does not verify. */
export class Unauthenticated extends GatewayError {
  override name = 'Unauthenticated';
}

/** Authenticated, but the caller's role may not do this; `argument` names the input to blame. */
export class Forbidden extends GatewayError {
  override name = 'Forbidden';
  constructor(
    message: string,
    readonly argument?: string,
  ) {
    super(message);
  }
}

/** The session does not exist, or is not the caller's (the two are told apart to nobody). */
export class NotFound extends GatewayError {
  override name = 'NotFound';
  constructor(message = 'Session not found') {
    super(message);
  }
}

/** Which limit refused a request: the caller's own (rate, share or slots), or Didit's budget. */
export type LimitKind = 'caller' | 'didit';

/** A limit refused the call; a retry after `retryAfter` seconds may pass. */
export class RateLimited extends GatewayError {
  override name = 'RateLimited';
  /** Whole seconds to wait, at least 1 (what `Retry-After` says). */
  readonly retryAfter: number;
  constructor(
    message: string,
    retryAfterMs: number,
    readonly limit: LimitKind,
  ) {
    super(message);
    this.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

/** A service the gateway needs (Didit aside, whose errors are `DiditError`s) cannot answer now. */
export class Unavailable extends GatewayError {
  override name = 'Unavailable';
}
