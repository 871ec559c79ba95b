/**
 * Status webhooks, sent as Didit sends them: a JSON POST signed with the webhook secret
 * (`X-Signature` over the raw body, `X-Signature-V2` over its canonical JSON, `X-Timestamp`).
 *
 * A failed delivery (no connection, timeout, non-2xx) is retried a few times after a delay.
 * Deliveries for one session go out one after the other, so a receiver never sees "In Progress"
 * after "Approved"; different sessions do not wait for each other.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signWebhookBody, signWebhookCanonical } from '../didit/webhook-signature.ts';
import type { Decision, WebhookBody } from '../didit/types.ts';
import { Delays } from './delays.ts';

/** Statuses whose webhook carries the decision, as Didit's do. */
const WITH_DECISION = new Set(['Approved', 'Declined', 'In Review', 'Abandoned']);

/** A receiver slower than this counts as a failed delivery. */
const DELIVERY_TIMEOUT_MS = 10_000;

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
  if (WITH_DECISION.has(decision.status)) body.decision = decision;
  return body;
}

export interface WebhookSenderOptions {
  url?: string;
  secret?: string;
  retries: number;
  retryDelayMs: number;
  logger: SandboxLogger;
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
    const previous = this.chains.get(body.session_id) ?? Promise.resolve();
    const next = previous.then(() => this.deliver(target.url, raw, headers, label));
    this.chains.set(body.session_id, next);
    void next.then(() => {
      if (this.chains.get(body.session_id) === next) this.chains.delete(body.session_id);
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
  private async deliver(url: string, raw: string, headers: Record<string, string>, label: string): Promise<void> {
    const { retries, retryDelayMs, logger } = this.options;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.delays.wait(retryDelayMs);
      if (this.closed) return;
      try {
        const status = await this.post(url, raw, { ...headers, 'X-Timestamp': String(unixNow()) });
        if (status >= 200 && status < 300) {
          logger.info(`${label} delivered (HTTP ${status})`);
          return;
        }
        logger.warn(`${label}: attempt ${attempt + 1} answered HTTP ${status}`);
      } catch (error) {
        if (this.closed) return;
        logger.warn(`${label}: attempt ${attempt + 1} failed: ${(error as Error).message}`);
      }
    }
    logger.warn(`${label}: gave up after ${retries + 1} attempts`);
  }

  /** One POST; resolves with the status once the answer is read. No keep-alive: nothing lingers. */
  private post(url: string, raw: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const send = url.startsWith('https:') ? httpsRequest : httpRequest;
      const req: ClientRequest = send(url, {
        method: 'POST',
        agent: false,
        timeout: DELIVERY_TIMEOUT_MS,
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(raw)) },
      });
      const abort = () => req.destroy(new Error('sandbox closed'));
      this.inFlight.add(abort);
      const settle = () => this.inFlight.delete(abort);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${DELIVERY_TIMEOUT_MS} ms`)));
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
