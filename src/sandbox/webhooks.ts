/**
 * Status webhooks, sent as Didit sends them: a JSON POST signed with the webhook secret
 * (`X-Signature` over the raw body, `X-Signature-V2` over its canonical JSON, `X-Timestamp`).
 *
 * Two forms, by the API that made the session:
 * - v1 (`send`): the body as `JSON.stringify` writes it; a failed delivery (no connection,
 *   timeout, any non-2xx) is retried.
 * - v3 (`sendV3`): the `status.updated` envelope written as Didit's Python writes it (sorted keys,
 *   non-ASCII escaped), plus `X-Signature-Simple` and Didit's User-Agent, a 5 s timeout, and
 *   retries only after no answer, a 5xx or a 404 (docs/didit-v3.md §10); any other status is final.
 * Both retry `retries` times after `retryDelayMs`.
 *
 * Deliveries for one session go out one after the other, so a receiver never sees "In Progress"
 * after "Approved"; different sessions do not wait for each other.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { canonicalJson, signWebhookBody, signWebhookCanonical } from '../didit/webhook-signature.ts';
import { CARRIES_DECISION } from '../domain/status.ts';
import type { Decision, WebhookBody } from './wire.ts';
import { Delays } from './delays.ts';

/** A receiver slower than this counts as a failed delivery. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** Didit's v3 deliveries give up on an answer after 5 s (docs/didit-v3.md §10). */
const V3_DELIVERY_TIMEOUT_MS = 5_000;
const V3_USER_AGENT = 'DiditWebhook/2.0 +https://didit.me';

/**
 * The webhook body for a session's current status. `created_at` is when the session was created
 * and `timestamp` when this status was reached, both Unix seconds.
 */
/** Compatible with `console` and pino alike: one message string per line. */
export interface SandboxLogger {
  info(message: string): void;
  warn(message: string): void;
}

export function webhookBody(decision: Decision, sessionCreatedAt: Date): WebhookBody {
  const body: WebhookBody = {
    session_id: decision.session_id,
    status: decision.status,
    created_at: Math.floor(sessionCreatedAt.getTime() / 1000),
    timestamp: unixNow(),
    vendor_data: decision.vendor_data,
  };
  if (CARRIES_DECISION.has(decision.status)) body.decision = decision;
  return body;
}

export interface WebhookSenderOptions {
  url?: string;
  secret?: string;
  retries: number;
  retryDelayMs: number;
  logger: SandboxLogger;
}

/** The v3 envelope fields the sender signs or labels with. */
export interface V3WebhookBody extends Record<string, unknown> {
  session_id: string;
  status: string;
  webhook_type: string;
  timestamp: number;
}

interface Delivery {
  sessionId: string;
  label: string;
  raw: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Whether an answer with this (non-2xx) status is tried again. */
  retryOn: (status: number) => boolean;
}

/**
 * The JSON Didit's Python writes for `X-Signature`: `json.dumps(body, sort_keys=True,
 * ensure_ascii=True)`, with compact separators. Compact because a captured real delivery had
 * `X-Signature` equal to `X-Signature-V2` (whose canonical JSON has no spaces) for an ASCII body
 * (docs/didit-v3.md §10); with Python's default ", " the two could never be equal.
 * Non-ASCII (and DEL) become `\uXXXX` escapes, lower-case hex, astral characters as surrogate
 * pairs, as Python writes them; so for "José" this differs from the canonical JSON, and so do
 * the two signatures. Numbers are written as JavaScript writes them (Python would write a
 * whole float as `99.0`); the sandbox's data has none where the two differ.
 */
