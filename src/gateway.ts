import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'graphql-yoga';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config.ts';
import type { DiditClientOptions } from './didit/client.ts';
import type { SandboxOptions } from './sandbox/server.ts';
import { openAuditStore } from './audit/store.ts';
import { createAuditExportRoute } from './http/audit-export.ts';
import { createAuthenticator } from './core/auth.ts';
import { setPseudonymKey } from './core/budget.ts';
import type { Services } from './core/context.ts';
import { createLogger } from './core/logger.ts';
import { createServices } from './core/services.ts';
import { answerClientError, createHttpHandler } from './http/handler.ts';
import { createProbeRoutes, serveMetricsOnly } from './http/probe-routes.ts';
import { createWebhookRoute } from './http/webhooks.ts';
import { attachWebSocket } from './http/websocket.ts';
import { createAnswerCache } from './http/graphql/fast-path/answer-cache.ts';
import { createGraphqlFastPath } from './http/graphql/fast-path/handler.ts';
import { loadTrustedDocuments, operationNames } from './http/graphql/trusted-documents.ts';
import { corsOptions, createYogaServer, type YogaServer } from './http/graphql/yoga.ts';
import { exampleOperations } from './sandbox-mode/graphiql.ts';
import { startSandboxMode, type DemoTokens, type SandboxMode } from './sandbox-mode/start.ts';

export interface StartOptions {
  /** Where logs go (default stdout); tests capture them here. */
  logDestination?: DestinationStream;
  /** Options for the embedded sandbox in sandbox mode (tests make tokens short, faults...). */
  sandbox?: Partial<SandboxOptions>;
  /** Overrides for the Didit client (tests shorten retries and timeouts). */
  didit?: Partial<DiditClientOptions>;
  /** Trusted documents, bare hex hash -> document, for `TRUSTED_DOCUMENTS` (instead of the manifests). */
  persistedDocuments?: Map<string, string>;
  /** Extra envelop plugins for the GraphQL endpoint, after the gateway's own. */
  plugins?: Plugin[];
  /** v3: how often kept copies are reconciled with Didit's session list (default a quarter of DECISION_MAX_AGE_MS; 0: never, tests call `reconcile`). */
  reconcileEveryMs?: number;
}

