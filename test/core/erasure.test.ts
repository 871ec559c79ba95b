import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { KYC_BASIC_WORKFLOW_ID, createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { subscribeSse } from '../support/subscriptions.ts';
import { SignJWT } from 'jose';
import { testAuditEnv } from '../support/postgres.ts';

/** Erasure across a fleet: two instances on one Redis, Didit v3 (the sandbox), a shared decision cache. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `test-erasure-${randomUUID()}:`;
const KEY = randomBytes(32).toString('base64');

let sandbox: Sandbox;
let first: RunningGateway;
let second: RunningGateway;

async function startInstance(sandboxUrl: string) {
  const logs = new CapturedLogs();
  const config = loadConfig({
    // The audit trail in the run's PostgreSQL database (required with REDIS_URL).
    ...testAuditEnv(),
    PORT: '0', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_JWT_SECRET, DIDIT_API_KEY: 'sandbox-api-key-0123456789', DIDIT_API_URL: sandboxUrl,
    DIDIT_WORKFLOW_ID: KYC_BASIC_WORKFLOW_ID, DIDIT_DECISIONS_PER_MINUTE: '1000000', REDIS_URL, REDIS_KEY_PREFIX: PREFIX, DECISION_CACHE_KEY: KEY,
    // Copies would stay fresh for the whole test: only an erasure can make them go.
    DECISION_CACHE_TTL_ACTIVE_MS: '600000', CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
  });
  const gateway = await startGateway(config, { logDestination: logs });
  await vi.waitFor(() => expect(logs.text).toContain('shared decision cache connected'), { timeout: 5000 });
  await vi.waitFor(() => expect(gateway.services.events.connected()).toBe(true), { timeout: 5000 });
  return gateway;
}

const token = (sub: string, roles: string[] = []) =>
  new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function post(gateway: RunningGateway, query: string, variables: Record<string, unknown>, sub = 'office', roles = ['reviewer']) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(sub, roles)}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: Array<{ extensions?: { code?: string } }> };
}

beforeAll(async () => {
  sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  first = await startInstance(url);
  second = await startInstance(url);
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  await sandbox?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

it('no instance answers from a copy after a delete, and subscribers on every instance hear DELETED', async () => {
  const created = await first.services.didit.createSession({ vendorData: 'owner', callback: 'https://app.example.com/done' });
  const id = created.id;
  const READ = 'query ($id: ID!) { session(id: $id) { id status } }';
  // Both instances hold the session: in process, and in the shared level.
  expect((await post(first, READ, { id })).data.session.status).toBe('NOT_STARTED');
  expect((await post(second, READ, { id })).data.session.status).toBe('NOT_STARTED');
  const readsBefore = sandbox.requests.filter((r) => r.endpoint === 'decision').length;
  expect((await post(second, READ, { id })).data.session.status).toBe('NOT_STARTED');
  expect(sandbox.requests.filter((r) => r.endpoint === 'decision').length).toBe(readsBefore);

  const owner = await token('owner');
  const watching = subscribeSse(second.url, owner, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id });
  await watching.opened;
  const deleted = await post(first, 'mutation ($id: ID!) { deleteSession(sessionId: $id) { deleted } }', { id });
  expect(deleted.data.deleteSession.deleted).toBe(true);
  const [event] = await watching.next(1);
  expect(event!.data!.sessionStatusChanged.status).toBe('DELETED');
  await vi.waitFor(() => expect(watching.ended()).toBe(true));

  for (const instance of [first, second]) {
    const answer = await post(instance, READ, { id });
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(answer.data.session).toBeNull();
  }
});
