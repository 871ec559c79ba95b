import { useGraphQlJit } from '@envelop/graphql-jit';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { Kind, NoSchemaIntrospectionCustomRule, getOperationAST } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { CORSOptions } from '@whatwg-node/server';
import type { Config } from '../../config.ts';
import { schema } from '../../schema/index.ts';
import type { Caller } from '../../core/access.ts';
import type { Authenticate } from '../../core/auth.ts';
import { createContext, type GatewayContext, type Services } from '../../core/context.ts';
import { UNEXPECTED, toClientError } from '../errors.ts';
import {
  useCallerRateLimit,
  useCsrfPrevention,
  useNoSuggestions,
  useOperationObserver,
  useRetryAfterHeader,
  useUpstreamSessionCap,
  useVariableErrorCodes,
} from './plugins.ts';
import { sessionReadsOf, useFastPathHooks } from './fast-path/hooks.ts';
import { useGraphqlSseStreams } from './sse-stream.ts';
import { useTracing } from './tracing.ts';
import { tracingOn } from '../../lib/tracing.ts';
import { normalizeHash } from './trusted-documents.ts';

export interface YogaServerOptions {
  services: Services;
  authenticate: Authenticate;
  /** Trusted documents: bare hex hash (see `normalizeHash`) -> document text. Required when `config.trustedDocuments` is on. */
  persistedDocuments?: Map<string, string>;
  /** GraphiQL's opening state (sandbox mode fills in a ready token). */
  graphiql?: { defaultQuery?: string; headers?: Record<string, string> };
  /** Extra envelop plugins (rate limiting, metrics). */
  plugins?: Plugin[];
}

export type YogaServer = YogaServerInstance<Record<string, unknown>, GatewayContext>;

/** Custom header a browser cannot send cross-site without a CORS preflight. */
const CSRF_HEADER = 'x-graphql-csrf';

/**
 * Which browser pages may call the gateway. Callers authenticate with a bearer token, never a
 * cookie, so no credentials are allowed; a preflight is answered for the listed origins only.
 */
export function corsOptions(config: Config): CORSOptions | false {
  if (config.corsOrigins === '*') return { origin: ['*'], credentials: false };
  return config.corsOrigins.length ? { origin: config.corsOrigins, credentials: false } : false;
}

/** Builds the GraphQL endpoint; it never listens (see `http/handler.ts` and `gateway.ts`). */
export async function createYogaServer(options: YogaServerOptions): Promise<YogaServer> {
  const { services, authenticate } = options;
  const { config, log } = services;
  const { limits } = config;

  const plugins: Plugin[] = [
    useFastPathHooks(),
    // Abusive documents are refused during validation, before anything executes or calls Didit.
    EnvelopArmorPlugin({
      maxAliases: { n: limits.maxAliases },
      // Introspection is off in production; in development GraphiQL's own introspection is deeper.
      maxDepth: { n: limits.maxDepth, flattenFragments: true, ignoreIntrospection: true },
      maxTokens: { n: limits.maxTokens },
      maxDirectives: { n: limits.maxDirectives },
      costLimit: { maxCost: 5000 },
      // Replaced by useNoSuggestions (below), which also catches enum values.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
    // A request must be JSON or carry Authorization or a custom header: each forces a CORS
    // preflight in browsers. So urql's GET queries and Apollo's useGETForQueries work as shipped.
    useCsrfPrevention([CSRF_HEADER, 'x-graphql-yoga-csrf']),
    useVariableErrorCodes(),
    useRetryAfterHeader(),
    useCallerRateLimit(services.rateLimit),
    // Counted before anything runs: one operation cannot spend Didit's budget on its own.
    useUpstreamSessionCap(limits.maxSessionsPerOperation),
    useOperationObserver(log, services.metrics),
    // Compiled execution of queries and mutations: +30 % throughput on the frontend query with the
    // decision cache on (2,560 -> 3,370 req/s at 64 connections, same build, alternating runs).
    // Subscriptions keep graphql-js: graphql-jit's subscribe does not run our async iterators.
    // So do documents with several operations (GraphiQL sends its whole editor): the plugin keeps
    // one compiled operation per document, whatever operationName asks for next, and ran the
    // first-compiled one (a createSession when ReadDecision was asked for).
    useGraphQlJit(
      {},
      {
        enableIf: (args) =>
          args.document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length === 1 &&
          getOperationAST(args.document, args.operationName)?.operation !== 'subscription',
        onError: () => log.warn('graphql-jit could not compile an operation; it runs uncompiled'),
      },
    ) as Plugin,
    // graphql-sse's single connection mode at /graphql/stream (the distinct mode works there and at /graphql).
    useGraphqlSseStreams({ authenticate, log }),
    ...(options.plugins ?? []),
  ];
  if (tracingOn()) plugins.push(useTracing());
  // A validation rule, so every path to execution (Yoga, the JSON fast path, WebSocket) has it.
  if (config.production) {
    plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) }, useNoSuggestions());
  }
  if (config.trustedDocuments) {
    // A Map, not a manifest object: a client's hash such as `__proto__` or `constructor` must
    // not reach Object.prototype.
    const documents = options.persistedDocuments ?? new Map<string, string>();
    plugins.push(
      usePersistedOperations({
        // Clients send the bare hex (APQ's format) or the client preset's `sha256:<hex>`.
        getPersistedOperation: (hash) => {
          const key = normalizeHash(hash);
          return (key && documents.get(key)) ?? null;
        },
        allowArbitraryOperations: false,
        customErrors: {
          persistedQueryOnly: { message: 'Only trusted documents may run here', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } },
          notFound: { message: 'Unknown trusted document', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } },
          keyNotFound: { message: 'Send a trusted document id', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } },
        },
      }),
    );
  }

  // The bundled GraphiQL (works offline) weighs about 40 MB in memory: loaded only when served.
  const renderGraphiQL = config.production ? undefined : (await import('@graphql-yoga/render-graphiql')).renderGraphiQL;

  return createYoga<Record<string, unknown>, GatewayContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    batching: false,
    cors: corsOptions(config),
    // http/handler.ts already refuses a body without Content-Length or over the cap; Yoga's own limit
    // would wrap every body in a stream with an AbortController (6 % of CPU when measured).
    maxRequestBodySize: false,
    logging: false,
    graphiql: config.production ? false : { title: 'Didit gateway', ...options.graphiql, headers: JSON.stringify(options.graphiql?.headers ?? {}) },
    renderGraphiQL,
    plugins,
    maskedErrors: {
      maskError: (error) =>
        toClientError(error, (original) => log.error({ err: original }, UNEXPECTED)),
    },
    // Over HTTP the token is a header. The JSON fast path and WebSocket (which verifies it once,
    // at connection_init) hand over the caller they have already verified.
    context: async (initial: { request?: Request; caller?: Caller | null }) =>
      createContext(
        services,
        initial.caller !== undefined ? initial.caller : await authenticate(initial.request?.headers.get('authorization')),
        sessionReadsOf(initial),
        initial.request?.headers.get('x-request-id'),
      ),
  });
}