export interface RunningGateway {
  /** Where the gateway listens, e.g. http://127.0.0.1:4000. */
  url: string;
  /** Where `/metrics` is served alone, with `METRICS_PORT`. */
  metricsUrl?: string;
  server: Server;
  /** The GraphQL endpoint itself (Yoga), e.g. to mount it in a server of your own. */
  yoga: YogaServer;
  services: Services;
  log: Logger;
  /** The embedded Didit simulator, in sandbox mode. */
  sandbox?: SandboxMode['sandbox'];
  /** Ready-made caller tokens, in sandbox mode. */
  demoTokens?: DemoTokens;
  /** Stops taking requests, lets in-flight ones finish (up to `graceMs`), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the gateway as configured, in sandbox mode with the Didit simulator in-process, and
 * listens on `config.port` (0 picks a free port). The composition root: it builds the parts and
 * connects them, and is the only place that opens sockets.
 */
export async function startGateway(configured: Config, options: StartOptions = {}): Promise<RunningGateway> {
  const log = createLogger(configured.logLevel, options.logDestination);
  // Read before anything starts: a missing or broken manifest stops the start (ConfigError).
  const trustedDocuments = configured.trustedDocuments ? (options.persistedDocuments ?? readManifests(configured)) : undefined;
  setPseudonymKey(configured.audit.pseudonymKey?.bytes());
  // The audit trail first: a database that cannot be opened stops the start before any port opens.
  const audit = await openAuditStore({ config: configured.audit, log });
  const sandboxMode = configured.sandbox ? await startSandboxMode(configured, options.sandbox) : undefined;
  const config = sandboxMode?.config ?? configured;

  // Answers kept by the fast path go whenever a session they read is dropped.
  const answers = createAnswerCache(config.responseCacheMax);
  const { services, close: closeServices, recordAfterDrop } = createServices(config, {
    log,
    didit: options.didit,
    onSessionDropped: answers.dropSession,
    reconcileEveryMs: options.reconcileEveryMs,
    trustedOperations: trustedDocuments && operationNames(trustedDocuments.values()),
    audit,
    // Only where Didit lists no sessions (v1): with v3 the index would keep data for nothing.
    sessionIndex: config.didit.api === 'v1' ? audit.sessions : undefined,
  });
  const { decisionCache, events, metrics } = services;
  // In sandbox mode the simulator's webhooks come to this gateway, signed with a secret of its own.
  const webhookSecrets = [...config.webhookSecrets, ...(sandboxMode ? [sandboxMode.webhookSecret] : [])];
  const demoTokens = sandboxMode?.demoTokens;
  const authenticate = createAuthenticator({ ...config.auth, jwtSecret: sandboxMode ? sandboxMode.jwtSecret : config.auth.jwtSecret, auditorRole: config.audit.auditorRole });
  const yoga = await createYogaServer({
    services,
    authenticate,
    persistedDocuments: trustedDocuments,
    plugins: options.plugins,
    graphiql: config.production ? undefined : { defaultQuery: exampleOperations(config.didit.api), ...(demoTokens && { headers: { Authorization: `Bearer ${demoTokens.reviewer}` } }) },
  });
  const fastPath = config.graphqlFastPath ? await createGraphqlFastPath({ yoga, services, responses: answers, authenticate, cors: corsOptions(config) }) : undefined;

  let draining = false;
  const webhooks = createWebhookRoute({ secrets: () => webhookSecrets, events: recordAfterDrop, log, onDelivery: metrics.webhook, onDataChanged: (id) => decisionCache.delete(id) });
  const probes = createProbeRoutes({ services, isDraining: () => draining });
  // 1 MiB socket buffers: with the default 16 kB, a PDF download (64 kB chunks from Didit) waited
  // for 'drain' after every chunk. They fill only as fast as a client falls behind.
  const server = createServer({ highWaterMark: 1024 * 1024 }, createHttpHandler({ services, yoga, fastPath, routes: [probes, webhooks, createAuditExportRoute({ services, authenticate })] }));
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  await listen(server, config.port, config.host);
  // METRICS_PORT: /metrics alone on a port of its own (kept off the public network).
  const metricsServer = config.metricsPort === undefined ? undefined : createServer(serveMetricsOnly(services));
  if (metricsServer) await listen(metricsServer, config.metricsPort!, config.host);
  const websocket = attachWebSocket({ server, yoga, authenticate, log, maxPayloadBytes: config.limits.maxBodyBytes, maxSocketsPerCaller: config.limits.maxSocketsPerCaller });
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const urlOf = (listening: Server) => `http://${host}:${(listening.address() as AddressInfo).port}`;
  const url = urlOf(server);
  sandboxMode?.sandbox.instance.setWebhook(`${url}/webhooks/didit`, sandboxMode.webhookSecret);

  let closing: Promise<void> | undefined;
  return {
    url,
    metricsUrl: metricsServer && urlOf(metricsServer),
    server,
    yoga,
    services,
    log,
    sandbox: sandboxMode?.sandbox,
    demoTokens,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Keep-alive connections are closed as soon as they fall idle, those still busy after
        // the grace period are cut.
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
        // Open subscriptions end cleanly: WebSocket ones with a close frame, SSE ones with the stream.
        await websocket.close();
        await events.close();
        await closed;
        if (metricsServer) await new Promise((resolve) => metricsServer.close(resolve));
        clearInterval(idle);
        clearTimeout(deadline);
        await closeServices();
        await sandboxMode?.sandbox.instance.close();
        await audit.close();
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** `TRUSTED_DOCUMENTS_MANIFESTS`, or the manifest `npm run codegen` writes from `operations/*.graphql`. */
function readManifests(config: Config): Map<string, string> {
  if (config.trustedDocumentManifests) return loadTrustedDocuments(config.trustedDocumentManifests);
  return loadTrustedDocuments([fileURLToPath(new URL('./generated/persisted-documents.json', import.meta.url))], 'TRUSTED_DOCUMENTS');
}
