/**
 * The Didit sandbox: an offline, stateful stand-in for Didit's v1 REST API, answering with the
 * seed's paths, methods, status codes and fields, so code written against the seed works against
 * it unchanged. Auth and verification paths share one origin.
 *
 * Beyond the API it serves the applicant's page at each session's `url`, a control endpoint to
 * finish sessions (`POST /sandbox/sessions/{id}/complete`), and fault injection
 * (`/sandbox/faults`) so the gateway's error handling can be exercised.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isWireFeatures } from '../didit/features.ts';
import { isSessionId } from '../didit/session-id.ts';
import {
  FINAL_STATUSES,
  type CreateSessionResponse,
  type Decision,
  type FinalStatus,
  type Kyc,
  type TokenResponse,
} from '../didit/types.ts';
import { Delays } from './delays.ts';
import { FaultError, FaultInjector, parseFault, parseRates, type ApiEndpoint, type Fault, type FaultRates } from './faults.ts';
import { HttpError, readForm, readJsonObject, sendJson } from './http.ts';
import { messagePage, PAGE_HEADERS, sessionPage } from './page.ts';
import { renderDecisionPdf } from './pdf.ts';
import { KycOverrideError, parseKycOverrides } from './personas.ts';
import { isFinished, SessionStateError, SessionStore, type SessionRecord } from './store.ts';
import { AccessTokens } from './tokens.ts';
import { WebhookSender, webhookBody, type SandboxLogger } from './webhooks.ts';

export type { ApiEndpoint, Fault, FaultKind, FaultRates } from './faults.ts';
export type { SandboxLogger } from './webhooks.ts';


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

export type Endpoint = ApiEndpoint | 'other';

export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  endpoint: Endpoint;
}

export interface CompleteOverrides {
  /** KYC fields replacing the generated persona's, e.g. recognisable personal data. */
  kyc?: Partial<Kyc>;
}

export interface Sandbox {
  /** Starts listening; `url` is the origin, e.g. 'http://127.0.0.1:40123'. */
  listen(port?: number, host?: string): Promise<{ url: string }>;
  /** Closes every socket (keep-alive ones too) and cancels pending latency and webhook retries. */
  close(): Promise<void>;
  setWebhook(url: string | undefined, secret: string | undefined): void;
  /**
   * Resolves once every webhook queued so far has been delivered or given up on, so a test can
   * wait for the receiver's side effects of `complete` instead of sleeping.
   */
  webhooksSettled(): Promise<void>;
  /**
   * For a shutdown: from now on every request is answered 503 (so nothing new is promised), and
   * the returned promise resolves once the webhooks already owed are delivered or given up on.
   */
  drain(): Promise<void>;
  /** Finishes a session as the applicant would; throws if it is unknown or already finished. */
  complete(sessionId: string, status: FinalStatus, overrides?: CompleteOverrides): Decision;
  /** Throws a `FaultError` for a fault it cannot apply. */
  injectFault(fault: Fault): void;
  /** Replaces the rates; throws a `FaultError` for rates it cannot apply. */
  setFaultRates(rates: FaultRates): void;
  clearFaults(): void;
  /** Every request received, for tests to count; a long run keeps at least the latest 100,000. */
  readonly requests: readonly RecordedRequest[];
  resetRequests(): void;
  /** The node request handler, to mount the sandbox in another server. */
  readonly handler: RequestListener;
}

/** Who appears as the reviewer of `update-status` calls, as a Didit console user would. */
const REVIEWER = 'sandbox-client@sandbox.local';
const DEFAULT_FEATURES = 'OCR + FACE';
const REQUEST_LOG_LIMIT = 100_000;

interface Route {
  pattern: RegExp;
  endpoint: Endpoint;
  /** By method; the captured path segments are passed as `params`. */
  methods: Record<string, (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void>;
}

export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const clientId = options.clientId ?? 'sandbox-client';
  const clientSecret = options.clientSecret ?? 'sandbox-secret';
  const ttlSeconds = options.tokenTtlSeconds ?? 3600;
  const logger = options.logger ?? { info() {}, warn() {} };
  const publicUrl = options.publicUrl?.replace(/\/+$/, '');

