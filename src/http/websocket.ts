import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { YogaServer } from './graphql/yoga.ts';

/**
 * GraphQL over WebSocket (graphql-ws) on the same port and path as HTTP, through the same Yoga
 * envelop: the same plugins, limits, error masking and context. Browsers cannot set headers on a
 * WebSocket, so the caller's token travels in the connection parameters:
 * `{ "authorization": "Bearer <JWT>" }`.
 */
export function attachWebSocket(server: Server, yoga: YogaServer, maxPayloadBytes: number) {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: maxPayloadBytes });
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const authorization = ctx.connectionParams?.authorization;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          authorization: typeof authorization === 'string' ? authorization : undefined,
        });
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors : args;
      },
    },
    wss,
  );
  return {
    /** Ends every open subscription with a close frame, then stops the WebSocket server. */
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Yoga's enveloped execute and subscribe, carried to graphql-ws in `rootValue`. */
interface Enveloped {
  execute: NonNullable<ServerOptions['execute']>;
  subscribe: NonNullable<ServerOptions['subscribe']>;
}
