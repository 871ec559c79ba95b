import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { canonicalJson, signWebhookBody } from '../../src/didit/webhook-signature.ts';
import type { StatusEvent } from '../../src/core/status-events.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const SECRET = 'current-webhook-secret';
const OLD_SECRET = 'previous-webhook-secret';

let gw: TestGateway;
let published: StatusEvent[];

beforeAll(async () => {
  gw = await startTestGateway({ DIDIT_WEBHOOK_SECRET: `${SECRET}, ${OLD_SECRET}` });
  gw.services.events.onEvent((event) => published.push(event));
});
afterAll(() => gw.close());
beforeEach(() => {
  published = [];
});

const now = () => Math.floor(Date.now() / 1000);
let sequence = 0;

function delivery(overrides: Record<string, unknown> = {}) {
  const timestamp = now() + sequence++ / 1000; // distinct per delivery, like Didit's
  // A session of its own unless told: a second Approved for one session is no news.
  return { session_id: randomUUID(), status: 'Approved', created_at: now() - 60, timestamp, vendor_data: 'user-1', ...overrides };
}

async function send(raw: string, headers: Record<string, string | undefined>) {
  const response = await fetch(`${gw.url}/webhooks/didit`, {
    method: 'POST',
    headers: Object.fromEntries(Object.entries({ 'content-type': 'application/json', ...headers }).filter(([, v]) => v !== undefined)) as Record<string, string>,
    body: raw,
  });
  return response.status;
}

const signed = (raw: string, secret = SECRET, timestamp = String(now())) => ({ 'x-signature': signWebhookBody(raw, secret), 'x-timestamp': timestamp });

/**
 * What was published before a marker: a valid delivery for a session of its own, sent now and
 * waited for. Events go out in the order they were recorded, so once the marker is out, nothing
 * sent before it is still to come, and "nothing published" needs no waiting for a while.
 */
async function publishedBeforeMarker(): Promise<StatusEvent[]> {
  const marker = delivery();
  const raw = JSON.stringify(marker);
  expect(await send(raw, signed(raw))).toBe(200);
  await vi.waitFor(() => expect(published.map((event) => event.sessionId)).toContain(marker.session_id));
  return published.slice(0, published.findIndex((event) => event.sessionId === marker.session_id));
}

