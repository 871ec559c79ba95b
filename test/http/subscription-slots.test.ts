import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { subscribeSse, subscribeWs } from '../support/subscriptions.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ MAX_SUBSCRIPTIONS_PER_CALLER: '2' });
});
afterAll(() => gw.close());

it('a caller holds at most MAX_SUBSCRIPTIONS_PER_CALLER subscriptions, over any transport; closing one frees its slot', async () => {
  const office = await gw.token('office', ['reviewer']);
  const QUEUE = 'subscription { reviewQueue { status } }';
  const first = subscribeWs(gw.url, office, QUEUE, {});
  const second = subscribeSse(gw.url, office, QUEUE, {});
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(2));
  const third = subscribeWs(gw.url, office, QUEUE, {});
  const [refused] = await third.next(1);
  expect(refused!.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'caller' });
  // Someone else is not affected.
  const other = subscribeWs(gw.url, await gw.token('office-2', ['reviewer']), QUEUE, {});
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(3));
  await first.close();
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(2));
  const fourth = subscribeWs(gw.url, office, QUEUE, {});
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(3));
  await Promise.all([second.close(), third.close(), other.close(), fourth.close()]);
});

it("ends a subscription when the caller's token expires, over SSE as over WebSocket, and frees its slot", async () => {
  const { SignJWT } = await import('jose');
  const { TEST_JWT_SECRET } = await import('../support/gateway.ts');
  const shortLived = await new SignJWT({ roles: ['reviewer'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('office-short')
    .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  // The first test's subscriptions are gone.
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(0));
  const before = 0;
  const sub = subscribeSse(gw.url, shortLived, 'subscription { reviewQueue { status } }', {});
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(before + 1));
  await vi.waitFor(() => expect(sub.ended()).toBe(true), { timeout: 10_000 });
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(before));
  await sub.close();
});
