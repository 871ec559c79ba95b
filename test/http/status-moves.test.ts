import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signWebhookBody } from '../../src/didit/webhook-signature.ts';
import { FULL_WORKFLOW_ID, KYC_AML_WORKFLOW_ID } from '../../src/sandbox/server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { subscribeWs, type LiveSubscription } from '../support/subscriptions.ts';

/**
 * Statuses as Didit moves them, through the gateway in v3 against the sandbox: reversals are
 * heard, the gateway's own changes are events exactly once (with Didit's webhooks and without),
 * a delivery that says "Deleted" ends nothing, and `includeCurrent` does not hide changes.
 */
const SECRET = 'status-moves-webhook-secret';
let gw: TestGateway;
let reviewer: string;
let applicant: string;

beforeAll(async () => {
  gw = await startTestGateway({ SANDBOX_API_VERSION: 'v3', DIDIT_WORKFLOW_ID: KYC_AML_WORKFLOW_ID, DIDIT_WEBHOOK_SECRET: SECRET });
  reviewer = await gw.token('office', ['reviewer']);
  applicant = await gw.token('mover');
});
afterAll(() => gw?.close());

const statuses = (sub: LiveSubscription, field: string, id?: string) =>
  sub.results.flatMap((r) => {
    const event = r.data?.[field];
    return event && (!id || event.sessionId === id) ? [event.status as string] : [];
  });

/** A session of the applicant's (v3 hands out an unfinished session again for the same applicant: each test has its own). */
async function create(token = applicant): Promise<string> {
  const result = await gw.post(token, 'mutation { createSession(input: { callback: "http://localhost:3000/done" }) { session { id } } }');
  expect(result.errors).toBeUndefined();
  return result.data!.createSession.session.id;
}

async function mutate(query: string, variables: Record<string, unknown>) {
  const result = await gw.post(reviewer, query, variables);
  expect(result.errors).toBeUndefined();
  return result.data!;
}

