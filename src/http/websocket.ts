import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, Kind, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import { isAsyncIterable } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Caller } from '../core/access.ts';
import type { Authenticate } from '../core/auth.ts';
import { UNEXPECTED, toClientError } from './errors.ts';
import { traceWebSocketOperation } from '../lib/tracing.ts';
import { schema } from '../schema/index.ts';
import type { YogaServer } from './graphql/yoga.ts';

export interface WebSocketOptions {
  server: Server;
  yoga: YogaServer;
  authenticate: Authenticate;
  log: Logger;
  maxPayloadBytes: number;
  /** Authenticated sockets one caller may hold open at once (`MAX_SOCKETS_PER_CALLER`). */
  maxSocketsPerCaller: number;
}

/** What a socket keeps between its messages. */
interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
  /** Verified once, at connection_init; every operation on the socket runs as this caller. */
  caller?: Caller;
  /** Ends the socket when the caller's token expires. */
  expiry?: NodeJS.Timeout;
  /** The caller's socket count, while this socket holds one. */
  held?: string;
}

/** A dead connection is found within two intervals (as graphql-ws's own `useServer` does). */
const KEEP_ALIVE_MS = 12_000;
/** setTimeout's longest delay; a token living longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const UNAUTHORIZED = [CloseCode.Unauthorized, 'Unauthorized'] as const;
/** WebSocket's "Try Again Later": graphql-ws clients retry it with backoff. */
const TRY_AGAIN_LATER = 1013;

/**
 * graphql-ws picks execute or subscribe from the document. Yoga has already run the operation
 * when these are called (see onSubscribe), so both only hand its result over, and any document
 * with one operation does.
 */
const RAN: DocumentNode = {
  kind: Kind.DOCUMENT,
  definitions: [{ kind: Kind.OPERATION_DEFINITION, operation: 'query' as never, selectionSet: { kind: Kind.SELECTION_SET, selections: [] } }],
};
const handOver = (args: ExecutionArgs) => args.rootValue as ExecutionResult | AsyncIterable<ExecutionResult>;

/**
 * GraphQL over WebSocket (graphql-ws) on the same port and path as HTTP.
 *
 * - The caller authenticates once, in `connection_init`: `{ "authorization": "Bearer <JWT>" }`
 *   (any letter case), or `{ "headers": { "Authorization": "Bearer <JWT>" } }`. No or a bad token
 *   closes the socket with 4401, and so does the token's expiry while the socket is open.
 * - Every operation goes through Yoga's `getResultForParams`, as an HTTP request does: the same
 *   params hooks (trusted documents), plugins (limits, rate limit, masking) and context.
 * - An error in one operation is an error result on that operation, never the socket's end; the
 *   socket's own faults are logged through pino (graphql-ws's `useServer` prints to the console,
 *   so it is replaced by this wiring of its `makeServer`).
 */