describe('webhook signatures', () => {
  it('accepts a valid delivery and publishes it once', async () => {
    const body = delivery();
    const raw = JSON.stringify(body);
    expect(await send(raw, signed(raw))).toBe(200);
    await vi.waitFor(() => expect(published).toHaveLength(1));
    expect(published[0]).toMatchObject({ sessionId: body.session_id, status: 'Approved' });
  });

  it('accepts the previous secret during a rotation', async () => {
    const raw = JSON.stringify(delivery());
    expect(await send(raw, signed(raw, OLD_SECRET))).toBe(200);
    await vi.waitFor(() => expect(published).toHaveLength(1));
  });

  it('accepts X-Signature-V2 over the canonical JSON when the raw bytes were re-encoded', async () => {
    const body = delivery({ score: 1.0, nested: { b: 2, a: 1 } });
    const reencoded = JSON.stringify(body, null, 2);
    const headers = { 'x-signature': signWebhookBody(JSON.stringify(body), SECRET), 'x-signature-v2': signWebhookBody(canonicalJson(body), SECRET), 'x-timestamp': String(now()) };
    expect(await send(reencoded, headers)).toBe(200);
    await vi.waitFor(() => expect(published).toHaveLength(1));
  });

  it.each([
    ['one byte changed', (raw: string) => [raw.replace('Approved', 'Approvee'), signed(raw)]],
    ['parsed and re-serialized', (raw: string) => [JSON.stringify(JSON.parse(raw), null, 1), signed(raw)]],
    ['signature missing', (raw: string) => [raw, { ...signed(raw), 'x-signature': undefined }]],
    ['signature malformed', (raw: string) => [raw, { ...signed(raw), 'x-signature': 'zz-not-hex' }]],
    ['signature of the wrong length', (raw: string) => [raw, { ...signed(raw), 'x-signature': signed(raw)['x-signature'].slice(0, 62) }]],
    ['signed with an unknown secret', (raw: string) => [raw, signed(raw, 'someone-else')]],
    ['a bad V2 signature', (raw: string) => [raw, { ...signed(raw), 'x-signature': undefined, 'x-signature-v2': signWebhookBody(raw, 'nope') }]],
    ['timestamp missing', (raw: string) => [raw, { ...signed(raw), 'x-timestamp': undefined }]],
    ['timestamp stale', (raw: string) => [raw, signed(raw, SECRET, String(now() - 301))]],
    ['timestamp in the future', (raw: string) => [raw, signed(raw, SECRET, String(now() + 301))]],
    ['timestamp not a number', (raw: string) => [raw, signed(raw, SECRET, 'yesterday')]],
  ] as const)('refuses a delivery with %s: 401 and nothing published', async (_name, make) => {
    const [body, headers] = make(JSON.stringify(delivery()));
    expect(await send(body as string, headers as Record<string, string | undefined>)).toBe(401);
    expect(await publishedBeforeMarker()).toEqual([]);
  });

  it('refuses an oversized body', async () => {
    const raw = JSON.stringify(delivery({ padding: 'x'.repeat(1024 * 1024) }));
    expect(await send(raw, signed(raw))).toBe(413);
    // Without a Content-Length (chunked), reading stops at the cap too.
    const chunked = await fetch(`${gw.url}/webhooks/didit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signed(raw) },
      body: new Blob([raw]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await publishedBeforeMarker()).toEqual([]);
  });

  it.each([
    ['signed ten minutes ago, sent again with a fresh X-Timestamp (a replay)', -600],
    ['signed just over five minutes ago', -302],
    ['signed two minutes ahead of our clock', 120],
  ])('refuses a delivery %s: 401 and nothing published', async (_name, offset) => {
    const raw = JSON.stringify(delivery({ timestamp: now() + offset }));
    expect(await send(raw, signed(raw))).toBe(401);
    expect(await publishedBeforeMarker()).toEqual([]);
  });

  it('accepts a delivery signed four minutes ago, or a little ahead of our clock', async () => {
    for (const offset of [-240, 30]) {
      const raw = JSON.stringify(delivery({ timestamp: now() + offset }));
      expect(await send(raw, signed(raw))).toBe(200);
    }
    expect(await publishedBeforeMarker()).toHaveLength(2);
  });

  it('answers 400 to a verified body without the fields it needs', async () => {
    const raw = JSON.stringify({ session_id: '../etc', status: 'Approved', timestamp: now() });
    expect(await send(raw, signed(raw))).toBe(400);
    expect(await publishedBeforeMarker()).toEqual([]);
  });
});

describe('webhook idempotency and order', () => {
  it('publishes a duplicate delivery once', async () => {
    const raw = JSON.stringify(delivery({ session_id: '4f1b7c2a-9d4e-4f5a-8b6c-7d8e9f0a1b2c' }));
    expect(await send(raw, signed(raw))).toBe(200);
    expect(await send(raw, signed(raw))).toBe(200);
    expect(await publishedBeforeMarker()).toHaveLength(1);
  });

  it('never moves a session back: an older status arriving late is dropped', async () => {
    const id = '5f1b7c2a-9d4e-4f5a-8b6c-7d8e9f0a1b2c';
    const newer = JSON.stringify(delivery({ session_id: id, status: 'Declined', timestamp: now() }));
    const older = JSON.stringify(delivery({ session_id: id, status: 'In Progress', timestamp: now() - 30 }));
    expect(await send(newer, signed(newer))).toBe(200);
    expect(await send(older, signed(older))).toBe(200);
    expect((await publishedBeforeMarker()).map((e) => e.status)).toEqual(['Declined']);
  });

  it('at the same second, never lets an earlier stage follow a later one', async () => {
    const id = '7f1b7c2a-9d4e-4f5a-8b6c-7d8e9f0a1b2c';
    const second = now();
    const approved = JSON.stringify(delivery({ session_id: id, status: 'Approved', timestamp: second }));
    const inProgress = JSON.stringify(delivery({ session_id: id, status: 'In Progress', timestamp: second }));
    const declined = JSON.stringify(delivery({ session_id: id, status: 'Declined', timestamp: second }));
    for (const raw of [approved, inProgress, declined]) expect(await send(raw, signed(raw))).toBe(200);
    expect((await publishedBeforeMarker()).map((e) => e.status)).toEqual(['Approved', 'Declined']);
  });

  it('takes every move stamped later, reversals included, and drops only what is older than the newest seen', async () => {
    const id = '8f1b7c2a-9d4e-4f5a-8b6c-7d8e9f0a1b2c';
    const t = now() - 60;
    const sent = [
      ['Approved', t],
      ['In Review', t + 10], // ongoing AML monitoring
      ['Declined', t + 20],
      ['Approved', t + 30], // a console review
      ['In Review', t + 5], // a retry of an older delivery
      ['Kyc Expired', t + 40],
      ['Declined', t + 50],
    ] as const;
    for (const [status, timestamp] of sent) {
      const raw = JSON.stringify(delivery({ session_id: id, status, timestamp }));
      expect(await send(raw, signed(raw))).toBe(200);
    }
    expect((await publishedBeforeMarker()).map((e) => e.status)).toEqual(['Approved', 'In Review', 'Declined', 'Approved', 'Kyc Expired', 'Declined']);
  });

  it("drops the decision cache's copy of the session", async () => {
    const id = '6f1b7c2a-9d4e-4f5a-8b6c-7d8e9f0a1b2c';
    const dropped = vi.spyOn(gw.services.decisionCache, 'delete');
    const raw = JSON.stringify(delivery({ session_id: id }));
    await send(raw, signed(raw));
    await vi.waitFor(() => expect(dropped).toHaveBeenCalledWith(id));
  });
});
