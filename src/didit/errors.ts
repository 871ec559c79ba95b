/**
 * Everything that goes wrong while talking to Didit is a `DiditError` with a stable `code`.
 * Messages are written here, never copied from upstream: no token, secret or upstream body can
 * travel inside one. The only upstream text kept is the list of field messages of a 400 answer
 * (`fieldErrors`), which callers may show to whoever made the bad request.
 */
export type DiditErrorCode =
  | 'DIDIT_BAD_REQUEST'
  | 'DIDIT_UNAUTHORIZED'
  | 'DIDIT_FORBIDDEN'
  | 'DIDIT_NOT_FOUND'
  | 'DIDIT_RATE_LIMITED'
  | 'DIDIT_UNAVAILABLE'
  | 'DIDIT_BAD_RESPONSE'
  | 'DIDIT_INVALID_INPUT'
  | 'DIDIT_ABORTED'
  | 'DIDIT_NEEDS_V3';

export class DiditError extends Error {
  override name = 'DiditError';
  constructor(
    readonly code: DiditErrorCode,
    message: string,
    /** The upstream HTTP status, when there was an answer. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A request the client refused to send: bad session id, feature set, status or comment. */
export class DiditInvalidInputError extends DiditError {
  constructor(readonly field: string, message: string) {
    super('DIDIT_INVALID_INPUT', message);
  }
}

/** Didit answered 400: the request was well formed for us but not for Didit. */
export class DiditBadRequestError extends DiditError {
  constructor(readonly fieldErrors: Record<string, string[]>) {
    super('DIDIT_BAD_REQUEST', 'Didit rejected the request', 400);
  }
}

export class DiditUnauthorizedError extends DiditError {
  constructor(what = 'Didit refused the credentials') {
    super('DIDIT_UNAUTHORIZED', what, 401);
  }
}

/** Didit answers 403, for instance, for the PDF of a session that is not finished. */
export class DiditForbiddenError extends DiditError {
  constructor() {
    super('DIDIT_FORBIDDEN', 'Didit does not allow this operation on this session', 403);
  }
}

export class DiditNotFoundError extends DiditError {
  constructor() {
    super('DIDIT_NOT_FOUND', 'Didit has no such session', 404);
  }
}

export class DiditRateLimitedError extends DiditError {
  constructor(
    /** Seconds to wait before trying again. */
    readonly retryAfter: number,
  ) {
    super('DIDIT_RATE_LIMITED', 'Didit is rate limiting the gateway', 429);
  }
}

/** Didit timed out, refused the connection, or answered 5xx (after retries where allowed). */
export class DiditUnavailableError extends DiditError {
  constructor(reason: string, status?: number) {
    super('DIDIT_UNAVAILABLE', `Didit is unavailable: ${reason}`, status);
  }
}

/** What only Didit's v3 API can do, asked of the v1 adapter. */
export class DiditNeedsV3Error extends DiditError {
  constructor(what: string) {
    super('DIDIT_NEEDS_V3', `${what} needs Didit's v3 API (set DIDIT_API_KEY)`);
  }
}

/**
 * The gateway's caller went away and the call was cut with its signal (a PDF download the client
 * aborted). Says nothing about Didit's health: the circuit breaker does not count it.
 */
export class DiditAbortedError extends DiditError {
  constructor() {
    super('DIDIT_ABORTED', 'The call to Didit was cancelled by its caller');
  }
}

/** Didit answered something the gateway cannot use: bad JSON, wrong content type, missing fields. */
export class DiditBadResponseError extends DiditError {
  constructor(reason: string, status?: number) {
    super('DIDIT_BAD_RESPONSE', `Unusable answer from Didit: ${reason}`, status);
  }
}

/**
 * Field messages from a Didit error body. Didit writes them as `{"detail": "..."}`,
 * `{"message": "..."}` or `{"field": ["...", ...]}`; anything else yields nothing.
 * Messages are cut to a sane length and at most 20 fields are kept.
 */
export function parseFieldErrors(body: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!body || typeof body !== 'object' || Array.isArray(body)) return out;
  for (const [key, value] of Object.entries(body).slice(0, 20)) {
    const messages = (Array.isArray(value) ? value : [value])
      .filter((m): m is string => typeof m === 'string')
      .slice(0, 5)
      .map((m) => m.slice(0, 300));
    if (messages.length > 0) out[key] = messages;
  }
  return out;
}
