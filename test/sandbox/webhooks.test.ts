/** Status webhooks: body, signatures, order, retries, runtime target changes, and close. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  signatureMatches,
  signWebhookBody,
  signWebhookCanonical,
} from '../../src/didit/webhook-signature.ts';
import type { WebhookBody } from '../../src/sandbox/wire.ts';
import type { SandboxLogger } from '../../src/sandbox/server.ts';
import { api, completeSession, createSession, getToken, startReceiver, startSandbox } from '../support/sandbox.ts';

const SECRET = 'whsec-test';

/** A logger that resolves `until(text, n)` once `n` warnings containing `text` were logged. */
function watchLogger() {
  const warnings: string[] = [];
  const waiters: { text: string; count: number; resolve: () => void }[] = [];
  const logger: SandboxLogger = {
    info() {},
    warn(message) {
      warnings.push(message);
      for (const w of [...waiters]) {
        if (warnings.filter((m) => m.includes(w.text)).length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
  };
  const until = (text: string, count: number) =>
    new Promise<void>((resolve) => {
      if (warnings.filter((m) => m.includes(text)).length >= count) resolve();
      else waiters.push({ text, count, resolve });
    });
  return { logger, warnings, until };
}

describe('webhook deliveries', () => {
  it('sends each status change, signed over the raw bytes and over the canonical JSON', async () => {
    const receiver = await startReceiver();
    const { url } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const session = await createSession(url, await getToken(url));
    expect((await completeSession(url, session.session_id, { status: 'Approved' })).status).toBe(200);

    const [progress, approved] = await receiver.next(2);
    expect([progress!.body.status, approved!.body.status]).toEqual(['In Progress', 'Approved']);
    for (const delivery of [progress!, approved!]) {
      const body = delivery.body as unknown as WebhookBody;
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(body).toMatchObject({ session_id: session.session_id, vendor_data: 'user-1' });
      expect(Number.isInteger(body.created_at) && Number.isInteger(body.timestamp)).toBe(true);
      expect(delivery.headers['x-timestamp']).toMatch(/^\d+$/);
      expect(delivery.headers['x-signature']).toBe(signWebhookBody(delivery.raw, SECRET));
      expect(signatureMatches(delivery.headers['x-signature'] as string, signWebhookBody(delivery.raw.toString('utf8'), SECRET))).toBe(true);
      expect(delivery.headers['x-signature-v2']).toBe(signWebhookCanonical(JSON.parse(delivery.raw.toString('utf8')), SECRET));
      expect(delivery.headers['x-signature']).not.toBe(signWebhookBody(delivery.raw, 'another-secret'));
    }
    // Only a final status carries the decision.
    expect(progress!.body).not.toHaveProperty('decision');
    expect(approved!.body.decision).toMatchObject({ session_id: session.session_id, status: 'Approved', kyc: expect.any(Object) });
  });

  it('sends one for the page opening and one for update-status, with the review', async () => {
    const receiver = await startReceiver();
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const token = await getToken(url);
    const session = await createSession(url, token);
    await fetch(session.url);
    await receiver.next(1);
    sandbox.complete(session.session_id, 'In Review');
    await api(url, token, 'PATCH', `/v1/session/${session.session_id}/update-status/`, { new_status: 'Approved', comment: 'Checked' });
    const deliveries = await receiver.next(3);
    expect(deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Review', 'Approved']);
    expect((deliveries[2]!.body as unknown as WebhookBody).decision!.reviews).toEqual([
      expect.objectContaining({ new_status: 'Approved', comment: 'Checked' }),
    ]);
  });

  it('retries a failing receiver, keeping one session\'s deliveries in order', async () => {
    const receiver = await startReceiver((index) => (index < 2 ? 500 : 200));
    const { url } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetries: 3, webhookRetryDelayMs: 5 });
    const session = await createSession(url, await getToken(url));
    await completeSession(url, session.session_id, { status: 'Declined' });
    const deliveries = await receiver.next(4);
    expect(deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Progress', 'In Progress', 'Declined']);
    // A retry sends the very same bytes, so the same signature.
    expect(deliveries[1]!.raw.equals(deliveries[0]!.raw) && deliveries[2]!.raw.equals(deliveries[0]!.raw)).toBe(true);
  });

  it('gives up after webhookRetries retries', async () => {
    const receiver = await startReceiver(() => 503);
    const watch = watchLogger();
    const { url, sandbox } = await startSandbox({
      webhookUrl: receiver.url,
      webhookSecret: SECRET,
      webhookRetries: 2,
      webhookRetryDelayMs: 5,
      logger: watch.logger,
    });
    const session = await createSession(url, await getToken(url));
    sandbox.complete(session.session_id, 'Approved');
    await watch.until('gave up', 2);
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual([...Array(3).fill('In Progress'), ...Array(3).fill('Approved')]);
  });

  it('retries when the receiver cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const watch = watchLogger();
    const { url } = await startSandbox({
      webhookUrl: `http://127.0.0.1:${port}/hook`,
      webhookSecret: SECRET,
      webhookRetries: 1,
      webhookRetryDelayMs: 5,
      logger: watch.logger,
    });
    const session = await createSession(url, await getToken(url));
    await fetch(session.url);
    await watch.until('gave up', 1);
    expect(watch.warnings.filter((m) => m.includes('failed'))).toHaveLength(2);
  });

  it('follows setWebhook, and sends unsigned without a secret', async () => {
    const receiver = await startReceiver();
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const first = await createSession(url, token);
    sandbox.complete(first.session_id, 'Approved');
    sandbox.setWebhook(receiver.url, undefined);
    const second = await createSession(url, token);
    sandbox.complete(second.session_id, 'Approved');
    const deliveries = await receiver.next(2);
    expect(deliveries.every((d) => d.body.session_id === second.session_id)).toBe(true);
    expect(deliveries[0]!.headers['x-signature']).toBeUndefined();
  });

  it('tells when every queued delivery is done', async () => {
    const receiver = await startReceiver((index) => (index === 0 ? 500 : 200));
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetryDelayMs: 5 });
    await sandbox.webhooksSettled();
    const session = await createSession(url, await getToken(url));
    sandbox.complete(session.session_id, 'Approved');
    await sandbox.webhooksSettled();
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Progress', 'Approved']);
  });

  it('drains for a shutdown: refuses new requests with 503, and delivers what it already owes', async () => {
    const receiver = await startReceiver((index) => (index === 0 ? 500 : 200));
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetryDelayMs: 50 });
    const token = await getToken(url);
    const session = await createSession(url, token);
    sandbox.complete(session.session_id, 'Approved');
    const drained = sandbox.drain();
    const refused = await fetch(`${url}/v1/session/${session.session_id}/decision/`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    await drained;
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Progress', 'Approved']);
    await sandbox.close();
  });

  it('cancels a pending retry on close', async () => {
    const receiver = await startReceiver(() => 500);
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetryDelayMs: 600_000 });
    const session = await createSession(url, await getToken(url));
    await fetch(session.url);
    await receiver.next(1);
    // Resolving at all shows the ten-minute retry timer did not hold the sandbox open.
    await sandbox.close();
    expect(receiver.deliveries).toHaveLength(1);
  });
});

