import { getOperationAST, type ExecutionArgs } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { payerOf } from '../../core/budget.ts';
import type { GatewayContext } from '../../core/context.ts';
import { annotateSpan, inSpan } from '../../lib/tracing.ts';

/** A client chooses the name: a trace keeps at most this much of it. */
const MAX_NAME_LENGTH = 100;

/** What a span says of the operation about to run: its type and name, and the caller's pseudonym. Never the variables. */
function describe(args: ExecutionArgs) {
  const operation = getOperationAST(args.document, args.operationName);
  const type = operation?.operation ?? 'unknown';
  const name = operation?.name?.value.slice(0, MAX_NAME_LENGTH);
  const { caller } = args.contextValue as Partial<GatewayContext>;
  annotateSpan(
    {
      'graphql.operation.type': type,
      ...(name && { 'graphql.operation.name': name }),
      ...(caller && { 'enduser.pseudo.id': payerOf(caller).id, 'gateway.caller.reviewer': caller.reviewer }),
    },
    name ? `${type} ${name}` : type,
  );
  return { type, name };
}

/**
 * One span per GraphQL operation that executes (or subscribes), on every transport (Yoga, the
 * JSON fast path, WebSocket, SSE): envelop's instrumentation wraps the phase, so what the
 * operation does (Didit calls, the budget's wait, Redis) nests in it. Added only with tracing on.
 */
export function useTracing(): Plugin {
  const phase = (name: string) => (_payload: unknown, wrapped: () => unknown) => inSpan(name, {}, async () => void (await wrapped()));
  return {
    instrumentation: { execute: phase('graphql.execute'), subscribe: phase('graphql.subscribe') },
    onExecute: ({ args }) => {
      describe(args);
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result) || !result.errors?.length) return;
          annotateSpan({ 'graphql.error.codes': [...new Set(result.errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))] });
        },
      };
    },
    onSubscribe: ({ args }) => void describe(args),
  };
}
