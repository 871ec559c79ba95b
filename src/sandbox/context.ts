/**
 * What the parts of one sandbox share: its options resolved to values, the session store, the
 * access tokens, the fault injector and the webhook sender. Each API module (`api-v1.ts`,
 * `api-v3.ts`) and the control endpoints get this context, so they all serve the same sessions,
 * tokens and faults: a session made over one API reads over the other.
 *
 * A session's webhooks take the form of the API that made it: v1's body for a v1 session, v3's
 * `status.updated` envelope (`v3-shapes.ts`) for a v3 one.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isSessionId } from '../didit/session-id.ts';
import { Delays } from './delays.ts';
import { FaultInjector } from './faults.ts';
import { stableUuid } from './credentials.ts';
import { HttpError } from './http.ts';
import { RateLimiter } from './rate-limits.ts';
import { SessionStore, type SessionRecord } from './store.ts';
import { AccessTokens } from './tokens.ts';
import { v3WebhookBody } from './v3-shapes.ts';
import { WebhookSender, webhookBody, type SandboxLogger, type V3WebhookBody } from './webhooks.ts';

export interface SandboxOptions {
  /** Default 'sandbox-client'. */
  clientId?: string;
  /** Default 'sandbox-secret'. */
  clientSecret?: string;
  /** The `x-api-key` the v3 API takes. Default 'sandbox-api-key-0123456789'. */
  apiKey?: string;
  /** Lifetime of access tokens. Default 3600. */
  tokenTtlSeconds?: number;
  webhookUrl?: string;
  webhookSecret?: string;
  /** Retries after a failed delivery. Default 3. */
  webhookRetries?: number;
  /** Delay before each retry. Default 1000. */
  webhookRetryDelayMs?: number;
  /** Origin of session `url`s, e.g. 'https://sandbox.example.com'. Default: where it listens. */
  publicUrl?: string;
  /** Seed of the PRNG behind fault rates, for reproducible soak runs. Default: random. */
  seed?: number;
  /** Default: silent. */
  logger?: SandboxLogger;
  /** A JSON file the sessions are loaded from at start and saved to on close, to survive restarts. */
  stateFile?: string;
  /**
   * Didit's per-key rate limits on the v3 API (decision 100/min, PDF 50/min, create 600/min,
   * other GETs 600/min, other writes 300/min), with `X-RateLimit-*` headers on every v3 answer.
   * Default false, so tests are not throttled; injected 'rate-limit' faults work either way.
   */
  rateLimits?: boolean;
}

export interface SandboxContext {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiKey: string;
  /** The application the API key and client belong to: v3 webhooks' `application_id`, the token's `sub`. */
  readonly applicationId: string;
  readonly tokenTtlSeconds: number;
  readonly stateFile: string | undefined;
  readonly logger: SandboxLogger;
  readonly store: SessionStore;
  readonly tokens: AccessTokens;
  readonly faults: FaultInjector;
  /** Pending fault latencies, cancelled on close. */
  readonly delays: Delays;
  readonly webhooks: WebhookSender;
  /** Only with the `rateLimits` option. */
  readonly rateLimiter: RateLimiter | undefined;
  /** Set once listening, e.g. 'http://127.0.0.1:40123'. */
  listenUrl: string | undefined;
  /** Closed: requests held by a latency fault are dropped instead of answered. */
  closed: boolean;
  /** Draining for a shutdown: every request is answered 503. */
  draining: boolean;
  /** The origin of a new session's page URL: the public URL, else where it listens, else the Host. */
  sessionOrigin(req: IncomingMessage): string;
}

export function createContext(options: SandboxOptions): SandboxContext {
  const logger = options.logger ?? { info() {}, warn() {} };
  const publicUrl = options.publicUrl?.replace(/\/+$/, '');
  const tokenTtlSeconds = options.tokenTtlSeconds ?? 3600;
  const clientId = options.clientId ?? 'sandbox-client';
  const applicationId = stableUuid(`application:${clientId}`);
  const webhooks = new WebhookSender({
    url: options.webhookUrl,
    secret: options.webhookSecret,
    retries: options.webhookRetries ?? 3,
    retryDelayMs: options.webhookRetryDelayMs ?? 1000,
    logger,
  });
  const store: SessionStore = new SessionStore((session) => {
    logger.info(`session ${session.id} is ${session.status}`);
    if (session.api === 'v3') webhooks.sendV3(v3WebhookBody(session, applicationId) as V3WebhookBody);
    else webhooks.send(webhookBody(store.decision(session), session.createdAt));
  });
  if (options.stateFile && existsSync(options.stateFile)) {
    store.restore(JSON.parse(readFileSync(options.stateFile, 'utf8')) as unknown[]);
  }
  const context: SandboxContext = {
    clientId,
    clientSecret: options.clientSecret ?? 'sandbox-secret',
    apiKey: options.apiKey ?? 'sandbox-api-key-0123456789',
    applicationId,
    tokenTtlSeconds,
    stateFile: options.stateFile,
    logger,
    store,
    tokens: new AccessTokens(tokenTtlSeconds),
    faults: new FaultInjector(options.seed),
    delays: new Delays(),
    webhooks,
    rateLimiter: options.rateLimits ? new RateLimiter() : undefined,
    listenUrl: undefined,
    closed: false,
    draining: false,
    sessionOrigin: (req) => publicUrl ?? context.listenUrl ?? `http://${req.headers.host ?? 'localhost'}`,
  };
  return context;
}

/** The session with this id, or a 404 as Didit answers for an unknown (or malformed) id. */
export function findSession(store: SessionStore, id: string): SessionRecord {
  const session = isSessionId(id) ? store.get(id) : undefined;
  if (!session) throw new HttpError(404, { detail: 'Not found.' });
  return session;
}
