import { GraphQLError } from 'graphql';
import { DiditError, DiditInvalidInputError, DiditRateLimitedError } from '../didit/errors.ts';

/** The `extensions.code` values clients may see (the public contract), besides GraphQL's own. */
const PUBLIC_CODES = new Set([
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_ERROR',
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

/** Didit's failure kinds, as the contract names them for clients. */
function fromDidit(error: DiditError): GraphQLError {
  const coded = (code: string, message: string, extensions: Record<string, unknown> = {}) =>
    new GraphQLError(message, { extensions: { code, ...extensions } });
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
 * code pass as they are; Didit errors become their public code; anything else is masked, so no
 * stack, upstream body, token or personal data can leak through an unexpected failure.
 */
export function toClientError(error: unknown, onMasked: (error: unknown) => void): GraphQLError {
  const graphqlError = error instanceof GraphQLError ? error : undefined;
  const original = graphqlError?.originalError ?? error;
  const keepPlace = (message: string, extensions: GraphQLError['extensions']) =>
    new GraphQLError(message, { nodes: graphqlError?.nodes, source: graphqlError?.source, positions: graphqlError?.positions, path: graphqlError?.path, extensions });

  if (original instanceof DiditError) {
    const mapped = fromDidit(original);
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