/** A signed `status.updated` delivery, as Didit v3 sends one. */
async function deliver(body: Record<string, unknown>): Promise<number> {
  const raw = JSON.stringify({ webhook_type: 'status.updated', event_id: randomUUID(), vendor_data: 'mover', ...body });
  const response = await fetch(`${gw.url}/webhooks/didit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': signWebhookBody(raw, SECRET), 'x-timestamp': String(Math.floor(Date.now() / 1000)) },
    body: raw,
  });
  return response.status;
}

const now = () => Math.floor(Date.now() / 1000);
const QUEUE = 'subscription { reviewQueue(statuses: [IN_REVIEW, APPROVED, DECLINED]) { sessionId status } }';
const OWN = 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { sessionId status } }';
const REVIEW = 'mutation ($id: ID!, $s: SessionReviewStatus!) { addSessionReview(input: { sessionId: $id, status: $s }) { session { status } } }';
const UPDATE = 'mutation ($id: ID!, $s: ReviewDecision!) { updateSessionStatus(input: { sessionId: $id, status: $s }) { session { status } } }';

describe.each([
  ['with Didit webhooks', true],
  ['without webhooks', false],
])("the gateway's own changes, %s", (_name, webhooks) => {
  it('are heard by the owner and the review queue, exactly once each: a reviewer sends an approved session back to review, then approves it', async () => {
    const id = await create();
    gw.sandboxInstance.complete(id, 'Approved');
    await gw.sandboxInstance.webhooksSettled();
    if (!webhooks) gw.sandboxInstance.setWebhook(undefined, undefined);
    try {
      const own = subscribeWs(gw.url, applicant, OWN, { id });
      const queue = subscribeWs(gw.url, reviewer, QUEUE, {});
      await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(2));

      expect((await mutate(REVIEW, { id, s: 'IN_REVIEW' })).addSessionReview.session.status).toBe('IN_REVIEW');
      expect((await mutate(UPDATE, { id, s: 'APPROVED' })).updateSessionStatus.session.status).toBe('APPROVED');
      await gw.sandboxInstance.webhooksSettled();
      // Markers: events reach subscribers in the order they were recorded, so once these are in,
      // anything the changes above were to cause is in too.
      const marker = await create(reviewer);
      gw.sandboxInstance.complete(marker, 'In Review');
      await mutate(UPDATE, { id: marker, s: 'APPROVED' });
      await vi.waitFor(() => expect(statuses(queue, 'reviewQueue', marker)).toContain('APPROVED'));
      await mutate('mutation ($id: ID!) { deleteSession(sessionId: $id) { deleted } }', { id });
      await vi.waitFor(() => expect(own.ended()).toBe(true));

      expect(statuses(own, 'sessionStatusChanged')).toEqual(['IN_REVIEW', 'APPROVED', 'DELETED']);
      expect(statuses(queue, 'reviewQueue', id)).toEqual(['IN_REVIEW', 'APPROVED']);
      await queue.close();
    } finally {
      gw.sandboxInstance.setWebhook(`${gw.url}/webhooks/didit`, SECRET);
    }
  });
});

it('a signed delivery saying "Deleted" ends no subscription, and the statuses after it are heard', async () => {
  applicant = await gw.token('mover-1');
  const id = await create();
  const own = subscribeWs(gw.url, applicant, OWN, { id });
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));
  expect(await deliver({ session_id: id, status: 'Deleted', timestamp: now() })).toBe(200);
  expect(await deliver({ session_id: id, status: 'In Progress', timestamp: now() })).toBe(200);
  await vi.waitFor(() => expect(statuses(own, 'sessionStatusChanged')).toEqual(['IN_PROGRESS']));
  expect(own.ended()).toBe(false);
  // Didit still holds the session: it reads as it is.
  const read = await gw.post(applicant, 'query ($id: ID!) { session(id: $id) { status } }', { id });
  expect(read.data!.session.status).toBe('NOT_STARTED');
  await own.close();
});

it('includeCurrent does not stamp the current status with our clock: a change Didit stamped earlier is still heard', async () => {
  applicant = await gw.token('mover-2');
  const id = await create();
  const own = subscribeWs(gw.url, applicant, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id, includeCurrent: true) { status } }', { id });
  await vi.waitFor(() => expect(statuses(own, 'sessionStatusChanged')).toEqual(['NOT_STARTED']));
  // Didit's clock is 20 s behind ours (or the delivery was retried): the change is real all the same.
  expect(await deliver({ session_id: id, status: 'In Progress', timestamp: now() - 20 })).toBe(200);
  await vi.waitFor(() => expect(statuses(own, 'sessionStatusChanged')).toEqual(['NOT_STARTED', 'IN_PROGRESS']));
  await own.close();
});

it("a resubmission made here is heard without Didit's webhook, each reader seeing the steps their role may see", async () => {
  const owner = await gw.token('mover-3');
  const created = await gw.post(reviewer, 'mutation { createSession(input: { callback: "http://localhost:3000/done", vendorData: "mover-3", workflowId: "' + FULL_WORKFLOW_ID + '" }) { session { id } } }');
  const id = created.data!.createSession.session.id as string;
  gw.sandboxInstance.complete(id, 'Declined');
  await gw.sandboxInstance.webhooksSettled();
  gw.sandboxInstance.setWebhook(undefined, undefined);
  try {
    const SUB = 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status resubmittedSteps { nodeId feature reason } } }';
    const own = subscribeWs(gw.url, owner, SUB, { id });
    const office = subscribeWs(gw.url, reviewer, SUB, { id });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(2));
    await mutate('mutation ($id: ID!) { resubmitSession(input: { sessionId: $id, steps: [{ nodeId: "feature_ocr", feature: "OCR" }, { nodeId: "feature_aml", feature: "AML" }], comment: "Blurred photo" }) { session { status } } }', { id });
    const [mine] = await own.next(1);
    expect(mine!.data!.sessionStatusChanged).toEqual({ status: 'RESUBMITTED', resubmittedSteps: [{ nodeId: 'feature_ocr', feature: 'OCR', reason: 'Blurred photo' }] });
    const [theirs] = await office.next(1);
    expect(theirs!.data!.sessionStatusChanged.resubmittedSteps.map((s: { feature: string }) => s.feature)).toEqual(['OCR', 'AML']);
    await Promise.all([own.close(), office.close()]);
  } finally {
    gw.sandboxInstance.setWebhook(`${gw.url}/webhooks/didit`, SECRET);
  }
});
