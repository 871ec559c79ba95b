import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { signWebhookBody } from '../../src/didit/webhook-signature.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { startRedis } from '../support/redis.ts';
import { STATUS_SUBSCRIPTION, subscribeSse, subscribeWs } from '../support/subscriptions.ts';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { testAuditEnv } from '../support/postgres.ts';

const WEBHOOK_SECRET = 'shared-webhook-secret';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_PREFIX = `test-${randomUUID()}:`;

async function startInstance(sandboxUrl: string, redisUrl: string, logs = new CapturedLogs()) {
  const config = loadConfig({
    // The audit trail in the run's PostgreSQL database (required with REDIS_URL).
    ...testAuditEnv(),
    PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', AUTH_JWT_SECRET: TEST_JWT_SECRET, REDIS_URL: redisUrl,
    DIDIT_CLIENT_ID: 'sandbox-client', DIDIT_CLIENT_SECRET: 'sandbox-secret', DIDIT_AUTH_URL: sandboxUrl, DIDIT_API_URL: sandboxUrl,
    DIDIT_WEBHOOK_SECRET: WEBHOOK_SECRET, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
    // Budget counts of this run only (the Redis is shared with other test runs).
    REDIS_KEY_PREFIX: RUN_PREFIX,
  });
  const gateway = await startGateway(config, { logDestination: logs });
  await vi.waitFor(() => expect(gateway.services.events.connected()).toBe(true), { timeout: 5000 });
  return Object.assign(gateway, { logs });
}

const token = (sub: string, roles: string[] = []) =>
  new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