describe('webhook-signature', () => {
  it('signs with HMAC-SHA256 in hex, the same for a string and its UTF-8 bytes', () => {
    // RFC 4231, test case 2.
    expect(signWebhookBody('what do ya want for nothing?', 'Jefe')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(signWebhookBody(Buffer.from('é', 'utf8'), 'k')).toBe(signWebhookBody('é', 'k'));
  });

  it('writes canonical JSON: keys sorted recursively, no whitespace, numbers as JavaScript prints them', () => {
    expect(canonicalJson(JSON.parse('{"b": 1.0, "a": {"z": [3, {"y": 2.50, "x": null}], "10": true, "2": "é"}}'))).toBe(
      '{"a":{"10":true,"2":"é","z":[3,{"x":null,"y":2.5}]},"b":1}',
    );
    expect(canonicalJson({ a: undefined, b: [undefined, Number.NaN], c: new Date(0) })).toBe('{"b":[null,null],"c":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson('x')).toBe('"x"');
    const body = { status: 'Approved', session_id: 's' };
    expect(signWebhookCanonical(body, 'k')).toBe(signWebhookBody('{"session_id":"s","status":"Approved"}', 'k'));
  });

  it('compares signatures safely', () => {
    const expected = signWebhookBody('x', 'k');
    expect(signatureMatches(expected, expected)).toBe(true);
    expect(signatureMatches(expected.toUpperCase(), expected)).toBe(true);
    expect(signatureMatches(expected.slice(2), expected)).toBe(false);
    expect(signatureMatches('zz', expected)).toBe(false);
    expect(signatureMatches(undefined, expected)).toBe(false);
  });
});
