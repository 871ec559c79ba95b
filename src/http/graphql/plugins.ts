/**
 * The gateway's own envelop plugins, used by the Yoga server (`yoga.ts`) and, through it, by the
 * JSON fast path and the WebSocket server. The fast path's own hooks are in `fast-path/hooks.ts`.
 */
import { GraphQLError, getOperationAST, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { GatewayContext } from '../../core/context.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { RateLimit } from '../../core/rate-limit.ts';
import { sessionsAtMost, upstreamSessions } from '../../schema/session-count.ts';
import { RateLimited } from '../../core/errors.ts';
import { DiditRateLimitedError } from '../../didit/errors.ts';
import { clientCode, fromGateway } from '../errors.ts';

/**
 * graphql-js reports a variable that a scalar or enum refuses without a code; the contract says
 * BAD_USER_INPUT. Such errors are the only ones that end an execution before it produces data.
 */
export function useVariableErrorCodes(): Plugin {
  return {
    onExecute: () => ({
      onExecuteDone({ result, setResult }) {
        if (isAsyncIterable(result) || result.data !== undefined || !result.errors) return;
        setResult({
          ...result,
          errors: result.errors.map((error) =>
            error.extensions?.code
              ? error
              : new GraphQLError(error.message, { nodes: error.nodes, extensions: { ...error.extensions, code: 'BAD_USER_INPUT' } }),
          ),
        });
      },
    }),
  };
}

/** graphql-js ends a message with its suggestions: `Did you mean "x"?`, `Did you mean the enum value "X"?`... */
const SUGGESTION = /\s*Did you mean\b[\s\S]*$/;

function withoutSuggestion<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || !SUGGESTION.test(error.message)) return error;
  const { nodes, source, positions, path, originalError, extensions } = error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), { nodes, source, positions, path, originalError, extensions });
}

function resultWithoutSuggestions(result: ExecutionResult, setResult: (result: ExecutionResult) => void) {
  if (result.errors?.some((error) => SUGGESTION.test(error.message))) setResult({ ...result, errors: result.errors.map(withoutSuggestion) });
}

/**
 * Production hides graphql-js's suggestions, which tell anyone (no token needed) the names of
 * fields, types and enum values. graphql-armor's own blocking misses the enum wording, so this
 * replaces it: validation errors, and variables refused at execution, on every path (HTTP, the
 * JSON fast path, WebSocket).
 */
export function useNoSuggestions(): Plugin {
  return {
    onValidate: () => ({ valid, result, setResult }) => {
      if (!valid && result.some((error) => SUGGESTION.test(error.message))) setResult(result.map(withoutSuggestion));
    },
    onExecute: () => ({
      onExecuteDone({ result, setResult }) {
        if (!isAsyncIterable(result)) resultWithoutSuggestions(result, setResult);
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult({ result, setResult }) {
        if (!isAsyncIterable(result)) resultWithoutSuggestions(result, setResult);
      },
    }),
  };
}

/**
 * The error for a request refused before it executes. Yoga answers it with `status` when the
 * client accepts application/graphql-response+json (`spec`: plain JSON answers stay 200), and
 * with the headers either way.
 */
function withHttpStatus(error: GraphQLError, status: number): GraphQLError {
  const retryAfter = error.extensions.retryAfter;
  const headers = typeof retryAfter === 'number' ? { 'Retry-After': String(retryAfter) } : undefined;
  return new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status, spec: true, headers } } });
}