function post(gateway: RunningGateway, body: Record<string, unknown>) {
  const raw = JSON.stringify(body);
  return fetch(`${gateway.url}/webhooks/didit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': signWebhookBody(raw, WEBHOOK_SECRET), 'x-timestamp': String(Math.floor(Date.now() / 1000)) },
    body: raw,
  });
}

async function deliver(gateway: RunningGateway, body: Record<string, unknown>) {
  return (await post(gateway, body)).status;
}

describe('two gateway instances on one Redis', () => {
  let sandbox: Sandbox;
  let first: Awaited<ReturnType<typeof startInstance>>;
  let second: Awaited<ReturnType<typeof startInstance>>;

  beforeAll(async () => {
    sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    first = await startInstance(url, REDIS_URL);
    second = await startInstance(url, REDIS_URL);
    sandbox.setWebhook(`${first.url}/webhooks/didit`, WEBHOOK_SECRET);
  });
  afterAll(async () => {
    await first.close();
    await second.close();
    await sandbox.close();
  });

  it('a webhook received by the first reaches a subscriber on the second exactly once', async () => {
    const owner = await token('owner-redis');
    const created = await first.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData: 'owner-redis' });
    const id = created.id;
    const sub = subscribeSse(second.url, owner, STATUS_SUBSCRIPTION, { id });
    const ws = subscribeWs(second.url, owner, STATUS_SUBSCRIPTION, { id });
    await vi.waitFor(() => expect(second.services.events.subscriberCount()).toBe(2));

    // Finishing goes through In Progress, as on Didit: two webhooks, two events, in order.
    sandbox.complete(id, 'Approved');
    const events = await sub.next(2);
    expect(events.map((e) => e.data!.sessionStatusChanged.status)).toEqual(['IN_PROGRESS', 'APPROVED']);
    expect(events[1]!.data!.sessionStatusChanged).toMatchObject({ sessionId: id, session: { status: 'APPROVED' } });
    await ws.next(2);

    // Didit retries the same delivery, to either instance: nobody hears it again.
    const body = { session_id: id, status: 'Approved', created_at: 1, timestamp: Math.floor(Date.now() / 1000) - 1, vendor_data: 'owner-redis' };
    expect(await deliver(second, body)).toBe(200);
    expect(await deliver(first, body)).toBe(200);
    // A newer change still goes through.
    expect(await deliver(second, { ...body, status: 'Declined', timestamp: body.timestamp + 10 })).toBe(200);
    // An earlier stage stamped with the same second does not.
    expect(await deliver(first, { ...body, status: 'In Progress', timestamp: body.timestamp + 10 })).toBe(200);
    // A reviewer's later Approved, as a marker: events reach subscribers in the order they were
    // recorded, so whatever arrives before it is all the deliveries above published.
    expect(await deliver(first, { ...body, status: 'Approved', timestamp: body.timestamp + 20 })).toBe(200);
    const statuses = ['IN_PROGRESS', 'APPROVED', 'DECLINED', 'APPROVED'];
    for (const live of [sub, ws]) {
      await live.next(4);
      expect(live.results.map((e) => e.data!.sessionStatusChanged.status)).toEqual(statuses);
    }
    await sub.close();
    await ws.close();
  });
  it("a change made on one instance drops the others' copies, and is one event for every subscriber", async () => {
    const reviewer = await token('office-redis', ['reviewer']);
    const created = await first.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData: 'owner-change' });
    const id = created.id;
    sandbox.complete(id, 'Approved');
    await sandbox.webhooksSettled();
    const read = async (gateway: RunningGateway) => {
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
        body: JSON.stringify({ query: 'query ($id: ID!) { session(id: $id) { status } }', variables: { id } }),
      });
      return ((await response.json()) as { data: { session: { status: string } } }).data.session.status;
    };
    await vi.waitFor(async () => expect(await read(second)).toBe('APPROVED'));
    // The subscriber is on the instance that makes the change: its read of the event is not the second's.
    const sub = subscribeSse(first.url, await token('owner-change'), STATUS_SUBSCRIPTION, { id });
    await vi.waitFor(() => expect(first.services.events.subscriberCount()).toBe(1));

    // Didit's webhook for the change is lost: the gateway's own event is all the fleet hears.
    sandbox.setWebhook(undefined, undefined);
    const changed = await fetch(`${first.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
      body: JSON.stringify({ query: 'mutation ($id: ID!) { updateSessionStatus(input: { sessionId: $id, status: DECLINED }) { session { status } } }', variables: { id } }),
    });
    expect(((await changed.json()) as any).data.updateSessionStatus.session.status).toBe('DECLINED');
    const [event] = await sub.next(1);
    expect(event!.data!.sessionStatusChanged).toMatchObject({ status: 'DECLINED', session: { status: 'DECLINED' } });
    await vi.waitFor(async () => expect(await read(second)).toBe('DECLINED'));
    sandbox.setWebhook(`${first.url}/webhooks/didit`, WEBHOOK_SECRET);
    // Didit's webhook for the same change, late, is no second event: a later change is the next one.
    expect(await deliver(first, { session_id: id, status: 'Declined', created_at: 1, timestamp: Math.floor(Date.now() / 1000), vendor_data: 'owner-change' })).toBe(200);
    expect(await deliver(first, { session_id: id, status: 'Approved', created_at: 1, timestamp: Math.floor(Date.now() / 1000) + 2, vendor_data: 'owner-change' })).toBe(200);
    const [, next] = await sub.next(2);
    expect(next!.data!.sessionStatusChanged.status).toBe('APPROVED');
    await sub.close();
  });
});

