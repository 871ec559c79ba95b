/**
 * The v3 `status.updated` webhooks of sessions made over v3: envelope, the three signatures
 * (checked here with node:crypto, not the sandbox's helpers), the Python-style raw body, and
 * retries only after a 5xx or a 404.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KYC_AML_WORKFLOW_ID } from '../../src/sandbox/server.ts';
import { completeSession, createSession, getToken, requestToken, startReceiver, startSandbox, type Delivery } from '../support/sandbox.ts';
import { control, createV3, decisionV3, v3Json } from '../support/sandbox-v3.ts';

type Json = Record<string, any>;

const SECRET = 'whsec-v3-test';
const hmac = (data: string | Buffer) => createHmac('sha256', SECRET).update(data).digest('hex');

/** JSON with keys sorted at every level, no spaces: what V2 signs. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${sortedJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Python's json.dumps(sort_keys=True, ensure_ascii=True, separators=(",", ":")). */
const pythonJson = (value: unknown) => sortedJson(value).replace(/[^\x00-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function verify(delivery: Delivery): void {
  const { headers, raw, body } = delivery;
  expect(headers['x-signature']).toBe(hmac(raw));
  expect(headers['x-signature-v2']).toBe(hmac(sortedJson(body)));
  expect(headers['x-signature-simple']).toBe(hmac(`${body.timestamp}:${body.session_id}:${body.status}:${body.webhook_type}`));
  expect(headers['x-timestamp']).toMatch(/^\d+$/);
  expect(Math.abs(Number(headers['x-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
  expect(headers['user-agent']).toBe('DiditWebhook/2.0 +https://didit.me');
  expect(headers['content-type']).toBe('application/json');
  // The raw body is exactly the Python form of what it says: sorted keys, ASCII only, no spaces.
  expect(raw.toString('utf8')).toBe(pythonJson(body));
  expect([...raw].every((byte) => byte < 0x80)).toBe(true);
}

describe('v3 webhooks', () => {
  it('sends the status.updated envelope with three valid signatures, and the decision on a final status', async () => {
    const receiver = await startReceiver();
    const { url } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const session = await createV3(url, { workflow_id: KYC_AML_WORKFLOW_ID, vendor_data: 'user-9', metadata: { plan: 'gold' } });
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const [progress, approved] = await receiver.next(2);
    for (const delivery of [progress!, approved!]) verify(delivery);

    // The application is the one the v1 token names as its subject.
    const { sub } = (await (await requestToken(url)).json()) as { sub: string };
    expect(progress!.body.application_id).toBe(sub);
    expect(Object.keys(progress!.body).sort()).toEqual(
      ['application_id', 'created_at', 'event_id', 'metadata', 'session_id', 'status', 'timestamp', 'vendor_data', 'webhook_type', 'workflow_id', 'workflow_version'].sort(),
    );
    expect(progress!.body).toMatchObject({
      webhook_type: 'status.updated',
      session_id: session.session_id,
      status: 'In Progress',
      workflow_id: KYC_AML_WORKFLOW_ID,
      workflow_version: 1,
      vendor_data: 'user-9',
      metadata: { plan: 'gold' },
    });
    expect(progress!.body.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(approved!.body.event_id).not.toBe(progress!.body.event_id);
    expect(Number.isInteger(progress!.body.timestamp)).toBe(true);
    expect(progress!.body.created_at).toBe(progress!.body.timestamp);
    expect(approved!.body.application_id).toBe(progress!.body.application_id);
    // The decision is the v3 decision, exactly as GET answers it.
    expect(approved!.body.decision).toEqual(await decisionV3(url, session.session_id));
    // An ASCII-only body signs the same for the raw bytes and the canonical JSON, as a real capture showed.
    expect(progress!.headers['x-signature']).toBe(progress!.headers['x-signature-v2']);
  });

  it('escapes non-ASCII in the raw body, so X-Signature and X-Signature-V2 differ for "José Müller"', async () => {
    const receiver = await startReceiver();
    const { url } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const session = await createV3(url, { vendor_data: 'user-ñ' });
    await control(url, session.session_id, 'complete', { status: 'Approved', kyc: { first_name: 'José', last_name: 'Müller' } });
    const [progress, approved] = await receiver.next(2);
    for (const delivery of [progress!, approved!]) verify(delivery);
    const raw = approved!.raw.toString('utf8');
    expect(raw).toContain('"full_name":"Jos\\u00e9 M\\u00fcller"');
    expect(raw).toContain('"vendor_data":"user-\\u00f1"');
    expect(raw).not.toContain('José');
    expect((approved!.body.decision as Json).id_verifications[0].full_name).toBe('José Müller');
    expect(approved!.headers['x-signature']).not.toBe(approved!.headers['x-signature-v2']);
  });

  it('carries resubmit_info on Resubmitted, and the decision again once the applicant finishes', async () => {
    const receiver = await startReceiver();
    const { url } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'Declined' });
    await v3Json(url, 'PATCH', `/v3/session/${session.session_id}/update-status/`, {
      new_status: 'Resubmitted',
      comment: 'Blurry document',
      nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }],
    });
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const deliveries = await receiver.next(4);
    expect(deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'Declined', 'Resubmitted', 'Approved']);
    const resubmitted = deliveries[2]!;
    verify(resubmitted);
    expect(resubmitted.body).not.toHaveProperty('decision');
    expect(resubmitted.body.resubmit_info).toEqual({
      nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }],
      reasons: { feature_ocr: 'Blurry document' },
    });
    expect((deliveries[3]!.body.decision as Json).id_verifications[0].status).toBe('Approved');
    expect(deliveries[3]!.body).not.toHaveProperty('resubmit_info');
  });

  it('sends one for a posted review and for a change of status, none for a same-status update or a delete', async () => {
    const receiver = await startReceiver();
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const session = await createV3(url, { vendor_data: undefined });
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const patch = (status: string) => v3Json(url, 'PATCH', `/v3/session/${session.session_id}/update-status/`, { new_status: status });
    expect((await patch('Approved')).status).toBe(200);
    expect((await v3Json(url, 'POST', `/v3/sessions/${session.session_id}/reviews/`, { new_status: 'In Review', comment: 'Look again' })).status).toBe(201);
    expect((await patch('Declined')).status).toBe(200);
    expect((await patch('Declined')).status).toBe(200);
    await v3Json(url, 'DELETE', `/v3/session/${session.session_id}/delete/`);
    await sandbox.webhooksSettled();
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'Approved', 'In Review', 'Declined']);
    const review = receiver.deliveries[2]!;
    // No vendor_data, workflow and metadata are there: only what the session has is sent.
    expect(review.body).not.toHaveProperty('vendor_data');
    expect(review.body).not.toHaveProperty('metadata');
    expect((review.body.decision as Json).reviews).toEqual([{ user: 'API Client', new_status: 'In Review', comment: 'Look again', created_at: expect.any(String) }]);
  });

  it('carries the decision for Abandoned, not for Expired or Kyc Expired', async () => {
    const receiver = await startReceiver();
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const left = await createV3(url, { vendor_data: 'a' });
    await control(url, left.session_id, 'abandon');
    const late = await createV3(url, { vendor_data: 'b' });
    await control(url, late.session_id, 'expire');
    const old = await createV3(url, { vendor_data: 'c' });
    await control(url, old.session_id, 'complete', { status: 'Approved' });
    await control(url, old.session_id, 'kyc-expire');
    await sandbox.webhooksSettled();
    const byStatus = new Map(receiver.deliveries.map((d) => [d.body.status as string, d]));
    expect(byStatus.get('Abandoned')!.body.decision).toMatchObject({ status: 'Abandoned', id_verifications: null });
    expect(byStatus.get('Expired')!.body).not.toHaveProperty('decision');
    expect(byStatus.get('Kyc Expired')!.body).not.toHaveProperty('decision');
  });

  it('retries after a 500 with the very same bytes, and after a 404', async () => {
    const receiver = await startReceiver((index) => [500, 404, 200][index] ?? 200);
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetries: 2, webhookRetryDelayMs: 5 });
    const session = await createV3(url);
    await fetch(session.url);
    await sandbox.webhooksSettled();
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Progress', 'In Progress']);
    expect(receiver.deliveries.every((d) => d.raw.equals(receiver.deliveries[0]!.raw))).toBe(true);
    for (const delivery of receiver.deliveries) verify(delivery);
  });

  it('does not retry another 4xx, and goes on with the next status', async () => {
    const receiver = await startReceiver((index) => (index === 0 ? 400 : 200));
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetries: 3, webhookRetryDelayMs: 5 });
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    await sandbox.webhooksSettled();
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'Approved']);
  });

  it('keeps v1 sessions on v1 webhooks, retried after any failure', async () => {
    const receiver = await startReceiver((index) => (index === 0 ? 400 : 200));
    const { url, sandbox } = await startSandbox({ webhookUrl: receiver.url, webhookSecret: SECRET, webhookRetryDelayMs: 5 });
    const session = await createSession(url, await getToken(url));
    await completeSession(url, session.session_id, { status: 'Approved' });
    await sandbox.webhooksSettled();
    expect(receiver.deliveries.map((d) => d.body.status)).toEqual(['In Progress', 'In Progress', 'Approved']);
    expect(receiver.deliveries[2]!.body).not.toHaveProperty('webhook_type');
    expect(receiver.deliveries[2]!.headers['x-signature-simple']).toBeUndefined();
    expect(receiver.deliveries[2]!.body.decision).toHaveProperty('kyc');
  });
});
