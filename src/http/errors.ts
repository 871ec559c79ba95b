/**
 * The edge where errors become what clients read: the gateway's domain errors (`core/errors.ts`)
 * and Didit's (`didit/errors.ts`) turn into GraphQL error codes here, and into the plain HTTP
 * answers of the routes beside GraphQL, and nowhere else.
 */
import { GraphQLError } from 'graphql';
import { Forbidden, GatewayError, NotFound, RateLimited, Unauthenticated, Unavailable } from '../core/errors.ts';
import { DiditError, DiditInvalidInputError, DiditRateLimitedError } from '../didit/errors.ts';

/** What the log says of an error masked for the client. */
export const UNEXPECTED = 'unexpected error while executing an operation';

/** The `extensions.code` values clients may see (the public contract), besides GraphQL's own. */
const PUBLIC_CODES = new Set([
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_ERROR',
  'UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'REQUIRES_DIDIT_V3',
  'FAILED_PRECONDITION',
  'CSRF_REFUSED',
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'ROUTE_NOT_FOUND',
  'INTERNAL_SERVER_ERROR',
]);

const coded = (code: string, message: string, extensions: Record<string, unknown> = {}) =>
  new GraphQLError(message, { extensions: { code, ...extensions } });

/** The gateway's own refusals, as the contract names them for clients. */
export function fromGateway(error: GatewayError): GraphQLError {
  if (error instanceof Unauthenticated) return coded('UNAUTHENTICATED', error.message);
  if (error instanceof Forbidden) return coded('FORBIDDEN', error.message, error.argument === undefined ? {} : { argument: error.argument });
  if (error instanceof NotFound) return coded('NOT_FOUND', error.message);
  if (error instanceof RateLimited) return coded('RATE_LIMITED', error.message, { retryAfter: error.retryAfter, limit: error.limit });
  if (error instanceof Unavailable) return coded('UPSTREAM_UNAVAILABLE', error.message);
  return coded('INTERNAL_SERVER_ERROR', 'Unexpected error');
}

/** Didit's failure kinds, as the contract names them for clients. */
function fromDidit(error: DiditError): GraphQLError {
  switch (error.code) {
    case 'DIDIT_INVALID_INPUT':
      return coded('BAD_USER_INPUT', error.message, { argument: (error as DiditInvalidInputError).field });
    case 'DIDIT_BAD_REQUEST':
      // Didit's own words never reach clients; resolvers that know the context say more (see
      // `refusedChange` in schema/session.ts).
      return coded('BAD_USER_INPUT', 'Didit refused the request');
    case 'DIDIT_NOT_FOUND':
      return coded('NOT_FOUND', 'Session not found');
    case 'DIDIT_FORBIDDEN':
      return coded('FAILED_PRECONDITION', 'Didit does not allow this on the session in its current state');
    case 'DIDIT_RATE_LIMITED':
      return coded('RATE_LIMITED', 'Too many requests to Didit; try again later', {
        retryAfter: (error as DiditRateLimitedError).retryAfter,
        limit: 'didit',
      });
    case 'DIDIT_NEEDS_V3':
      return coded('REQUIRES_DIDIT_V3', error.message);
    case 'DIDIT_UNAVAILABLE':
    case 'DIDIT_ABORTED':
      return coded('UPSTREAM_UNAVAILABLE', 'Didit is unavailable; try again later');
    default:
      // Refused credentials and unusable answers are the operator's problem, not the caller's.
      return coded('UPSTREAM_ERROR', 'Didit answered something the gateway cannot use');
  }
}

/**
 * The one place that decides what a client may read of an error. GraphQL errors carrying a public
 * code pass as they are; the gateway's and Didit's errors become their public code; anything else is masked, so no
 * stack, upstream body, token or personal data can leak through an unexpected failure.
 */
export function toClientError(error: unknown, onMasked: (error: unknown) => void): GraphQLError {
  const graphqlError = error instanceof GraphQLError ? error : undefined;
  const original = graphqlError?.originalError ?? error;
  const keepPlace = (message: string, extensions: GraphQLError['extensions']) =>
    new GraphQLError(message, { nodes: graphqlError?.nodes, source: graphqlError?.source, positions: graphqlError?.positions, path: graphqlError?.path, extensions });

  if (original instanceof GatewayError || original instanceof DiditError) {
    const mapped = original instanceof GatewayError ? fromGateway(original) : fromDidit(original);
    return keepPlace(mapped.message, mapped.extensions);
  }
  if (original instanceof GraphQLError) {
    if (original.extensions?.originalError !== undefined && !original.path) {
      // Yoga's "invalid JSON" error quotes the body back: the code and message say enough. Its
      // status (400) stays, including for application/json, where Yoga would otherwise pick 200.
      const { originalError: _quoted, http, ...extensions } = original.extensions;
      const { spec: _spec, ...status } = (http ?? {}) as Record<string, unknown>;
      return keepPlace(original.message, { ...extensions, http: status });
    }
    const code = original.extensions?.code;
    if (typeof code === 'string' && PUBLIC_CODES.has(code)) {
      return original === graphqlError ? original : keepPlace(original.message, original.extensions);
    }
    // A document that failed to validate is the caller's own; graphql-armor's limits give no code.
    if (!original.originalError && !original.path) {
      if (code !== undefined || original.extensions?.http) return original;
      return keepPlace(original.message, { ...original.extensions, code: 'GRAPHQL_VALIDATION_FAILED' });
    }
  }
  onMasked(original);
  return keepPlace('Unexpected error', { code: 'INTERNAL_SERVER_ERROR' });
}

/** An execution error's code before masking, for metrics: the gateway's refusals by their public code. */
export function clientCode(error: GraphQLError): string {
  const original = error.originalError;
  if (original instanceof GatewayError) return String(fromGateway(original).extensions.code);
  return String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
}

/** A plain HTTP answer, for the routes beside GraphQL (PDF downloads). */
export interface HttpAnswer {
  status: number;
  body: { error: string; limit?: string };
  headers: Record<string, string>;
}

/**
 * What the routes beside GraphQL answer for an error: a limit is 429 with `Retry-After` and the
 * limit's kind, Didit's failures their closest status (`forbidden`: what Didit's 403 means on
 * that route), anything else a bare 500.
 */
export function httpAnswerOf(error: unknown, messages: { forbidden: string }): HttpAnswer {
  const retry = (retryAfter: number) => ({ 'retry-after': String(retryAfter) });
  const plain = (status: number, message: string): HttpAnswer => ({ status, body: { error: message }, headers: {} });
  if (error instanceof RateLimited) return { status: 429, body: { error: error.message, limit: error.limit }, headers: retry(error.retryAfter) };
  if (!(error instanceof DiditError)) return plain(500, 'Internal error');
  switch (error.code) {
    case 'DIDIT_NOT_FOUND':
      return plain(404, 'Session not found');
    case 'DIDIT_FORBIDDEN':
      return plain(409, messages.forbidden);
    case 'DIDIT_RATE_LIMITED': {
      const { retryAfter } = error as DiditRateLimitedError;
      if (!retryAfter) return plain(429, 'Too many requests to Didit; try again later');
      return { status: 429, body: { error: 'Too many requests to Didit; try again later', limit: 'didit' }, headers: retry(retryAfter) };
    }
    case 'DIDIT_UNAVAILABLE':
      return plain(503, 'Didit is unavailable; try again later');
    default:
      return plain(502, 'Didit answered something the gateway cannot use');
  }
}
