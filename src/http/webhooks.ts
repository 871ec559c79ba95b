import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isSessionId } from '../didit/session-id.ts';
import { canonicalJson, signatureMatches, signWebhookBody } from '../didit/webhook-signature.ts';
import { sendJson } from '../lib/send-json.ts';
import { readBody } from '../lib/read-body.ts';
import type { StatusEvents } from '../core/status-events.ts';

/** Deliveries whose `X-Timestamp` is further than this from now, either way, are refused. */
const WEBHOOK_TOLERANCE_SECONDS = 300;
/** A delivery carries a whole decision; a few hundred kB is plenty. */
const MAX_WEBHOOK_BYTES = 1024 * 1024;

export interface WebhookOptions {
  /** Secrets that may sign deliveries (several during a rotation). */
  secrets: () => readonly string[];
  events: StatusEvents;
  log: Logger;
  /** Told of every delivery: accepted (new or duplicate) or refused, for metrics. */
  onDelivery?: (outcome: 'accepted' | 'duplicate' | 'refused' | 'failed') => void;
}

/**
 * `POST /webhooks/didit`.
 *
 * 1. Read the raw body (capped) and check `X-Timestamp` is within five minutes of now.
 * 2. Check `X-Signature` — the hex HMAC-SHA256 of those exact bytes — against every configured
 *    secret, in constant time. Only if it fails and `X-Signature-V2` is present is the body
 *    parsed, to check the HMAC of its canonical JSON.
 * 3. Only a verified body is parsed and checked for the fields we use.
 * 4. De-duplicate (shared across instances with Redis) and publish, in one step; a duplicate or
 *    an older status is acknowledged and dropped. A delivery we could not publish answers 503 and
 *    is not recorded, so Didit's retry of it goes through rather than being dropped as a duplicate.
 * Any failed check answers 401 and changes nothing.
 */
export function createWebhookRoute(options: WebhookOptions) {
  const { events, log } = options;

  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (pathname !== '/webhooks/didit') return false;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'POST' });
      return true;
    }
    const refuse = (reason: string) => {
      log.warn({ reason }, 'webhook refused');
      options.onDelivery?.('refused');
      sendJson(res, 401, { error: 'Webhook verification failed' });
      return true;
    };

    const raw = await readBody(req, MAX_WEBHOOK_BYTES);
    if (!raw) {
      options.onDelivery?.('refused');
      sendJson(res, 413, { error: 'Body too large' }, { connection: 'close' });
      return true;
    }
    const secrets = options.secrets();
    if (secrets.length === 0) return refuse('no DIDIT_WEBHOOK_SECRET configured');

    const timestamp = header(req, 'x-timestamp');
    if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return refuse('missing or malformed X-Timestamp');
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) return refuse('stale X-Timestamp');

    let body: unknown;
    const signature = header(req, 'x-signature');
    if (secrets.some((secret) => signatureMatches(signature, signWebhookBody(raw, secret)))) {
      body = parseJson(raw);
    } else {
      const v2 = header(req, 'x-signature-v2');
      if (!v2) return refuse('bad X-Signature');
      body = parseJson(raw);
      if (body === undefined) return refuse('bad X-Signature-V2');
      const canonical = canonicalJson(body);
      if (!secrets.some((secret) => signatureMatches(v2, signWebhookBody(canonical, secret)))) return refuse('bad X-Signature-V2');
    }

    const delivery = body as { session_id?: unknown; status?: unknown; timestamp?: unknown } | undefined;
    if (
      !delivery ||
      !isSessionId(delivery.session_id) ||
      typeof delivery.status !== 'string' ||
      delivery.status.length > 64 ||
      typeof delivery.timestamp !== 'number' ||
      !Number.isFinite(delivery.timestamp)
    ) {
      // Signed by Didit but not what we expect: acknowledging would lose it silently, so say so.
      log.warn('webhook verified but malformed');
      options.onDelivery?.('refused');
      sendJson(res, 400, { error: 'Unexpected webhook body' });
      return true;
    }

    const event = { sessionId: delivery.session_id.toLowerCase(), status: delivery.status, timestamp: delivery.timestamp };
    try {
      if (!(await events.record(event))) {
        options.onDelivery?.('duplicate');
        sendJson(res, 200, { ok: true, duplicate: true });
        return true;
      }
    } catch (error) {
      log.error({ err: error }, 'webhook could not be recorded; Didit will retry');
      options.onDelivery?.('failed');
      sendJson(res, 503, { error: 'Try again later' }, { 'retry-after': '5' });
      return true;
    }
    options.onDelivery?.('accepted');
    sendJson(res, 200, { ok: true });
    return true;
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