export function pythonJson(value: unknown): string {
  return canonicalJson(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface Target {
  url: string;
  /** Without a secret, deliveries go out unsigned (and a verifying receiver will refuse them). */
  secret?: string;
}

export class WebhookSender {
  private target: Target | undefined;
  /** The tail of each session's delivery chain, removed once it settles. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly delays = new Delays();
  /** Requests in flight, so `close` can abort them. */
  private readonly inFlight = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: WebhookSenderOptions) {
    this.setTarget(options.url, options.secret);
  }

  setTarget(url: string | undefined, secret: string | undefined): void {
    this.target = url ? { url, secret } : undefined;
  }

  /**
   * Queues a delivery of `body`. The body is serialised now and the target read now, so a later
   * change of either does not alter what this status change sends.
   */
  send(body: WebhookBody): void {
    const target = this.target;
    if (!target || this.closed) return;
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (target.secret) {
      headers['X-Signature'] = signWebhookBody(raw, target.secret);
      headers['X-Signature-V2'] = signWebhookCanonical(body, target.secret);
    }
    const label = `webhook ${body.status} for session ${body.session_id}`;
    this.enqueue(target.url, { sessionId: body.session_id, label, raw, headers, timeoutMs: DELIVERY_TIMEOUT_MS, retryOn: () => true });
  }

  /** Queues a v3 `status.updated` delivery, as `send` does a v1 one. */
  sendV3(body: V3WebhookBody): void {
    const target = this.target;
    if (!target || this.closed) return;
    const raw = pythonJson(body);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': V3_USER_AGENT };
    if (target.secret) {
      headers['X-Signature'] = signWebhookBody(raw, target.secret);
      headers['X-Signature-V2'] = signWebhookCanonical(body, target.secret);
      headers['X-Signature-Simple'] = signWebhookBody(`${body.timestamp}:${body.session_id}:${body.status}:${body.webhook_type}`, target.secret);
    }
    const label = `v3 webhook ${body.status} for session ${body.session_id}`;
    const retryOn = (status: number) => status >= 500 || status === 404;
    this.enqueue(target.url, { sessionId: body.session_id, label, raw, headers, timeoutMs: V3_DELIVERY_TIMEOUT_MS, retryOn });
  }

  private enqueue(url: string, delivery: Delivery): void {
    const { sessionId } = delivery;
    const previous = this.chains.get(sessionId) ?? Promise.resolve();
    const next = previous.then(() => this.deliver(url, delivery));
    this.chains.set(sessionId, next);
    void next.then(() => {
      if (this.chains.get(sessionId) === next) this.chains.delete(sessionId);
    });
  }

  /** Resolves once every delivery queued so far (and any queued meanwhile) succeeded or was given up. */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all(this.chains.values());
  }

  /** Stops sending: pending retries are dropped and requests in flight aborted. */
  close(): void {
    this.closed = true;
    this.delays.cancelAll();
    for (const abort of [...this.inFlight]) abort();
  }

  /** Tries once plus `retries` times; never rejects, so one session's chain never breaks. */
  private async deliver(url: string, delivery: Delivery): Promise<void> {
    const { retries, retryDelayMs, logger } = this.options;
    const { raw, headers, label } = delivery;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.delays.wait(retryDelayMs);
      if (this.closed) return;
      try {
        const status = await this.post(url, raw, { ...headers, 'X-Timestamp': String(unixNow()) }, delivery.timeoutMs);
        if (status >= 200 && status < 300) {
          logger.info(`${label} delivered (HTTP ${status})`);
          return;
        }
        logger.warn(`${label}: attempt ${attempt + 1} answered HTTP ${status}`);
        if (!delivery.retryOn(status)) {
          logger.warn(`${label}: HTTP ${status} is not retried`);
          return;
        }
      } catch (error) {
        if (this.closed) return;
        logger.warn(`${label}: attempt ${attempt + 1} failed: ${(error as Error).message}`);
      }
    }
    logger.warn(`${label}: gave up after ${retries + 1} attempts`);
  }

  /** One POST; resolves with the status once the answer is read. No keep-alive: nothing lingers. */
  private post(url: string, raw: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const send = url.startsWith('https:') ? httpsRequest : httpRequest;
      const req: ClientRequest = send(url, {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(raw)) },
      });
      const abort = () => req.destroy(new Error('sandbox closed'));
      this.inFlight.add(abort);
      const settle = () => this.inFlight.delete(abort);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => {
        settle();
        reject(error);
      });
      req.on('response', (res) => {
        res.resume();
        // An answer cut short (e.g. by `close`) errors; the listener keeps that from crashing us.
        res.on('error', reject);
        res.on('close', () => {
          settle();
          if (res.complete) resolve(res.statusCode ?? 0);
          else reject(new Error('answer cut short'));
        });
      });
      req.end(raw);
    });
  }
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
