import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { SignJWT } from 'jose';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const READ = `query($id: ID!) { session(id: $id) { id } }`;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startSandbox(): Promise<{ sandbox: Sandbox; url: string }> {
  const sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  cleanups.push(() => sandbox.close());
  return { sandbox, url };
}

/** One gateway instance in front of the given sandbox; its own Redis key prefix per test run. */
async function startInstance(sandboxUrl: string, env: Record<string, string>) {
  const logs = new CapturedLogs();
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', AUTH_JWT_SECRET: TEST_JWT_SECRET,
    DIDIT_CLIENT_ID: 'sandbox-client', DIDIT_CLIENT_SECRET: 'sandbox-secret', DIDIT_AUTH_URL: sandboxUrl, DIDIT_API_URL: sandboxUrl,
    DECISION_CACHE_TTL_ACTIVE_MS: '0', RESPONSE_CACHE_MAX: '0',
    ...env,
  });
  const gateway = await startGateway(config, { logDestination: logs });
  cleanups.push(() => gateway.close());
  return Object.assign(gateway, { logs });
}

const token = (sub: string, roles: string[] = []) =>
  new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function read(gateway: RunningGateway, caller: string, id: string) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${caller}` },
    body: JSON.stringify({ query: READ, variables: { id } }),
  });
  const body = (await response.json()) as { errors?: Array<{ extensions: { code: string; limit?: string } }> };
  return body.errors?.[0]?.extensions ?? null;
}

async function budgetShared(gateway: RunningGateway): Promise<boolean> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return /^gateway_budget_shared 1$/m.test(text);
}

async function sessions(gateway: RunningGateway, count: number, vendorData = 'someone') {
  const ids = [];
  for (let i = 0; i < count; i++) ids.push((await gateway.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData })).session_id);
  return ids;
}

const decisions = (sandbox: Sandbox) => sandbox.requests.filter((r) => r.endpoint === 'decision').length;

describe('one budget for the fleet (Redis)', () => {
  it('two instances together make no more Didit reads than the limit allows one', async () => {
    const { sandbox, url } = await startSandbox();
    // 20 a minute: 5 at once, then one every 4 s.
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:`, DIDIT_DECISIONS_PER_MINUTE: '20' };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 20);
    sandbox.resetRequests();

    // One read per reviewer: no caller's own share is what stops them.
    const reviewers = await Promise.all(ids.map((_, i) => token(`office-${i}`, ['reviewer'])));
    const outcomes = await Promise.all(ids.map((id, i) => read(i % 2 ? first : second, reviewers[i]!, id)));
    // Each instance alone would have let 5 through; together they let 5 through, not 10.
    expect(decisions(sandbox)).toBe(5);
    expect(outcomes.filter((o) => o === null)).toHaveLength(5);
    expect(outcomes.filter((o) => o?.code === 'RATE_LIMITED' && o.limit === 'didit')).toHaveLength(15);
  });

  it("counts a caller's share across instances", async () => {
    const { sandbox, url } = await startSandbox();
    // 100 a minute, 20 % per caller: 5 at once, whichever instance they go to.
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:` };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 10, 'applicant-fleet');
    sandbox.resetRequests();

    const applicant = await token('applicant-fleet');
    const outcomes = [];
    for (const [i, id] of ids.entries()) outcomes.push(await read(i % 2 ? first : second, applicant, id));
    expect(outcomes.slice(0, 5)).toEqual([null, null, null, null, null]);
    for (const outcome of outcomes.slice(5)) expect(outcome).toMatchObject({ code: 'RATE_LIMITED', limit: 'caller' });
    expect(decisions(sandbox)).toBe(5);
  });
});

/** A Redis of the test's own, on a free port, so that it can be away and come back. */
function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(child);
    });
  });
}

describe('Redis away', () => {
  it('counts limit / DIDIT_INSTANCES on each instance, says so once, and shares again once Redis is back', async () => {
    const { sandbox, url } = await startSandbox();
    const port = await freePort();
    // 20 a minute for a fleet of 2: alone, each instance takes 10 (2 at once).
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, DIDIT_DECISIONS_PER_MINUTE: '20', DIDIT_INSTANCES: '2' };
    const gateway = await startInstance(url, env);
    const unreachable = () => gateway.logs.lines.filter((line) => line.includes('redis unreachable: Didit and caller budgets')).length;
    await vi.waitFor(() => expect(unreachable()).toBe(1));
    const ids = await sessions(gateway, 10);
    sandbox.resetRequests();

    const reviewers = await Promise.all(Array.from({ length: 20 }, (_, i) => token(`office-${i}`, ['reviewer'])));
    const outcomes = await Promise.all(ids.map((id, i) => read(gateway, reviewers[i]!, id)));
    expect(decisions(sandbox)).toBe(2);
    expect(outcomes.filter((o) => o === null)).toHaveLength(2);
    expect(outcomes.filter((o) => o?.code === 'RATE_LIMITED' && o.limit === 'didit')).toHaveLength(8);
    expect(unreachable()).toBe(1);
    expect(await budgetShared(gateway)).toBe(false);

    await startRedis(port);
    await vi.waitFor(async () => expect(await budgetShared(gateway)).toBe(true), { timeout: 10_000 });
    // Shared again: a fresh Redis holds the whole limit (5 at once).
    sandbox.resetRequests();
    const more = await sessions(gateway, 10);
    await Promise.all(more.map((id, i) => read(gateway, reviewers[10 + i]!, id)));
    expect(decisions(sandbox)).toBe(5);
    expect(gateway.logs.lines.filter((line) => line.includes('redis reachable again')).length).toBe(1);
    expect(unreachable()).toBe(1);
  });
});
