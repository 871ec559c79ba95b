import { Writable } from 'node:stream';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { ClientError, GraphQLClient } from 'graphql-request';
import { SignJWT } from 'jose';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway, type StartOptions } from '../../src/gateway.ts';
import { testAuditEnv } from './postgres.ts';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!';

/** Every log line the gateway wrote, raw, so tests can search it for leaks. */
export class CapturedLogs extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  }
  get text() {
    return this.lines.join('\n');
  }
}

export interface GqlResult<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
  status: number;
}

export interface TestGateway extends RunningGateway {
  logs: CapturedLogs;
  sandboxInstance: NonNullable<RunningGateway['sandbox']>['instance'];
  /** A signed caller token. */
  token(sub: string, roles?: string[], claims?: Record<string, unknown>): Promise<string>;
  /** A typed client as a frontend would use it (graphql-request over HTTP). */
  client(token?: string): GraphQLClient;
  /** Runs a typed document and returns data and errors together. */
  run<T, V extends Record<string, unknown>>(token: string | undefined, document: TypedDocumentNode<T, V>, variables?: V): Promise<GqlResult<T>>;
  /** Posts raw GraphQL text. */
  post(token: string | undefined, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResult<Record<string, any>>>;
  /** Upstream requests the sandbox saw for one endpoint. */
  upstream(endpoint: 'token' | 'create' | 'decision' | 'pdf' | 'update'): number;
}

/** Starts the whole gateway in sandbox mode on free ports, as `npm start` would. */
export async function startTestGateway(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestGateway> {
  const logs = new CapturedLogs();
  // Production refuses sandbox mode; production tests still talk to the in-process simulator.
  const simulatedProduction = env.NODE_ENV === 'production' && !env.DIDIT_CLIENT_ID;
  const loaded = loadConfig({
    ...(simulatedProduction && { DIDIT_CLIENT_ID: 'sandbox', DIDIT_CLIENT_SECRET: 'sandbox' }),
    PORT: '0',
    HOST: '127.0.0.1',
    SANDBOX_PORT: '0',
    LOG_LEVEL: 'info',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    // Tests read far faster than Didit allows; pacing has tests of its own.
    DIDIT_DECISIONS_PER_MINUTE: '1000000',
    DIDIT_PDFS_PER_MINUTE: '1000000',
    // Sandbox mode speaks v3 by default; these tests speak v1 unless they ask for v3 (v3 has tests of its own).
    SANDBOX_API_VERSION: 'v1',
    // The audit trail in the run's PostgreSQL database.
    ...testAuditEnv(),
    // Production needs METRICS_TOKEN or METRICS_PORT; tests that do not test metrics take a token.
    ...(env.NODE_ENV === 'production' && !env.METRICS_PORT && { METRICS_TOKEN: 'test-metrics-token-0123456789' }),
    ...env,
  });
  const config = simulatedProduction
    ? { ...loaded, sandbox: true, didit: { ...loaded.didit, clientId: loaded.sandboxServer.clientId, clientSecret: loaded.sandboxServer.clientSecret } }
    : loaded;
  const gateway = await startGateway(config, {
    logDestination: logs,
    ...options,
    sandbox: { webhookRetryDelayMs: 10, ...options.sandbox },
    didit: { retryMinDelayMs: 5, retryMaxDelayMs: 20, ...options.didit },
  });
  const endpoint = `${gateway.url}/graphql`;
  const key = new TextEncoder().encode(env.AUTH_JWT_SECRET ?? TEST_JWT_SECRET);
  const auth = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

  const post: TestGateway['post'] = async (token, query, variables, headers = {}) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(token), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { ...(await response.json()), status: response.status };
  };

  return {
    ...gateway,
    logs,
    sandboxInstance: gateway.sandbox?.instance as TestGateway['sandboxInstance'],
    token: (sub, roles = [], claims = {}) =>
      new SignJWT({ roles, ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(key),
    client: (token) => new GraphQLClient(endpoint, { headers: auth(token), errorPolicy: 'all' }),
    async run<T, V extends Record<string, unknown>>(token: string | undefined, document: TypedDocumentNode<T, V>, variables?: V) {
      try {
        const result = await new GraphQLClient(endpoint, { headers: auth(token), errorPolicy: 'all' }).rawRequest<T>(print(document), variables);
        return { data: result.data, errors: result.errors as GqlResult<unknown>['errors'], status: result.status };
      } catch (error) {
        // A GraphQL answer with a status other than 200 (429 for a request refused before it ran).
        if (!(error instanceof ClientError)) throw error;
        return { data: error.response.data as T | undefined, errors: error.response.errors as GqlResult<unknown>['errors'], status: error.response.status };
      }
    },
    post,
    upstream: (name) => gateway.sandbox!.instance.requests.filter((r) => r.endpoint === name).length,
  };
}

export function codes(result: { errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown[] {
  return (result.errors ?? []).map((e) => e.extensions?.code);
}
