import { getOperationAST, type ExecutionResult, type OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Set on the context of operations the fast path runs (a symbol key, so no client-chosen name can
 * collide with it): what ran, once it runs, and the sessions it read.
 */
export const FAST_PATH = Symbol('json fast path');
export interface Ran {
  /** Execution has begun (a failure from here on must not hand the request over). */
  started?: boolean;
  type?: OperationTypeNode;
  name?: string;
  /** The sessions the operation read: its kept answer depends on them. */
  readSessions: Set<string>;
}
/** What a subscription started by the fast path returns instead of starting. */
export const HAND_OVER: ExecutionResult = Object.freeze({});

/** The fast path's record on a context (the object it hands to Yoga, or the one Yoga builds from it). */
export function ranOf(context: unknown): Ran | undefined {
  return (context as Record<symbol, Ran | undefined> | undefined)?.[FAST_PATH];
}

/** For the context factory: where a request run by the fast path notes each session it reads. */
export function sessionReadsOf(initialContext: unknown): ((sessionId: string) => void) | undefined {
  const ran = ranOf(initialContext);
  return ran && ((sessionId) => void ran.readSessions.add(sessionId));
}

/**
 * Must be the first of the gateway's plugins. Subscriptions are Yoga's to stream (SSE) or refuse
 * (406): one reaching the fast path stops before any other plugin's hook or resolver runs, and
 * the request goes to Yoga. Other operations say what they are (the answer cache keeps queries).
 */
export function useFastPathHooks(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      if (ranOf(args.contextValue)) setResultAndStopExecution(HAND_OVER);
    },
    onExecute({ args }) {
      const ran = ranOf(args.contextValue);
      if (!ran) return;
      ran.started = true;
      const operation = getOperationAST(args.document, args.operationName);
      ran.type = operation?.operation;
      ran.name = operation?.name?.value;
    },
  };
}
