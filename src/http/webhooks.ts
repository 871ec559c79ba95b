import type { IncomingMessage, ServerResponse } from 'node:http';
import { inSpan } from '../lib/tracing.ts';
import type { Logger } from 'pino';
import { isSessionId } from '../didit/session-id.ts';
import { canonicalJson, signatureMatches, signWebhookBody } from '../didit/webhook-signature.ts';
import { sendJson } from '../lib/send-json.ts';
import { readBody } from '../lib/read-body.ts';
import { DELETED_STATUS } from '../domain/status.ts';
import type { ResubmitStep, StatusEvents } from '../core/status-events.ts';

/**
 * Replay protection: a delivery whose signed `timestamp` (in the body, covered by every signature)
 * is older than this is refused, and so is one stamped more than `MAX_AHEAD_SECONDS` ahead of our
 * clock. De-duplication (status-events.ts) remembers deliveries far longer than this window.
 */
const MAX_DELIVERY_AGE_SECONDS = 300;
const MAX_AHEAD_SECONDS = 60;
/** `X-Timestamp`, not signed, is checked as Didit's samples do, but proves nothing. */
const HEADER_TOLERANCE_SECONDS = 300;
/** A delivery carries a whole decision; a few hundred kB is plenty. */
const MAX_WEBHOOK_BYTES = 1024 * 1024;

export interface WebhookOptions {
  /** Secrets that may sign deliveries (several during a rotation). */
  secrets: () => readonly string[];
  events: StatusEvents;
  log: Logger;
  /** Told of every delivery: accepted (new or duplicate), ignored (a v3 event type the gateway does not use), refused, failed, for metrics. */
  onDelivery?: (outcome: 'accepted' | 'duplicate' | 'ignored' | 'refused' | 'failed') => void;
  /** A v3 `data.updated` delivery: the session's decision changed without a status change. */
  onDataChanged?: (sessionId: string) => Promise<void>;
}

/**
 * `POST /webhooks/didit`.
 *
 * 1. Read the raw body (capped) and check `X-Timestamp` is within five minutes of now (as
 *    Didit's samples do; it is not signed).
 * 2. Check `X-Signature` — the hex HMAC-SHA256 of those exact bytes — against every configured
 *    secret, in constant time. Only if it fails and `X-Signature-V2` is present is the body
 *    parsed, to check the HMAC of its canonical JSON.
 * 3. Only a verified body is parsed and checked for the fields we use; its signed `timestamp`
 *    must be at most five minutes old and at most one minute ahead (replays are refused).
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
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > HEADER_TOLERANCE_SECONDS) return refuse('stale X-Timestamp');

    const verified = verify(req, raw, secrets);
    if (typeof verified === 'string') return refuse(verified);
    const { body, signedBy } = verified;

    const delivery = body as Delivery | undefined;
    // A captured delivery sent again later (with a fresh X-Timestamp, which nothing signs) is a
    // replay; one stamped ahead of us would make every real change after it look older.
    if (typeof delivery?.timestamp === 'number') {
      const age = Date.now() / 1000 - delivery.timestamp;
      if (age > MAX_DELIVERY_AGE_SECONDS) return refuse('signed timestamp too old (a replay?)');
      if (age < -MAX_AHEAD_SECONDS) return refuse('signed timestamp ahead of our clock');
    }
    // Didit v3 sends more than status changes; only those and data changes concern the gateway,
    // and the others are acknowledged so that Didit does not retry them.
    const type = delivery?.webhook_type;
    if (type !== undefined && type !== 'status.updated') {
      if (type === 'data.updated' && isSessionId(delivery?.session_id)) {
        // The decision changed without a status change (a reviewer edited data): every instance drops it.
        await options.onDataChanged?.(delivery.session_id.toLowerCase());
      }
      options.onDelivery?.('ignored');
      sendJson(res, 200, { ok: true, ignored: true });
      return true;
    }

    if (
      !delivery ||
      !isSessionId(delivery.session_id) ||
      typeof delivery.status !== 'string' ||
      delivery.status.length > 64 ||
      typeof delivery.timestamp !== 'number' ||
      !Number.isFinite(delivery.timestamp) ||
      (delivery.event_id !== undefined && !isEventId(delivery.event_id))
    ) {
      // Signed by Didit but not what we expect: acknowledging would lose it silently, so say so.
      log.warn('webhook verified but malformed');
      options.onDelivery?.('refused');
      sendJson(res, 400, { error: 'Unexpected webhook body' });
      return true;
    }

    const sessionId = delivery.session_id.toLowerCase();
    if (delivery.status.toLowerCase() === DELETED_STATUS.toLowerCase()) {
      // Deletion is known only from Didit itself (a 404 when the session is read again, or the
      // gateway's own deleteSession), never from a delivery's word: drop every copy, so the next
      // read asks Didit.
      log.info('webhook says Deleted; the session is read again instead');
      await options.onDataChanged?.(sessionId);
      options.onDelivery?.('ignored');
      sendJson(res, 200, { ok: true, ignored: true });
      return true;
    }

    if (signedBy === 'simple') {
      // X-Signature-Simple covers four fields only: nothing else of this body is used (the
      // decision is read again from Didit, as after every event).
      log.info('webhook verified by X-Signature-Simple only');
    }
    const resubmit = signedBy === 'simple' ? undefined : resubmitSteps(delivery.resubmit_info);
    const eventId = signedBy === 'simple' ? undefined : delivery.event_id;
    const event = { sessionId, status: delivery.status, timestamp: delivery.timestamp, ...(eventId && { eventId }), ...(resubmit && { resubmit }) };
    try {
      if (!(await inSpan('status_events.publish', { 'didit.status': String(event.status).slice(0, 40) }, () => events.record(event)))) {
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

interface Delivery {
  event_id?: unknown;
  session_id?: unknown;
  status?: unknown;
  timestamp?: unknown;
  webhook_type?: unknown;
  resubmit_info?: unknown;
}

/**
 * The body, verified by the strongest signature that matches: `X-Signature` over the raw bytes,
 * then `X-Signature-V2` over the canonical JSON (Unicode as is, then ASCII-escaped: Didit's docs
 * disagree), then, as a last resort, `X-Signature-Simple` over `timestamp:session_id:status:webhook_type`.
 * A string is the reason for refusing.
 */
