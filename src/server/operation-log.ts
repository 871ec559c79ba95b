import { getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

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
          const errors = isAsyncIterable(result) ? [] : (result.errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          const name = operation?.name?.value;
          const type = operation?.operation ?? 'unknown';
          metrics.operation(name, type, seconds, errors);
          if (log.isLevelEnabled('debug')) {
            log.debug({ operation: name ?? 'anonymous', type, durationMs: Math.round(seconds * 1000), errors }, 'graphql operation');
          }
        },
      };
    },
  };
}
