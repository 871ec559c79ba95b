import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'graphql-yoga';
import { SignJWT } from 'jose';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config.ts';
import { mediaLifetimeMs } from './didit/media-expiry.ts';
import { LIST_CALLS_PER_MINUTE } from './didit/v1.ts';
import { createDiditClient, type DiditClientOptions } from './didit/client.ts';
import { KYC_AML_WORKFLOW_ID } from './sandbox/workflows.ts';
import type { Sandbox, SandboxOptions } from './sandbox/server.ts';
import { createAuthenticator } from './core/auth.ts';
import { createBudget } from './core/budget.ts';
import type { Services } from './core/context.ts';
import { createDecisionCache } from './core/decision-cache.ts';
import { createSharedDecisions, type SharedDecisions } from './core/shared-decisions.ts';
import { createFleetBuckets } from './core/fleet-buckets.ts';
import { createHttpHandler } from './http/handler.ts';
import { createLogger } from './core/logger.ts';
import { createMetrics } from './core/metrics.ts';
import { createOperationsRoutes } from './http/operations-routes.ts';
import { createPdfLinks } from './core/pdf-links.ts';
import { createRateLimit } from './core/rate-limit.ts';
import { createResponseCache } from './core/response-cache.ts';
import { DELETED_STATUS, createStatusEvents } from './core/status-events.ts';
import { createSubscriptionSlots } from './core/subscription-slots.ts';
import { createWebhookRoute } from './http/webhooks.ts';
import { attachWebSocket } from './http/websocket.ts';
import { loadTrustedDocuments } from './http/graphql/trusted-documents.ts';
import { createYogaServer, type YogaServer } from './http/graphql/yoga.ts';

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
}