/** Stops an operation before it runs, over every transport (Yoga, the JSON fast path, WebSocket). */
function refuseBeforeExecution(check: (args: ExecutionArgs) => GraphQLError | null | Promise<GraphQLError | null>): Plugin {
  // Synchronous when the check is: envelop then runs the next hook at once, not a promise later.
  const stop = (args: ExecutionArgs, setResultAndStopExecution: (result: ExecutionResult) => void): Promise<void> | void => {
    const refuse = (error: GraphQLError | null) => void (error && setResultAndStopExecution({ errors: [error] }));
    const error = check(args);
    return error instanceof Promise ? error.then(refuse) : refuse(error);
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => stop(args, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => stop(args, setResultAndStopExecution),
  };
}

/** The operations limit, applied before anything executes or reaches Didit. */
export function useCallerRateLimit(limit: RateLimit): Plugin {
  return refuseBeforeExecution(async (args) => {
    const context = args.contextValue as GatewayContext & { req?: { socket?: { remoteAddress?: string } } };
    const refused = await limit.take(context.caller, context.req?.socket?.remoteAddress);
    return refused && withHttpStatus(fromGateway(refused), 429);
  });
}

/**
 * Refuses, before any Didit call, an operation that would read more distinct sessions than
 * `max`, however they are spread over aliases, fields, fragments and variables.
 */
export function useUpstreamSessionCap(max: number): Plugin {
  return refuseBeforeExecution((args) => {
    // Most documents (one session(id:) field) are within the cap whatever their variables: not coerced twice.
    if (sessionsAtMost(args.schema, args.document, args.operationName) <= max) return null;
    const ids = upstreamSessions(args.schema, args.document, args.operationName, args.variableValues);
    if (!ids || ids.size <= max) return null;
    const error = new GraphQLError(
      `An operation may read at most ${max} distinct sessions (MAX_SESSIONS_PER_OPERATION); this one reads ${ids.size}`,
      { extensions: { code: 'BAD_USER_INPUT' } },
    );
    return withHttpStatus(error, 400);
  });
}

/**
 * `Retry-After` (seconds, the longest asked) on every answer with a RATE_LIMITED error, including
 * partial answers where only some fields were refused. Must come before the plugins that may
 * refuse, so that it sees their answers too; it runs before error masking.
 */
export function useRetryAfterHeader(): Plugin {
  return {
    onExecute: () => ({
      onExecuteDone({ result, setResult }) {
        if (isAsyncIterable(result) || !result.errors) return;
        const seconds = Math.max(0, ...result.errors.map(retryAfterOf));
        if (!seconds) return;
        const http = (result.extensions?.http ?? {}) as { headers?: Record<string, string> };
        setResult({ ...result, extensions: { ...result.extensions, http: { ...http, headers: { ...http.headers, 'Retry-After': String(seconds) } } } });
      },
    }),
  };
}

/** Seconds a RATE_LIMITED error asks to wait, before masking (graphql-jit's errors may lack extensions). */
function retryAfterOf(error: GraphQLError): number {
  const original = error.originalError;
  if (original instanceof DiditRateLimitedError || original instanceof RateLimited) return original.retryAfter;
  const extensions = original instanceof GraphQLError ? original.extensions : error.extensions;
  return extensions?.code === 'RATE_LIMITED' && typeof extensions.retryAfter === 'number' ? extensions.retryAfter : 0;
}

/**
 * Every GraphQL operation, measured (metrics) and, at debug level, logged in one line: its name,
 * type, duration and error codes. Never the document text, the variables or the caller, which
 * may hold personal data.
 */
export function useOperationObserver(log: Logger, metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const operation = getOperationAST(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          const seconds = (performance.now() - started) / 1000;
          const errors = isAsyncIterable(result) ? [] : (result.errors ?? []).map(clientCode);
          const name = operation?.name?.value;
          const type = operation?.operation ?? 'unknown';
          metrics.operation(name, type, seconds, errors, Boolean((args.contextValue as Partial<GatewayContext>).caller));
          if (log.isLevelEnabled('debug')) {
            log.debug({ operation: name ?? 'anonymous', type, durationMs: Math.round(seconds * 1000), errors }, 'graphql operation');
          }
        },
      };
    },
  };
}

/** Body types a browser sends cross-site without asking first (a "simple" request). */
const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * CSRF prevention: a request a browser could send from any page without a CORS preflight (a GET,
 * or a form-like POST) runs only when it carries a header no such request can: one of `headers`
 * (a custom header), or, on a GET, the caller's `Authorization` (so urql's and Apollo's GET
 * queries work as shipped; a page can only set it after a preflight). JSON bodies are preflighted
 * anyway. The refusal is a GraphQL error with a code (403, CSRF_REFUSED).
 */
export function useCsrfPrevention(headers: string[]): Plugin {
  return {
    onRequestParse({ request }) {
      const type = request.headers.get('content-type')?.toLowerCase();
      if (type && !SIMPLE_CONTENT_TYPES.some((simple) => type.startsWith(simple))) return;
      if (headers.some((name) => request.headers.has(name))) return;
      if (request.method === 'GET' && request.headers.has('authorization')) return;
      throw new GraphQLError(`Send Authorization (GET) or an ${headers[0]} header with this request (CSRF protection)`, {
        extensions: { code: 'CSRF_REFUSED', http: { status: 403 } },
      });
    },
  };
}