  const tokens = new AccessTokens(ttlSeconds);
  const faults = new FaultInjector(options.seed);
  const delays = new Delays();
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
  const requests: RecordedRequest[] = [];
  const server = createServer();
  let listenUrl: string | undefined;
  let closed = false;
  let draining = false;

  // ---- Didit's API ----------------------------------------------------------------------------

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!credentialsMatch(req.headers.authorization, clientId, clientSecret)) {
      throw new HttpError(401, { detail: 'Invalid client credentials.' }, { 'WWW-Authenticate': 'Basic realm="didit"' });
    }
    const form = await readForm(req);
    if (form.get('grant_type') !== 'client_credentials') {
      throw new HttpError(400, { detail: 'grant_type must be client_credentials.' });
    }
    const issued = tokens.issue();
    const body: TokenResponse = {
      iss: 'https://didit.me',
      iat: issued.iat,
      sub: stableUuid(`application:${clientId}`),
      client_id: clientId,
      organization_id: stableUuid(`organization:${clientId}`),
      expires_in: ttlSeconds,
      exp: issued.exp,
      access_token: issued.accessToken,
    };
    sendJson(res, 200, body);
  }

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireBearer(req);
    const input = await readJsonObject(req);
    const errors: Record<string, string[]> = {};
    const { callback, features = DEFAULT_FEATURES, vendor_data: vendorData = null } = input;
    if (callback === undefined) errors.callback = ['This field is required.'];
    else if (!isHttpUrl(callback)) errors.callback = ['Enter a valid URL.'];
    if (typeof features !== 'string' || !isWireFeatures(features)) {
      errors.features = [`"${String(features).slice(0, 100)}" is not a valid choice.`];
    }
    if (vendorData !== null && typeof vendorData !== 'string') errors.vendor_data = ['Not a valid string.'];
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);

    const session = store.create({
      callback: callback as string,
      features: features as string,
      vendorData: vendorData as string | null,
      origin: publicUrl ?? listenUrl ?? `http://${req.headers.host ?? 'localhost'}`,
    });
    const body: CreateSessionResponse = {
      session_id: session.id,
      session_number: session.number,
      session_token: session.token,
      vendor_data: session.vendorData,
      status: session.status,
      callback: session.callback,
      url: session.url,
      features: session.features,
    };
    sendJson(res, 201, body);
  }

  function decision(req: IncomingMessage, res: ServerResponse, [id]: string[]): void {
    requireBearer(req);
    sendJson(res, 200, store.decision(findSession(id!)));
  }

  async function pdf(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    requireBearer(req);
    const session = findSession(id!);
    if (!(FINAL_STATUSES as readonly string[]).includes(session.status)) {
      throw new HttpError(403, { detail: 'A report is only available for sessions that are Approved, Declined or In Review.' });
    }
    const report = await renderDecisionPdf(store.decision(session));
    res.writeHead(200, {
      'Content-Type': 'application/pdf',
      'Content-Disposition': `attachment; filename=session_${session.id}.pdf`,
      'Content-Length': report.length,
    });
    res.end(report);
  }

  async function updateStatus(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    requireBearer(req);
    const session = findSession(id!);
    const { new_status: status, comment = null } = await readJsonObject(req);
    const errors: Record<string, string[]> = {};
    if (status === undefined) errors.new_status = ['This field is required.'];
    else if (status !== 'Approved' && status !== 'Declined') errors.new_status = [`"${String(status).slice(0, 100)}" is not a valid choice.`];
    if (comment !== null && typeof comment !== 'string') errors.comment = ['Not a valid string.'];
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    try {
      store.review(session, status as 'Approved' | 'Declined', comment as string | null, REVIEWER);
    } catch (error) {
      if (error instanceof SessionStateError) throw new HttpError(400, { detail: error.message });
      throw error;
    }
    sendJson(res, 200, { session_id: session.id });
  }

  // ---- The sandbox's own endpoints ------------------------------------------------------------

  async function completeEndpoint(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    const session = findSession(id!);
    const { status, kyc } = await readJsonObject(req);
    if (!isFinalStatus(status)) throw new HttpError(400, { status: [`Must be one of: ${FINAL_STATUSES.join(', ')}.`] });
    try {
      store.finish(session, status, kyc === undefined ? undefined : parseKycOverrides(kyc));
    } catch (error) {
      if (error instanceof KycOverrideError) throw new HttpError(400, { kyc: [error.message] });
      if (error instanceof SessionStateError) throw new HttpError(409, { detail: error.message });
      throw error;
    }
    sendJson(res, 200, store.decision(session));
  }

  async function setFaults(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { fault, rates, ...rest } = await readJsonObject(req);
    try {
      if (Object.keys(rest).length > 0 || (fault === undefined && rates === undefined)) {
        throw new FaultError('Expected {"fault": {...}} and/or {"rates": {...}}.');
      }
      // Both are checked before either is applied, so a bad request changes nothing.
      const checkedFault = fault === undefined ? undefined : parseFault(fault);
      const checkedRates = rates === undefined ? undefined : parseRates(rates);
      if (checkedFault) faults.inject(checkedFault);
      if (checkedRates) faults.setRates(checkedRates);
    } catch (error) {
      if (error instanceof FaultError) throw new HttpError(400, { detail: error.message });
      throw error;
    }
    res.writeHead(204).end();
  }

  function clearFaultsEndpoint(_req: IncomingMessage, res: ServerResponse): void {
    faults.clear();
    res.writeHead(204).end();
  }

  // ---- The applicant's page -------------------------------------------------------------------

  function page(_req: IncomingMessage, res: ServerResponse, [token]: string[]): void {
    const session = store.getByToken(token!);
    if (!session) return sendPage(res, 404, messagePage('Session not found', 'This verification link is not valid.'));
    store.start(session);
    sendPage(res, 200, sessionPage(session));
  }

  async function pageComplete(req: IncomingMessage, res: ServerResponse, [token]: string[]): Promise<void> {
    const session = store.getByToken(token!);
    if (!session) return sendPage(res, 404, messagePage('Session not found', 'This verification link is not valid.'));
    const status = (await readForm(req)).get('status');
    if (!isFinalStatus(status)) return sendPage(res, 400, messagePage('Unknown outcome', 'Choose one of the buttons on the page.'));
    // A second submission (back button, double click) just shows the outcome already reached.
    if (!isFinished(session)) store.finish(session, status);
    // Post/redirect/get: reloading the done page does not post again.
    res.writeHead(303, { Location: `/session/${token}` }).end();
  }

  // ---- Routing --------------------------------------------------------------------------------

  const segment = '([^/]+)';
  const routes: Route[] = [
    { pattern: /^\/auth\/v2\/token\/$/, endpoint: 'token', methods: { POST: token } },
    { pattern: /^\/v1\/session\/$/, endpoint: 'create', methods: { POST: create } },
    { pattern: new RegExp(`^/v1/session/${segment}/decision/$`), endpoint: 'decision', methods: { GET: decision } },
    { pattern: new RegExp(`^/v1/session/${segment}/generate-pdf/$`), endpoint: 'pdf', methods: { GET: pdf } },
    { pattern: new RegExp(`^/v1/session/${segment}/update-status/$`), endpoint: 'update', methods: { PATCH: updateStatus } },
    { pattern: new RegExp(`^/sandbox/sessions/${segment}/complete$`), endpoint: 'other', methods: { POST: completeEndpoint } },
    { pattern: /^\/sandbox\/faults$/, endpoint: 'other', methods: { POST: setFaults, DELETE: clearFaultsEndpoint } },
    { pattern: new RegExp(`^/session/${segment}$`), endpoint: 'other', methods: { GET: page } },
    { pattern: new RegExp(`^/session/${segment}/complete$`), endpoint: 'other', methods: { POST: pageComplete } },
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // Split by hand: `new URL('//host/x', base)` would read a path starting with // as a host.
    const path = (req.url ?? '/').split('?')[0]!;
    let params: string[] = [];
    const route = routes.find((r) => {
      const match = r.pattern.exec(path);
      if (match) params = match.slice(1);
      return match !== null;
    });
    const endpoint = route?.endpoint ?? 'other';
    if (requests.length >= 2 * REQUEST_LOG_LIMIT) requests.splice(0, REQUEST_LOG_LIMIT);
    requests.push({ method, path, endpoint });

    try {
      if (draining) throw new HttpError(503, { detail: 'Service restarting; try again shortly.' }, { 'Retry-After': '1' });
      if (endpoint !== 'other' && !(await survivesFaults(endpoint, req, res))) return;
      if (!route) throw new HttpError(404, { detail: 'Not found.' });
      const run = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
      if (!run) throw new HttpError(405, { detail: `Method "${method}" not allowed.` }, { Allow: Object.keys(route.methods).join(', ') });
      await run(req, res, params);
    } catch (error) {
      if (error instanceof HttpError) return sendJson(res, error.status, error.body, error.headers);
      logger.warn(`${method} ${path} failed: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { detail: 'Internal server error.' });
    }
  }

  /** Applies the fault planned for this request; false when the fault answered (or dropped) it. */
  async function survivesFaults(endpoint: ApiEndpoint, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const plan = faults.plan(endpoint);
    if (plan.latencyMs > 0) {
      logger.info(`fault: ${plan.latencyMs} ms latency on ${endpoint}`);
      await delays.wait(plan.latencyMs);
      if (closed) return false;
    }
    if (!plan.action) return true;
    logger.info(`fault: ${plan.action.kind} on ${endpoint}`);
    switch (plan.action.kind) {
      case 'drop':
        req.socket.destroy();
        return false;
      case 'status':
        sendJson(res, plan.action.status, { detail: STATUS_CODES[plan.action.status] ?? 'Error' });
        return false;
      case 'rate-limit': {
        const seconds = plan.action.retryAfter;
        sendJson(res, 429, { detail: `Request was throttled. Expected available in ${seconds} seconds.` }, { 'Retry-After': String(seconds) });
        return false;
      }
      case 'malformed':
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"session_id": "');
        return false;
      case 'expire-token':
        tokens.revokeAll();
        return true;
    }
  }

  function requireBearer(req: IncomingMessage): void {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new HttpError(401, { detail: 'Authentication credentials were not provided.' }, { 'WWW-Authenticate': 'Bearer' });
    if (!tokens.isValid(match[1]!)) {
      throw new HttpError(401, { detail: 'Invalid or expired token.' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
  }

  function findSession(id: string): SessionRecord {
    const session = isSessionId(id) ? store.get(id) : undefined;
    if (!session) throw new HttpError(404, { detail: 'Not found.' });
    return session;
  }

  const handler: RequestListener = (req, res) => void handle(req, res);
  server.on('request', handler);

  return {
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const { port: actual } = server.address() as AddressInfo;
          listenUrl = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
          resolve({ url: listenUrl });
        });
      });
    },
    close() {
      closed = true;
      webhooks.close();
      delays.cancelAll();
      if (options.stateFile) writeFileSync(options.stateFile, JSON.stringify(store.snapshot()));
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    setWebhook(url, secret) {
      webhooks.setTarget(url, secret);
    },
    webhooksSettled() {
      return webhooks.settled();
    },
    drain() {
      draining = true;
      return webhooks.settled();
    },
    complete(sessionId, status, overrides) {
      const session = isSessionId(sessionId) ? store.get(sessionId) : undefined;
      if (!session) throw new Error(`No session ${String(sessionId).slice(0, 60)}.`);
      store.finish(session, status, overrides?.kyc);
      return store.decision(session);
    },
    injectFault(fault) {
      faults.inject(fault);
    },
    setFaultRates(rates) {
      faults.setRates(rates);
    },
    clearFaults() {
      faults.clear();
    },
    requests,
    resetRequests() {
      requests.length = 0;
    },
    handler,
  };
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(html) }).end(html);
}

function isFinalStatus(value: unknown): value is FinalStatus {
  return (FINAL_STATUSES as readonly unknown[]).includes(value);
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Whether a Basic `Authorization` header carries exactly these credentials, compared in constant time. */
function credentialsMatch(header: string | undefined, clientId: string, clientSecret: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Hashing first gives equal lengths, which timingSafeEqual needs, without leaking the real ones.
  const same = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));
  // Both compared always, so timing does not tell whether the client id alone was right.
  const idMatches = same(decoded.slice(0, colon), clientId);
  const secretMatches = same(decoded.slice(colon + 1), clientSecret);
  return idMatches && secretMatches;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A UUID-shaped id that is the same for the same input, for the token's `sub` and `organization_id`. */
function stableUuid(input: string): string {
  const hex = sha256(input).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