export interface RunningGateway {
  /** Where the gateway listens, e.g. http://127.0.0.1:4000. */
  url: string;
  server: Server;
  /** The GraphQL endpoint itself (Yoga), e.g. to mount it in a server of your own. */
  yoga: YogaServer;
  services: Services;
  log: Logger;
  /** The embedded Didit simulator, in sandbox mode. */
  sandbox?: { url: string; instance: Sandbox };
  /** Ready-made caller tokens, in sandbox mode. */
  demoTokens?: { applicant: string; applicantSub: string; reviewer: string };
  /** Stops taking requests, lets in-flight ones finish (up to `graceMs`), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

const DEMO_TOKEN_LIFETIME = '24h';

/**
 * Starts the gateway as configured: in sandbox mode with the Didit simulator in-process, and
 * listening on `config.port` (0 picks a free port). The only place that opens sockets.
 */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<RunningGateway> {
  const log = createLogger(config.logLevel, options.logDestination);
  // Read before anything starts: a missing or broken manifest stops the start (ConfigError).
  const trustedDocuments = config.trustedDocuments ? (options.persistedDocuments ?? readManifests(config)) : undefined;

  let sandbox: RunningGateway['sandbox'];
  let didit = config.didit;
  let jwtSecret = config.auth.jwtSecret;
  let ownSecret = false;
  if (config.sandbox) {
    // Loaded only in sandbox mode: a gateway talking to Didit carries none of the simulator.
    const { createSandbox } = await import('./sandbox/server.ts');
    const instance = createSandbox({
      clientId: config.sandboxServer.clientId,
      clientSecret: config.sandboxServer.clientSecret,
      apiKey: config.sandboxServer.apiKey,
      ...options.sandbox,
    });
    const { url } = await instance.listen(config.sandboxServer.port, '127.0.0.1');
    sandbox = { url, instance };
    // In v3, sessions run the sandbox's KYC + AML workflow unless DIDIT_WORKFLOW_ID names another.
    didit = { ...didit, authUrl: url, apiUrl: url, defaultWorkflowId: didit.defaultWorkflowId ?? KYC_AML_WORKFLOW_ID };
    // Sandbox mode verifies callers with a secret of its own unless one is configured.
    if (!jwtSecret && !config.auth.jwksUrl) {
      jwtSecret = randomBytes(32).toString('base64url');
      ownSecret = true;
    }
  }

  const events = createStatusEvents({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, log });
  // Didit's pace and every caller's limits, counted for the whole fleet when Redis is configured.
  const buckets = createFleetBuckets({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, instances: config.budget.instances, log });
  const breakerGauge = { closed: 0, 'half-open': 0.5, open: 1 } as const;
  const metrics = createMetrics({
    subscriptions: () => events.subscriberCount(),
    redisConnected: () => events.connected(),
    breakerOpen: () => breakerGauge[client.breakerState()],
    budgetShared: () => buckets.shared(),
  });
  const { api, clientId, clientSecret, authUrl, apiKey, ...common } = didit;
  const client = createDiditClient({
    ...(api === 'v3' ? { apiKey } : { clientId, clientSecret, authUrl }),
    ...common,
    paceBuckets: buckets,
    onCall: ({ endpoint, status, durationMs }) => {
      metrics.upstreamCall(endpoint, status, durationMs / 1000);
      if (log.isLevelEnabled('debug')) log.debug({ endpoint, status, durationMs: Math.round(durationMs) }, 'didit call');
    },
    onTokenRefresh: () => {
      metrics.tokenRefreshed();
      log.info('didit token refreshed');
    },
    onBreakerChange: (state) => (state === 'open' ? log.error : log.warn).call(log, { state }, `circuit breaker around Didit is ${state}`),
    ...options.didit,
  });
  const responses = createResponseCache(config.responseCacheMax);
  const sharedDecisions = startSharedDecisions(config, log);
  const decisionCache = createDecisionCache(client, {
    ...config.decisionCache,
    maxTtlMs: (decision) => mediaLifetimeMs(decision, config.decisionCache.mediaTtlMs),
    shared: sharedDecisions && {
      store: sharedDecisions,
      // Kept long on the word of webhooks, which drop a session when it changes: without them
      // (none configured), a finished session is shared no longer than it is kept in-process.
      ttlFinalMs: config.sandbox || config.webhookSecrets.length > 0 ? config.decisionCache.sharedTtlMs : config.decisionCache.ttlFinalMs,
    },
    onLookup: metrics.cacheLookup,
    onDelete: responses.dropSession,
    log,
  });
  // Every instance drops its cached copy of a session whatever instance got the webhook.
  events.onEvent((event) => void decisionCache.delete(event.sessionId));
  const services: Services = {
    config,
    didit: client,
    decisionCache,
    responses,
    rateLimit: createRateLimit(config.rateLimitPerMinute, buckets),
    budget: createBudget({
      buckets,
      config: config.budget,
      limitsPerMinute: { decision: config.didit.decisionsPerMinute, pdf: config.didit.pdfsPerMinute, list: LIST_CALLS_PER_MINUTE },
    }),
    events,
    subscriptionSlots: createSubscriptionSlots(config.limits.maxSubscriptionsPerCaller),
    metrics,
    pdfLinks: createPdfLinks({ publicUrl: config.publicUrl, secret: config.pdfLinkSecret, ttlSeconds: config.pdfLinkTtlSeconds }),
    log,
    async erase(sessionId) {
      await decisionCache.delete(sessionId);
      await events.record({ sessionId: sessionId.toLowerCase(), status: DELETED_STATUS, timestamp: Math.floor(Date.now() / 1000) });
    },
  };
  // In sandbox mode the simulator's webhooks come to this gateway, signed with a secret of its own.
  const webhookSecrets = [...config.webhookSecrets, ...(sandbox ? [randomBytes(32).toString('base64url')] : [])];

  // Ready-made tokens only with a secret this process made up: a configured secret may be a real
  // one, and a reviewer token for it must never sit in a GraphiQL page.
  const demoTokens = ownSecret && jwtSecret ? await mintDemoTokens(jwtSecret, config) : undefined;
  const authenticate = createAuthenticator({ ...config.auth, jwtSecret });
  const yoga = await createYogaServer({
    services,
    authenticate,
    persistedDocuments: trustedDocuments,
    plugins: options.plugins,
    graphiql: { defaultQuery: exampleOperations(config.didit.api), ...(demoTokens && { headers: { Authorization: `Bearer ${demoTokens.reviewer}` } }) },
  });

  let draining = false;
  const webhooks = createWebhookRoute({ secrets: () => webhookSecrets, events, log, onDelivery: metrics.webhook, onDataChanged: (id) => decisionCache.delete(id) });
  const operations = createOperationsRoutes({ services, isDraining: () => draining });
  // 1 MiB socket buffers: with the default 16 kB, a PDF download (64 kB chunks from Didit) waited
  // for 'drain' after every chunk. They fill only as fast as a client falls behind.
  const server = createServer({ highWaterMark: 1024 * 1024 }, createHttpHandler({ services, yoga, authenticate, routes: [operations, webhooks] }));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const websocket = attachWebSocket({ server, yoga, authenticate, log, maxPayloadBytes: config.limits.maxBodyBytes });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  sandbox?.instance.setWebhook(`${url}/webhooks/didit`, webhookSecrets.at(-1));

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    yoga,
    services,
    log,
    sandbox,
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
        await sharedDecisions?.close();
        await closed;
        clearInterval(idle);
        clearTimeout(deadline);
        await client.close();
        await buckets.close();
        await sandbox?.instance.close();
      })();
      return closing;
    },
  };
}

