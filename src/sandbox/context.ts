/**
 * What the parts of one sandbox share: its options resolved to values, the session store, the
 * access tokens, the fault injector and the webhook sender. Each API module (`api-v1.ts`; another
 * Didit API version would be one more) and the control endpoints get this context, so they all
 * serve the same sessions, tokens and faults.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isSessionId } from '../didit/session-id.ts';
import { Delays } from './delays.ts';
import { FaultInjector } from './faults.ts';
import { HttpError } from './http.ts';
import { SessionStore, type SessionRecord } from './store.ts';
import { AccessTokens } from './tokens.ts';
import { WebhookSender, webhookBody, type SandboxLogger } from './webhooks.ts';

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
}

export interface SandboxContext {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly tokenTtlSeconds: number;
  readonly stateFile: string | undefined;
  readonly logger: SandboxLogger;
  readonly store: SessionStore;
  readonly tokens: AccessTokens;
  readonly faults: FaultInjector;
  /** Pending fault latencies, cancelled on close. */
  readonly delays: Delays;
  readonly webhooks: WebhookSender;
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
  const webhooks = new WebhookSender({
    url: options.webhookUrl,
    secret: options.webhookSecret,
    retries: options.webhookRetries ?? 3,
    retryDelayMs: options.webhookRetryDelayMs ?? 1000,
    logger,
  });
  const store: SessionStore = new SessionStore((session) => {
    logger.info(`session ${session.id} is ${session.status}`);
    webhooks.send(webhookBody(store.decision(session), session.createdAt));
  });
  if (options.stateFile && existsSync(options.stateFile)) {
    store.restore(JSON.parse(readFileSync(options.stateFile, 'utf8')) as unknown[]);
  }
  const context: SandboxContext = {
    clientId: options.clientId ?? 'sandbox-client',
    clientSecret: options.clientSecret ?? 'sandbox-secret',
    tokenTtlSeconds,
    stateFile: options.stateFile,
    logger,
    store,
    tokens: new AccessTokens(tokenTtlSeconds),
    faults: new FaultInjector(options.seed),
    delays: new Delays(),
    webhooks,
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
