import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { subscribeSse, subscribeWs, type LiveSubscription } from '../support/subscriptions.ts';

/**
 * Subscriptions that cannot lose: registered before their first read, their slot given back
 * however they end, free for a caller who may already see the session, never refused for the
 * caller's share of Didit. Didit's real pace here (100 decision reads a minute: a caller's share
 * is 20, with a burst of 5).
 */
let gw: TestGateway;
let reviewer: string;

beforeAll(async () => {
  gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', MAX_SUBSCRIPTIONS_PER_CALLER: '5' });
  reviewer = await gw.token('office', ['reviewer']);
});
afterAll(() => gw.close());

const OWN = 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }';
const QUEUE = 'subscription { reviewQueue { status } }';
const statuses = (sub: LiveSubscription) => sub.results.map((r) => r.data?.sessionStatusChanged?.status ?? r.errors?.[0]?.extensions?.code);
const decisionReads = () => gw.upstream('decision');

/** A session of `owner`'s, made at Didit directly: the gateway has never seen it. */
async function sessionOf(owner: string): Promise<string> {
  const created = await gw.services.didit.createSession({ callback: 'https://localhost/done', vendorData: owner });
  return created.id;
}

const openPage = async (id: string) => {
  const url = new URL((await gw.services.didit.getDecision(id)).sessionUrl!);
  expect((await fetch(`${gw.sandbox!.url}${url.pathname}`)).status).toBe(200);
};

it('is registered for events before its first read: a change during that read is heard', async () => {
  const id = await sessionOf('early-bird');
  const reads = decisionReads();
  // The subscriber's read of the session (to check it is theirs) takes a while at Didit...
  gw.sandboxInstance.injectFault({ kind: 'latency', endpoint: 'decision', latencyMs: 800 });
  const sub = subscribeWs(gw.url, await gw.token('early-bird'), OWN, { id });
  await vi.waitFor(() => expect(decisionReads()).toBe(reads + 1));
  // ...and meanwhile the applicant opens the page: In Progress.
  await openPage(id);
  await gw.sandboxInstance.webhooksSettled();
  await vi.waitFor(() => expect(statuses(sub)).toEqual(['IN_PROGRESS']));
  await sub.close();
});

it('costs no Didit read for a reviewer, nor for an applicant whose session the gateway has read, and none of their share', async () => {
  const id = await sessionOf('known-owner');
  const applicant = await gw.token('known-owner');
  // The applicant reads the session once (a Didit read, theirs).
  expect((await gw.post(applicant, 'query ($id: ID!) { session(id: $id) { status } }', { id })).data!.session.status).toBe('NOT_STARTED');
  const reads = decisionReads();
  const subs = [subscribeWs(gw.url, reviewer, OWN, { id }), subscribeSse(gw.url, applicant, OWN, { id })];
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(2));
  expect(decisionReads()).toBe(reads);
  // Someone else is still told the session does not exist.
  const stranger = subscribeWs(gw.url, await gw.token('stranger'), OWN, { id });
  expect(statuses(await stranger.next(1).then(() => stranger))).toEqual(['NOT_FOUND']);
  await Promise.all([...subs, stranger].map((s) => s.close()));
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(0));
});

it('thirty subscriptions opened and completed at once leave the caller able to subscribe', async () => {
  const owner = 'thirty';
  const token = await gw.token(owner);
  const ids = await Promise.all(Array.from({ length: 6 }, () => sessionOf(owner)));
  const subs = Array.from({ length: 30 }, (_, i) => subscribeWs(gw.url, token, OWN, { id: ids[i % ids.length] }));
  // Each is either open or refused for the caller's cap on open subscriptions, never for Didit's budget.
  await vi.waitFor(() => expect(gw.services.events.subscriberCount() + subs.filter((s) => s.results.length > 0).length).toBe(30), { timeout: 10_000 });
  for (const sub of subs) for (const code of statuses(sub)) expect(code).toBe('RATE_LIMITED');
  expect(subs.filter((s) => s.results.length === 0)).toHaveLength(5);
  await Promise.all(subs.map((s) => s.close()));
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(0));

  const again = subscribeWs(gw.url, token, OWN, { id: ids[0] });
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));
  await openPage(ids[0]!);
  await vi.waitFor(() => expect(statuses(again)).toEqual(['IN_PROGRESS']));
  await again.close();
});

it('gives its slot back however it ends: twenty quick mount/unmounts do not lock the caller out', async () => {
  const token = await gw.token('office-quick', ['reviewer']);
  for (let i = 0; i < 20; i++) {
    // graphql-ws: Subscribe and Complete in a row, before anything was pulled from the stream.
    const sub = subscribeWs(gw.url, token, QUEUE, {});
    await sub.opened;
    await sub.close();
  }
  const held = subscribeWs(gw.url, token, QUEUE, {});
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));
  expect(statuses(held)).toEqual([]);
  await held.close();
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(0));
});

it('is never refused for Didit being busy: its first read waits for Didit and the events come', async () => {
  const id = await sessionOf('patient');
  // Didit answers 429 with a Retry-After longer than the client waits on its own.
  gw.sandboxInstance.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 6 });
  const sub = subscribeWs(gw.url, await gw.token('patient'), 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id, includeCurrent: true) { status } }', { id });
  await vi.waitFor(() => expect(statuses(sub)).toEqual(['NOT_STARTED']), { timeout: 15_000 });
  await openPage(id);
  await vi.waitFor(() => expect(statuses(sub)).toEqual(['NOT_STARTED', 'IN_PROGRESS']));
  await sub.close();
}, 30_000);