function verify(req: IncomingMessage, raw: Buffer, secrets: readonly string[]): { body: unknown; signedBy: 'raw' | 'v2' | 'simple' } | string {
  const matches = (signature: string | undefined, bytes: string | Buffer) =>
    signature !== undefined && secrets.some((secret) => signatureMatches(signature, signWebhookBody(bytes, secret)));
  if (matches(header(req, 'x-signature'), raw)) return { body: parseJson(raw), signedBy: 'raw' };
  const v2 = header(req, 'x-signature-v2');
  const simple = header(req, 'x-signature-simple');
  if (!v2 && !simple) return 'bad X-Signature';
  const body = parseJson(raw);
  if (body === undefined) return 'bad X-Signature-V2';
  const canonical = canonicalJson(body);
  if (matches(v2, canonical) || matches(v2, asciiEscaped(canonical))) return { body, signedBy: 'v2' };
  const fields = body as Delivery;
  if (simple && matches(simple, `${fields.timestamp}:${fields.session_id}:${fields.status}:${fields.webhook_type}`)) {
    return { body, signedBy: 'simple' };
  }
  return v2 ? 'bad X-Signature-V2' : 'bad X-Signature-Simple';
}

/** JSON text with every non-ASCII character as `\uXXXX`, as Python's `ensure_ascii` writes it. */
function asciiEscaped(json: string): string {
  return json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** v3's `resubmit_info: {nodes_to_resubmit: [{node_id, feature}], reasons: {node_id: text}}`, checked; undefined otherwise. */
function resubmitSteps(info: unknown): ResubmitStep[] | undefined {
  if (!info || typeof info !== 'object') return undefined;
  const { nodes_to_resubmit: nodes, reasons } = info as { nodes_to_resubmit?: unknown; reasons?: unknown };
  if (!Array.isArray(nodes)) return undefined;
  const why = reasons && typeof reasons === 'object' ? (reasons as Record<string, unknown>) : {};
  return nodes.slice(0, 50).flatMap((node) => {
    const { node_id: id, feature } = (typeof node === 'string' ? { node_id: node } : (node ?? {})) as { node_id?: unknown; feature?: unknown };
    if (typeof id !== 'string' || !/^[\w-]{1,100}$/.test(id)) return [];
    const reason = Object.hasOwn(why, id) ? why[id] : undefined;
    return [{ nodeId: id, feature: typeof feature === 'string' ? feature.slice(0, 50) : null, reason: typeof reason === 'string' ? reason.slice(0, 500) : null }];
  });
}

function isEventId(value: unknown): value is string {
  return typeof value === 'string' && /^[\w-]{1,100}$/.test(value);
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