/** The decision cache's level shared through Redis, when both Redis and a key to seal values are configured. */
function startSharedDecisions(config: Config, log: Logger): SharedDecisions | undefined {
  if (!config.redisUrl) return undefined;
  const key = config.decisionCache.key;
  if (!key) {
    log.warn('DECISION_CACHE_KEY is not set: decisions are not shared through Redis, every instance reads Didit for itself');
    return undefined;
  }
  return createSharedDecisions({ redisUrl: config.redisUrl, prefix: config.redisKeyPrefix, key: key.bytes(), log });
}

/** `TRUSTED_DOCUMENTS_MANIFESTS`, or the manifest `npm run codegen` writes from `operations/*.graphql`. */
function readManifests(config: Config): Map<string, string> {
  if (config.trustedDocumentManifests) return loadTrustedDocuments(config.trustedDocumentManifests);
  return loadTrustedDocuments([fileURLToPath(new URL('./generated/persisted-documents.json', import.meta.url))], 'TRUSTED_DOCUMENTS');
}

async function mintDemoTokens(secret: string, config: Config) {
  const key = new TextEncoder().encode(secret);
  const mint = (sub: string, roles: string[]) => {
    let jwt = new SignJWT({ [config.auth.rolesClaim]: roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(DEMO_TOKEN_LIFETIME);
    if (config.auth.issuer) jwt = jwt.setIssuer(config.auth.issuer);
    if (config.auth.audience) jwt = jwt.setAudience(config.auth.audience);
    return jwt.sign(key);
  };
  const applicantSub = `applicant-${randomUUID()}`;
  return { applicant: await mint(applicantSub, []), applicantSub, reviewer: await mint('sandbox-reviewer', ['reviewer']) };
}

/** What GraphiQL opens with: operations that run as they are against the sandbox, in either API. */
export function exampleOperations(api: 'v1' | 'v3'): string {
  const input = api === 'v1' ? 'callback: "http://localhost:3000/verified", features: [OCR, FACE, AML], vendorData: "user-42"' : 'callback: "http://localhost:3000/verified", vendorData: "user-42"';
  return `# Welcome to the Didit gateway (Didit ${api}). GraphiQL is signed in as a reviewer (see the Headers tab).
# 1. Run StartVerification, open session.url and pick an outcome on the sandbox page.
# 2. Put the session id in the variables ({"id": "…"}) and run ReadDecision, Approve, Report.

mutation StartVerification {
  createSession(input: { ${input} }) {
    session { id url status }
  }
}

query ReadDecision($id: ID!) {
  session(id: $id) {
    status
    decision {
      kyc { fullName documentType documentNumber dateOfBirth }
      face { livenessStatus faceMatchSimilarity }
      aml { totalHits score hits { caption datasets } }
      location { ipCountry isVpnOrTor }
      warnings { risk shortDescription }
    }
  }
}

mutation Approve($id: ID!) {
  updateSessionStatus(input: { sessionId: $id, status: APPROVED, comment: "Checked by hand" }) {
    session { status decision { reviews { newStatus comment } } }
  }
}

mutation Report($id: ID!) {
  generateSessionPdf(sessionId: $id) { url expiresAt }
}
`;
}
