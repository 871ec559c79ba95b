import { getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

/**
 * One debug line per GraphQL operation: its name, type, duration and error codes. Never the
 * document text, the variables or the caller, which may hold personal data.
 */
export function useOperationLog(log: Logger): Plugin {
  return {
    onExecute({ args }) {
      if (!log.isLevelEnabled('debug')) return;
      const started = performance.now();
      const operation = getOperationAST(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          const errors = isAsyncIterable(result) ? [] : (result.errors ?? []).map((e) => e.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
          log.debug(
            { operation: operation?.name?.value ?? 'anonymous', type: operation?.operation, durationMs: Math.round(performance.now() - started), errors },
            'graphql operation',
          );
        },
      };
    },
  };
}