export function attachWebSocket({ server, yoga, authenticate, log, maxPayloadBytes, maxSocketsPerCaller }: WebSocketOptions) {
  const masked = (error: unknown) => toClientError(error, (original) => log.error({ err: original }, UNEXPECTED));
  // Authenticated sockets per caller on this instance: each holds memory, a keep-alive timer and
  // its subscriptions' fan-out, so one caller cannot hold thousands.
  const sockets = new Map<string, number>();
  const release = (extra: Extra) => {
    if (extra.held === undefined) return;
    const left = (sockets.get(extra.held) ?? 1) - 1;
    if (left > 0) sockets.set(extra.held, left);
    else sockets.delete(extra.held);
    extra.held = undefined;
  };

  const options: ServerOptions<Record<string, unknown>, Extra> = {
    execute: handOver,
    subscribe: handOver,
    onConnect: async (ctx) => {
      const { extra } = ctx;
      const caller = await authenticate(authorizationOf(ctx.connectionParams)).catch(() => null);
      if (!caller || (caller.expiresAt !== undefined && caller.expiresAt * 1000 <= Date.now())) {
        extra.socket.close(...UNAUTHORIZED);
        return false;
      }
      // Gone while its token was checked: the close has run already, nothing to hold.
      if (extra.socket.readyState !== extra.socket.OPEN) return false;
      const key = `${caller.reviewer ? 'r' : 'a'}:${caller.sub}`;
      const held = sockets.get(key) ?? 0;
      if (held >= maxSocketsPerCaller) {
        extra.socket.close(TRY_AGAIN_LATER, `At most ${maxSocketsPerCaller} sockets per caller`);
        return false;
      }
      sockets.set(key, held + 1);
      extra.held = key;
      extra.caller = caller;
      if (caller.expiresAt !== undefined) closeAtExpiry(extra, caller.expiresAt * 1000);
      return true;
    },
    onSubscribe: async (ctx, _id, params) => {
      const { socket, request, caller } = ctx.extra;
      let result: ExecutionResult | AsyncIterable<ExecutionResult> | undefined;
      try {
        const { query, operationName, variables, extensions } = params;
        const graphqlParams = { query, operationName: operationName ?? undefined, variables: variables ?? undefined, extensions: extensions ?? undefined };
        // No fetch Request: Yoga's hooks read the method of one, and a socket has none.
        const run = async () => yoga.getResultForParams({ params: graphqlParams, request: undefined as never }, { req: request, socket, caller } as never);
        const connection = ctx.connectionParams;
        result = await traceWebSocketOperation(yoga.graphqlEndpoint, [extensions, connection, connection?.headers, request.headers], run);
      } catch (error) {
        // A params hook refused (an unknown trusted document...), or something failed.
        return [forSocket(masked(error))];
      }
      if (!result) return [forSocket(masked(new Error('no result for a WebSocket operation')))];
      // Refused before it ran (parse, validation, limits): an error message for this operation.
      if (!isAsyncIterable(result) && result.data === undefined && result.errors?.length) return result.errors.map(forSocket);
      return { schema, document: RAN, rootValue: result, contextValue: undefined };
    },
  };
  const graphqlWs = makeServer(options);

  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: maxPayloadBytes, handleProtocols });
  wss.on('error', (error) => log.error({ err: error }, 'websocket server error'));
  wss.on('connection', (socket, request) => {
    const extra: Extra = { socket, request };
    // A frame over the size limit, a broken frame: ws closes the socket itself.
    socket.on('error', (error) => log.warn({ err: error }, 'websocket connection error'));

    let pongWait: NodeJS.Timeout | undefined;
    const ping = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), KEEP_ALIVE_MS);
      socket.once('pong', () => clearTimeout(pongWait));
      socket.ping();
    }, KEEP_ALIVE_MS);

    const closed = graphqlWs.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (data) => {
            try {
              await handle(String(data));
            } catch (error) {
              // Not an operation's error (those are answered on the operation): the socket failed.
              log.error({ err: error }, 'websocket message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      extra,
    );
    socket.once('close', (code, reason) => {
      clearInterval(ping);
      clearTimeout(pongWait);
      clearTimeout(extra.expiry);
      release(extra);
      closed(code, String(reason)).catch((error: unknown) => log.warn({ err: error }, 'ending websocket subscriptions failed'));
    });
  });

  return {
    /** Ends every open subscription with a close frame, then stops the WebSocket server. */
    async close() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** The token from the connection parameters: `authorization` in any case, or within `headers`. */
function authorizationOf(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const find = (object: unknown) =>
    object && typeof object === 'object' ? Object.entries(object).find(([key]) => key.toLowerCase() === 'authorization')?.[1] : undefined;
  const value = find(params) ?? find(params?.headers);
  return typeof value === 'string' ? value : undefined;
}

function closeAtExpiry(extra: Extra, expiresAtMs: number) {
  extra.expiry = setTimeout(
    () => (Date.now() >= expiresAtMs ? extra.socket.close(...UNAUTHORIZED) : closeAtExpiry(extra, expiresAtMs)),
    Math.min(Math.max(0, expiresAtMs - Date.now()), MAX_TIMER_MS),
  );
}

/** A socket has no HTTP status: Yoga's `extensions.http` stays out of the message. */
function forSocket(error: GraphQLError): GraphQLError {
  if (!error.extensions?.http) return error;
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions });
}