describe('Redis going away and coming back', () => {
  it('refuses webhooks with 503 while Redis is away, says so in the logs, and recovers', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    const gateway = await startInstance(url, `redis://127.0.0.1:${port}`);
    try {
      const created = await gateway.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData: 'owner-x' });
      const body = { session_id: created.id, status: 'In Review', created_at: 1, timestamp: Math.floor(Date.now() / 1000), vendor_data: 'owner-x' };

      redis.kill('SIGKILL');
      await vi.waitFor(() => expect(gateway.services.events.connected()).toBe(false));
      expect(await deliver(gateway, body)).toBe(503);
      expect(gateway.logs.text).toContain('redis connection lost');
      expect((await fetch(`${gateway.url}/readiness`)).status).toBe(503);

      redis = await startRedis(port);
      await vi.waitFor(() => expect(gateway.services.events.connected()).toBe(true), { timeout: 10_000 });
      expect((await fetch(`${gateway.url}/readiness`)).status).toBe(200);
      const sub = subscribeSse(gateway.url, await token('owner-x'), STATUS_SUBSCRIPTION, { id: created.id });
      await vi.waitFor(() => expect(gateway.services.events.subscriberCount()).toBe(1));
      // Didit retries the delivery that failed: it goes through now.
      expect(await deliver(gateway, body)).toBe(200);
      const [event] = await sub.next(1);
      expect(event!.data!.sessionStatusChanged.status).toBe('IN_REVIEW');
      await sub.close();
    } finally {
      await gateway.close();
      await sandbox.close();
      redis.kill('SIGKILL');
    }
  });
});

describe('a delivery that could not be published', () => {
  it('is not recorded: it answers 503 and Didit\'s retry goes through to subscribers', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const admin = new Redis(`redis://127.0.0.1:${port}`);
    const sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    const gateway = await startInstance(url, `redis://127.0.0.1:${port}`);
    try {
      const created = await gateway.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData: 'owner-y' });
      const sub = subscribeSse(gateway.url, await token('owner-y'), STATUS_SUBSCRIPTION, { id: created.id });
      await vi.waitFor(() => expect(gateway.services.events.subscriberCount()).toBe(1));
      const body = { session_id: created.id, status: 'In Review', created_at: 1, timestamp: Math.floor(Date.now() / 1000), vendor_data: 'owner-y' };

      // The stream cannot take the event (its key holds a string), while the rest of Redis works.
      await admin.set(`${RUN_PREFIX}session-status`, 'not a stream');
      expect(await deliver(gateway, body)).toBe(503);
      await admin.del(`${RUN_PREFIX}session-status`);
      expect(await (await post(gateway, body)).json()).toEqual({ ok: true });
      const [event] = await sub.next(1);
      expect(event!.data!.sessionStatusChanged.status).toBe('IN_REVIEW');
      await sub.close();
    } finally {
      await gateway.close();
      await sandbox.close();
      admin.disconnect();
      redis.kill('SIGKILL');
    }
  });
});

describe('replay protection across a restart', () => {
  it('drops a captured delivery replayed to a fresh instance on the same Redis', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    let gateway = await startInstance(url, `redis://127.0.0.1:${port}`);
    try {
      const created = await gateway.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData: 'owner-z' });
      const captured = { session_id: created.id, status: 'Approved', created_at: 1, timestamp: Math.floor(Date.now() / 1000), vendor_data: 'owner-z' };
      expect(await (await post(gateway, captured)).json()).toEqual({ ok: true });
      await gateway.close();

      gateway = await startInstance(url, `redis://127.0.0.1:${port}`);
      const sub = subscribeSse(gateway.url, await token('owner-z'), STATUS_SUBSCRIPTION, { id: created.id });
      await vi.waitFor(() => expect(gateway.services.events.subscriberCount()).toBe(1));
      expect(await (await post(gateway, captured)).json()).toEqual({ ok: true, duplicate: true });
      // What comes next still goes through, and is the only event the subscriber gets.
      expect(await deliver(gateway, { ...captured, status: 'Kyc Expired', timestamp: captured.timestamp + 1 })).toBe(200);
      const [event] = await sub.next(1);
      expect(event!.data!.sessionStatusChanged.status).toBe('KYC_EXPIRED');
      await sub.close();
      expect(sub.results).toHaveLength(1);
    } finally {
      await gateway.close();
      await sandbox.close();
      redis.kill('SIGKILL');
    }
  });
});
