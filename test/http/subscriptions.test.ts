import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../src/lib/free-port.ts';
import { startRedis } from '../support/redis.ts';
import { CreateSessionDocument } from '../../src/generated/graphql.ts';
import { personaFor } from '../../src/sandbox/personas.ts';
import { STATUS_SUBSCRIPTION, subscribeSse, subscribeWs, type LiveSubscription } from '../support/subscriptions.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
let applicant: string;
let reviewer: string;
let stranger: string;

beforeAll(async () => {
  gw = await startTestGateway();
  applicant = await gw.token('owner-1');
  reviewer = await gw.token('office', ['reviewer']);
  stranger = await gw.token('someone-else');
});
afterAll(() => gw.close());

async function newSession() {
  const { createSession } = await gw.client(applicant).request(CreateSessionDocument, {
    input: { callback: 'http://localhost:3000/done', features: ['OCR', 'FACE', 'AML'] },
  });
  return createSession.session.id;
}

const subscribers = () => gw.services.events.subscriberCount();

describe.each([
  ['SSE', subscribeSse],
  ['WebSocket', subscribeWs],
])('sessionStatusChanged over %s', (_transport, subscribe) => {
  it('delivers each change once, with fresh session data under the access rules', async () => {
    const id = await newSession();
    const before = subscribers();
    const sub: LiveSubscription = subscribe(gw.url, applicant, STATUS_SUBSCRIPTION, { id });
    await vi.waitFor(() => expect(subscribers()).toBe(before + 1));

    // The applicant opens the sandbox page (In Progress), then finishes (In Review): two webhooks.
    const page = await fetch(`${gw.sandbox!.url}${new URL((await gw.services.didit.getDecision(id)).sessionUrl!).pathname}`);
    expect(page.status).toBe(200);
    const [first] = await sub.next(1);
    expect(first!.data!.sessionStatusChanged).toMatchObject({ sessionId: id, status: 'IN_PROGRESS', session: { status: 'IN_PROGRESS' } });

    gw.sandboxInstance.complete(id, 'In Review');
    const [, second] = await sub.next(2);
    const event = second!.data!.sessionStatusChanged;
    expect(event).toMatchObject({ sessionId: id, status: 'IN_REVIEW', session: { id, status: 'IN_REVIEW', decision: { status: 'IN_REVIEW' } } });
    const { first_name, last_name } = personaFor(id).kyc;
    expect(event.session.decision.kyc.fullName).toBe(`${first_name} ${last_name}`);
    expect(event.session.decision.aml).toBeNull(); // an applicant never sees AML, live or not
    expect(Date.parse(event.occurredAt)).toBeGreaterThan(0);

    await sub.close();
    await vi.waitFor(() => expect(subscribers()).toBe(before));
    expect(sub.results).toHaveLength(2);
  });

  it("refuses someone else's session as NOT_FOUND and holds nothing", async () => {
    const id = await newSession();
    const before = subscribers();
    const sub = subscribe(gw.url, stranger, STATUS_SUBSCRIPTION, { id });
    const [result] = await sub.next(1);
    expect(result!.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(result!.data ?? null).toBeNull();
    // The server ends the refused operation, so nothing can follow on it.
    await vi.waitFor(() => expect(sub.ended()).toBe(true));
    expect(subscribers()).toBe(before);
    // Both webhooks of the session are handled (the gateway has answered them): no subscriber was left to hear them.
    gw.sandboxInstance.complete(id, 'Approved');
    await gw.sandboxInstance.webhooksSettled();
    expect(subscribers()).toBe(before);
    expect(sub.results).toHaveLength(1);
    await sub.close();
  });

  it('refuses a caller without a token', async () => {
    const sub = subscribe(gw.url, undefined, STATUS_SUBSCRIPTION, { id: await newSession() });
    const [result] = await sub.next(1);
    // Over WebSocket the connection itself is refused, as graphql-ws clients expect.
    if (sub.closeCode) expect(sub.closeCode()).toBe(4401);
    else expect(result!.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await sub.close();
  });
});

it('lets a reviewer follow any session, with the reviewer-only parts', async () => {
  const id = await newSession();
  const before = subscribers();
  const sub = subscribeWs(gw.url, reviewer, STATUS_SUBSCRIPTION, { id });
  await vi.waitFor(() => expect(subscribers()).toBe(before + 1));
  gw.sandboxInstance.complete(id, 'Declined');
  const [result] = await sub.next(1);
  expect(result!.data!.sessionStatusChanged.session.decision.aml).not.toBeNull();
  await sub.close();
});

it('ends open subscriptions cleanly when the gateway closes', async () => {
  const own = await startTestGateway();
  const token = await own.token('owner-2');
  const { createSession } = await own.client(token).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done' } });
  const sse = subscribeSse(own.url, token, STATUS_SUBSCRIPTION, { id: createSession.session.id });
  const ws = subscribeWs(own.url, token, STATUS_SUBSCRIPTION, { id: createSession.session.id });
  await vi.waitFor(() => expect(own.services.events.subscriberCount()).toBe(2));
  await own.close(5_000);
  await vi.waitFor(() => expect(sse.ended() && ws.ended()).toBe(true));
});

describe('sessionStatusChanged with Redis', () => {
  it('never sends a session’s status twice in a row, even when a Redis restarted empty takes it as news again; the queue goes on after an erasure', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    const admin = new Redis(url);
    const fleet = await startTestGateway({ REDIS_URL: url, DECISION_CACHE_KEY: randomBytes(32).toString('base64') });
    try {
      const id = randomUUID();
      const office = await fleet.token('office', ['reviewer']);
      const sub = subscribeSse(fleet.url, office, 'subscription($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id });
      const queue = subscribeSse(fleet.url, office, 'subscription { reviewQueue { sessionId status } }', {});
      await Promise.all([sub.opened, queue.opened]);
      const at = Math.floor(Date.now() / 1000);
      expect(await fleet.services.events.record({ sessionId: id, status: 'Approved', timestamp: at })).toBe(true);
      // What was announced is gone (a restart without persistence): a revalidation read finding
      // Approved is news to Redis once more, and goes into the stream a second time.
      await admin.del(...(await admin.keys('*webhook-seen:*')));
      expect(await fleet.services.events.record({ sessionId: id, status: 'Approved', timestamp: at, observed: true })).toBe(true);
      expect(await fleet.services.events.record({ sessionId: id, status: 'Declined', timestamp: at + 1 })).toBe(true);
      const results = await sub.next(2);
      expect(results.map((r) => r.data?.sessionStatusChanged?.status)).toEqual(['APPROVED', 'DECLINED']);
      await sub.close();
      // The back office's queue likewise; and one session erased does not end it.
      const other = randomUUID();
      expect(await fleet.services.events.record({ sessionId: id, status: 'Deleted', timestamp: at + 2 })).toBe(true);
      expect(await fleet.services.events.record({ sessionId: other, status: 'In Review', timestamp: at + 3 })).toBe(true);
      const queued = await queue.next(4);
      expect(queued.map((r) => r.data?.reviewQueue)).toEqual([
        { sessionId: id, status: 'APPROVED' },
        { sessionId: id, status: 'DECLINED' },
        { sessionId: id, status: 'DELETED' },
        { sessionId: other, status: 'IN_REVIEW' },
      ]);
      await queue.close();
    } finally {
      await fleet.close();
      admin.disconnect();
      redis.kill('SIGKILL');
    }
  });
});
