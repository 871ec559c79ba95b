import { randomUUID } from 'node:crypto';
import type { ExecutionResult, GraphQLError } from 'graphql';
import { createHandler } from 'graphql-sse/lib/use/fetch';
import { isAsyncIterable, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Caller } from '../../core/access.ts';
import type { Authenticate } from '../../core/auth.ts';
import { UNEXPECTED, toClientError } from '../errors.ts';
import type { GatewayContext } from '../../core/context.ts';

/** GraphQL over SSE as graphql-sse's client speaks it, in both of its modes. */
export const STREAM_ENDPOINT = '/graphql/stream';

/** Streams one caller may hold (reserved or open) at once: each is kept in memory until it ends. */
const MAX_STREAMS_PER_CALLER = 8;
/** A reserved stream (PUT) that is not opened (GET) within this time can no longer be used. */
const RESERVATION_MS = 30_000;
/** graphql-sse's header for the stream a request belongs to (its client sends it on every request). */
const TOKEN_HEADER = 'x-graphql-event-stream-token';

interface Stream {
  owner: string;
  open: boolean;
  expiry?: NodeJS.Timeout;
}

/**
 * graphql-sse's "single connection mode" (PUT reserves a stream, GET opens it, POST runs operations
 * on it, DELETE stops one) and its "distinct connections mode" (one POST per operation), at
 * `/graphql/stream`. Yoga's own SSE at `/graphql` is the distinct mode too.
 *
 * - Every request carries `Authorization: Bearer <JWT>` (graphql-sse's client sends its `headers`
 *   on each one); without a valid one: 401, UNAUTHENTICATED.
 * - A stream's token is made here, at PUT, and belongs to the caller who reserved it: a request
 *   naming someone else's (or an unknown) token is refused as if it did not exist, so nobody can
 *   read or feed another caller's stream.
 * - Operations run through Yoga's `getResultForParams`, as on WebSocket: the same params hooks
 *   (trusted documents, no mutation over GET), plugins (limits, rate limit, masking) and context.
 *
 * Yoga's `@graphql-yoga/plugin-graphql-sse` is not used: it executes through envelop only, so the
 * params hooks (trusted documents) would not apply.
 */
export function useGraphqlSseStreams({ authenticate, log }: { authenticate: Authenticate; log: Logger }): Plugin {
  const streams = new Map<string, Stream>();
  const callers = new WeakMap<Request, Caller>();
  const serverContexts = new WeakMap<Request, Record<string, unknown>>();
  let yoga: YogaServerInstance<Record<string, unknown>, GatewayContext>;
  let handler: (request: Request) => Promise<Response>;

  /** graphql-sse's own answer shape, [body, init], as a GraphQL error body with a code. */
  const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}, extensions: Record<string, unknown> = {}) =>
    [
      JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] }),
      { status, statusText: code, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } },
    ] as const;
  const masked = (error: unknown) => toClientError(error, (original) => log.error({ err: original }, UNEXPECTED));
  /** An answer without data, in the shape graphql-sse recognises (`data: undefined` is not written out). */
  const refused = (errors: readonly GraphQLError[]): ExecutionResult => ({ data: undefined, errors });
  const ownedBy = (caller: Caller) => `${caller.reviewer ? 'r' : 'a'}:${caller.sub}`;
  const forget = (token: string) => {
    clearTimeout(streams.get(token)?.expiry);
    streams.delete(token);
  };

  return {
    onYogaInit({ yoga: server }) {
      yoga = server as unknown as typeof yoga;
      handler = createHandler(
        {
          async authenticate(req) {
            const caller = await authenticate(req.headers.get('authorization')).catch(() => null);
            if (!caller) return refuse(401, 'UNAUTHENTICATED', 'Send Authorization: Bearer <token> with every stream request', { 'www-authenticate': 'Bearer' });
            callers.set(req.raw, caller);
            const owner = ownedBy(caller);
            if (req.method === 'PUT') {
              // The token is ours to make, whatever the request names.
              if ([...streams.values()].filter((s) => s.owner === owner).length >= MAX_STREAMS_PER_CALLER) {
                const retryAfter = RESERVATION_MS / 1000;
                return refuse(429, 'RATE_LIMITED', `At most ${MAX_STREAMS_PER_CALLER} streams per caller`, { 'retry-after': String(retryAfter) }, { retryAfter, limit: 'caller' });
              }
              const token = randomUUID();
              const expiry = setTimeout(() => forget(token), RESERVATION_MS);
              expiry.unref();
              streams.set(token, { owner, open: false, expiry });
              return token;
            }
            const token = req.headers.get(TOKEN_HEADER) ?? new URL(req.url, 'http://localhost').searchParams.get('token');
            // No token: an operation on a connection of its own (distinct connections mode).
            if (!token) return undefined;
            if (streams.get(token)?.owner !== owner) return refuse(404, 'BAD_REQUEST', 'No such stream: reserve one with PUT first');
            return token;
          },
          onConnect(req) {
            const token = req.headers.get(TOKEN_HEADER) ?? new URL(req.url, 'http://localhost').searchParams.get('token');
            const stream = token ? streams.get(token) : undefined;
            if (!token || !stream || stream.open) return;
            // Opened: kept until the client goes away.
            clearTimeout(stream.expiry);
            stream.open = true;
            req.raw.signal.addEventListener('abort', () => forget(token), { once: true });
          },
          async onSubscribe(req, params) {
            try {
              const result = await yoga.getResultForParams(
                { params, request: req.raw },
                { ...serverContexts.get(req.raw), caller: callers.get(req.raw) } as never,
              );
              if (!result) return refused([masked(new Error('no result for a stream operation'))]);
              // Refused before it ran (parse, validation, limits): graphql-sse takes an object as a
              // result only when it has a `data` key.
              return isAsyncIterable(result) || 'data' in result ? result : refused(result.errors ?? []);
            } catch (error) {
              // A params hook refused (an unknown trusted document, a mutation over GET...).
              return refused([masked(error)]);
            }
          },
        },
        yoga.fetchAPI,
      );
    },
    onRequest({ request, url, serverContext, endResponse }) {
      if (url.pathname !== STREAM_ENDPOINT) return;
      serverContexts.set(request, serverContext as Record<string, unknown>);
      return handler(request).then(endResponse, (error: unknown) => {
        log.error({ err: error }, 'GraphQL over SSE request failed');
        const [body, init] = refuse(500, 'INTERNAL_SERVER_ERROR', 'Unexpected error');
        endResponse(new yoga.fetchAPI.Response(body, init));
      });
    },
  };
}
