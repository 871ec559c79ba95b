/**
 * Everything the JSON fast path assumes about graphql-yoga beyond its documented API, checked at
 * every start (`yogaContractMismatch`): when one no longer holds, the path stays off and Yoga
 * answers every request. Each returns what differs, or null when it holds.
 */
import { GraphQLError, type ExecutionResult } from 'graphql';
import { createSchema, createYoga, processRegularResult } from 'graphql-yoga';
import type { YogaServer } from '../yoga.ts';
import { FAST_PATH, HAND_OVER, sessionReadsOf, useFastPathHooks, type Ran } from './hooks.ts';

export type MediaType = 'application/json' | 'application/graphql-response+json';

/** What `processRegularResult` builds, captured instead of a fetch `Response`. */
export class Captured {
  constructor(
    readonly body: string,
    readonly init: { status: number; headers: Record<string, string> },
  ) {}
}
export const captureFetchAPI = { Response: Captured } as never;

type ResultProcessor = (result: ExecutionResult, fetchAPI: never, mediaType: MediaType) => unknown;

/**
 * `processRegularResult` is Yoga's internal serialiser, not a public API: the path relies on it
 * building `new fetchAPI.Response(jsonText, { status, headers })` at once, with the status and
 * headers that errors' `http` extensions ask for. Yoga and @whatwg-node/server are pinned to exact
 * versions for it (package.json), and test/http/graphql/fast-path/fast-path.test.ts compares the
 * path with Yoga answer for answer before any upgrade. Run at start on three tiny results; returns
 * what differs, or null when the contract holds.
 */
export function resultProcessorMismatch(processResult: ResultProcessor = processRegularResult as ResultProcessor): string | null {
  const limited = new GraphQLError('limited', { extensions: { code: 'RATE_LIMITED', http: { status: 429, spec: true, headers: { 'Retry-After': '3' } } } });
  const samples: Array<[ExecutionResult, MediaType, number, Record<string, string>, string]> = [
    [{ data: { ok: true } }, 'application/json', 200, {}, '{"data":{"ok":true}}'],
    [{ errors: [limited] }, 'application/json', 200, { 'Retry-After': '3' }, '{"errors":[{"message":"limited","extensions":{"code":"RATE_LIMITED"}}]}'],
    [{ errors: [limited] }, 'application/graphql-response+json', 429, { 'Retry-After': '3' }, '{"errors":[{"message":"limited","extensions":{"code":"RATE_LIMITED"}}]}'],
  ];
  for (const [result, mediaType, status, headers, body] of samples) {
    let answer: unknown;
    try {
      answer = processResult(result, captureFetchAPI, mediaType);
    } catch (error) {
      return `processRegularResult changed (it throws (${(error as Error).message}))`;
    }
    if (!(answer instanceof Captured)) return 'processRegularResult changed (it no longer returns the Response it builds with the given fetch API, at once)';
    if (answer.body !== body) return `processRegularResult changed (its body for ${JSON.stringify(result)} is ${JSON.stringify(answer.body)})`;
    const expected = { 'Content-Type': `${mediaType}; charset=utf-8`, ...headers };
    const sorted = (record: object) => JSON.stringify(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
    if (answer.init.status !== status || !isObject(answer.init.headers) || sorted(answer.init.headers) !== sorted(expected)) {
      return `processRegularResult changed (it answers ${mediaType} with ${JSON.stringify(answer.init)}, not ${JSON.stringify({ status, headers: expected })})`;
    }
  }
  return null;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The members of the gateway's Yoga instance that the path calls. */
function instanceMismatch(yoga: YogaServer): string | null {
  if (typeof yoga.getResultForParams !== 'function') return 'getResultForParams is gone';
  if (typeof yoga.handle !== 'function' || typeof yoga.fetchAPI?.Request !== 'function') return 'handle or fetchAPI.Request is gone (handing a request over)';
  return null;
}

const PROBE_CALLER = Object.freeze({ sub: 'fast-path-probe' });
const REFUSED = 'query Refused { caller }';

/**
 * How `getResultForParams` treats the context it is given, tried on a throwaway Yoga with the
 * fast path's hooks: the object reaches the context factory (the verified caller, the place to
 * note sessions read) and the plugins' `args.contextValue` (`FAST_PATH`); a query resolves to its
 * plain result; a subscription stops as `HAND_OVER`; a params hook that refuses makes it reject,
 * so the request can go to Yoga untouched.
 */
async function executionMismatch(): Promise<string | null> {
  type ProbeContext = Record<string, unknown> & { caller?: unknown; onRead?: (id: string) => void };
  const probe = createYoga<Record<string, unknown>, ProbeContext>({
    schema: createSchema<ProbeContext>({
      typeDefs: 'type Query { caller: Boolean } type Subscription { tick: Boolean }',
      resolvers: {
        Query: {
          caller: (_source: unknown, _args: unknown, context: ProbeContext) => {
            context.onRead?.('probe');
            return context.caller === PROBE_CALLER;
          },
        },
        Subscription: { tick: { subscribe: async function* () {} } },
      },
    }),
    plugins: [
      useFastPathHooks(),
      {
        onParams({ params }) {
          if (params.query === REFUSED) throw new GraphQLError('refused');
        },
      },
    ],
    context: (initial) => ({ caller: initial.caller, onRead: sessionReadsOf(initial) }),
    logging: false,
  });
  const request = new probe.fetchAPI.Request('http://fast-path.invalid/graphql', { method: 'POST' });
  const run = async (query: string) => {
    const ran: Ran = { readSessions: new Set() };
    const result = await probe.getResultForParams({ params: { query }, request }, { request, caller: PROBE_CALLER, [FAST_PATH]: ran } as never);
    return { ran, result: result as ExecutionResult };
  };

  const query = await run('query Probe { caller }');
  if (JSON.stringify(query.result) !== '{"data":{"caller":true}}') return `getResultForParams changed (a query answers ${JSON.stringify(query.result)}; the context factory no longer gets the context given)`;
  const { ran } = query;
  if (!ran.started || ran.type !== 'query' || ran.name !== 'Probe') return 'getResultForParams changed (plugins no longer see the context given)';
  if (!ran.readSessions.has('probe')) return 'getResultForParams changed (the context factory no longer gets the context given)';
  if ((await run('subscription { tick }')).result !== HAND_OVER) return 'getResultForParams changed (a subscription is not stopped by onSubscribe)';
  const refused = await run(REFUSED).then(
    () => true,
    () => false,
  );
  if (refused) return 'getResultForParams changed (a params hook that throws no longer makes it reject)';
  return null;
}

/** Everything at once, the cheap checks first. */
export async function yogaContractMismatch(yoga: YogaServer): Promise<string | null> {
  return resultProcessorMismatch() ?? instanceMismatch(yoga) ?? (await executionMismatch());
}
