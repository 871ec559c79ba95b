import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { StatusEvent } from '../../src/core/status-events.ts';
import { canonicalJson, signWebhookBody } from '../../src/didit/webhook-signature.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** Didit v3's deliveries: the envelope, the three signatures, event types the gateway does not use. */
const SECRET = 'v3-webhook-secret';
let gw: TestGateway;
const published: StatusEvent[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ DIDIT_WEBHOOK_SECRET: SECRET });
  gw.services.events.onEvent((event) => published.push(event));
});
afterAll(() => gw.close());

const now = () => Math.floor(Date.now() / 1000);
const envelope = (overrides: Record<string, unknown> = {}) => ({
  event_id: randomUUID(),
  webhook_type: 'status.updated',
  session_id: randomUUID(),
  status: 'Approved',
  timestamp: now(),
  created_at: now(),
  vendor_data: 'user-1',
  workflow_id: randomUUID(),
  ...overrides,
});

async function send(body: Record<string, unknown>, headers: Record<string, string>) {
  const response = await fetch(`${gw.url}/webhooks/didit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-timestamp': String(now()), ...headers },
    body: JSON.stringify(body),
  });
  return response.status;
}
const simple = (body: Record<string, unknown>) => signWebhookBody(`${body.timestamp}:${body.session_id}:${body.status}:${body.webhook_type}`, SECRET);
const eventOf = async (sessionId: unknown) => {
  await vi.waitFor(() => expect(published.some((event) => event.sessionId === sessionId)).toBe(true));
  return published.find((event) => event.sessionId === sessionId)!;
};

it('verifies X-Signature-V2 over the canonical JSON, Unicode as is or ASCII-escaped', async () => {
  const body = envelope({ vendor_data: 'José Müller' });
  const canonical = canonicalJson(body);
  expect(await send(body, { 'x-signature-v2': signWebhookBody(canonical, SECRET) })).toBe(200);
  const escaped = envelope({ vendor_data: 'José Müller' });
  const ascii = canonicalJson(escaped).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  expect(await send(escaped, { 'x-signature-v2': signWebhookBody(ascii, SECRET) })).toBe(200);
  expect(await send(envelope(), { 'x-signature-v2': signWebhookBody('{}', SECRET) })).toBe(401);
});

it('takes X-Signature-Simple as a last resort, trusting none of the body beyond its four fields', async () => {
  const body = envelope({ status: 'Resubmitted', resubmit_info: { nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }], reasons: { feature_ocr: 'anything' } } });
  expect(await send(body, { 'x-signature-simple': simple(body) })).toBe(200);
  const event = await eventOf(body.session_id);
  expect(event).toMatchObject({ status: 'Resubmitted' });
  expect(event.resubmit).toBeUndefined();
  // The same body signed over its raw bytes does carry the steps.
  const full = { ...body, session_id: randomUUID() };
  expect(await send(full, { 'x-signature': signWebhookBody(JSON.stringify(full), SECRET) })).toBe(200);
  expect((await eventOf(full.session_id)).resubmit).toEqual([{ nodeId: 'feature_ocr', feature: 'OCR', reason: 'anything' }]);
  expect(await send(envelope(), { 'x-signature-simple': simple(envelope()) })).toBe(401);
});

it('answers 200 to event types it does not use, and a data change drops the cached decision', async () => {
  const other = envelope({ webhook_type: 'user.status.updated' });
  expect(await send(other, { 'x-signature': signWebhookBody(JSON.stringify(other), SECRET) })).toBe(200);
  const dropped = vi.spyOn(gw.services.decisionCache, 'delete');
  const data = envelope({ webhook_type: 'data.updated' });
  expect(await send(data, { 'x-signature': signWebhookBody(JSON.stringify(data), SECRET) })).toBe(200);
  expect(dropped).toHaveBeenCalledWith(data.session_id);
  dropped.mockRestore();
  const control = envelope();
  expect(await send(control, { 'x-signature': signWebhookBody(JSON.stringify(control), SECRET) })).toBe(200);
  await eventOf(control.session_id);
  expect(published.some((event) => event.sessionId === other.session_id || event.sessionId === data.session_id)).toBe(false);
});

it('refuses a delivery stamped ahead of our clock: every real change after it would look older', async () => {
  const ahead = envelope({ timestamp: now() + 3600 });
  expect(await send(ahead, { 'x-signature': signWebhookBody(JSON.stringify(ahead), SECRET) })).toBe(401);
});
