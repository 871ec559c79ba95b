import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { createFleetBuckets } from '../../src/core/fleet-buckets.ts';
import { WINDOW_MS, windowWait } from '../../src/didit/rate-buckets.ts';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { SignJWT } from 'jose';
import { testAuditEnv } from '../support/postgres.ts';

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
    // The audit trail in the run's PostgreSQL database (required with REDIS_URL).
    ...testAuditEnv(),
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
  for (let i = 0; i < count; i++) ids.push((await gateway.services.didit.createSession({ callback: 'https://app.example.com/done', vendorData })).id);
  return ids;
}

const decisions = (sandbox: Sandbox) => sandbox.requests.filter((r) => r.endpoint === 'decision').length;

describe('one budget for the fleet (Redis)', () => {
  it('two instances together make no more Didit reads than the limit allows one', async () => {
    const { sandbox, url } = await startSandbox();
    // 20 a minute: 6 at once (the sixth a millisecond later), then one every 4 s, later than a call may wait (1 s).
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:`, DIDIT_DECISIONS_PER_MINUTE: '20', DIDIT_QUEUE_WAIT_MS: '1000' };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 20);
    sandbox.resetRequests();

    const reviewers = await Promise.all(ids.map((_, i) => token(`office-${i}`, ['reviewer'])));
    const outcomes = await Promise.all(ids.map((id, i) => read(i % 2 ? first : second, reviewers[i]!, id)));
    // Each instance alone would have let 6 through; together they let 6 through, not 12.
    expect(decisions(sandbox)).toBe(6);
    expect(outcomes.filter((o) => o === null)).toHaveLength(6);
    expect(outcomes.filter((o) => o?.code === 'RATE_LIMITED' && o.limit === 'didit')).toHaveLength(14);
  });

  it("serves a lone reviewer's 30 uncached reads at once across two instances", async () => {
    const { sandbox, url } = await startSandbox();
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:` };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 30);
    sandbox.resetRequests();
    const reviewer = await token('office', ['reviewer']);
    const outcomes = await Promise.all(ids.map((id, i) => read(i % 2 ? first : second, reviewer, id)));
    expect(outcomes).toEqual(ids.map(() => null));
    // Didit's 100 a minute: 26 at once, the other 4 in their turns.
    expect(decisions(sandbox)).toBe(30);
  });

  it("a lone applicant reads their 10 sessions in a row, whichever instance they reach", async () => {
    const { sandbox, url } = await startSandbox();
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:` };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 10, 'applicant-fleet');
    sandbox.resetRequests();
    const applicant = await token('applicant-fleet');
    const outcomes = [];
    for (const [i, id] of ids.entries()) outcomes.push(await read(i % 2 ? first : second, applicant, id));
    expect(outcomes).toEqual(ids.map(() => null));
    expect(decisions(sandbox)).toBe(10);
  });

  it('shares turns across instances: ten applicant accounts flooding both leave other callers served and reviewers their half', { timeout: 40_000 }, async () => {
    const { url } = await startSandbox();
    // 600 a minute (a turn every 133 ms), for a short test.
    const env = { REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:`, DIDIT_DECISIONS_PER_MINUTE: '600' };
    const instances = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(instances[0]!)) && (await budgetShared(instances[1]!))).toBe(true));
    const honest = await sessions(instances[0]!, 4, 'honest');
    const attackers = await Promise.all(Array.from({ length: 10 }, (_, i) => token(`attacker-${i}`)));
    const [applicant, reviewer] = await Promise.all([token('honest'), token('office', ['reviewer'])]);
    let done = false;
    // Each flooder keeps ten reads waiting (one `sessions(ids:)` of random ids after another; the
    // reviewer two of them, one on each instance, so that it always has some waiting); Didit answers NOT_FOUND.
    const flooders = [...attackers, reviewer, reviewer];
    const reads = flooders.map(() => 0);
    const floods = flooders.map(async (caller, i) => {
      while (!done) {
        const response = await fetch(`${instances[i % 2]!.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${caller}` },
          body: JSON.stringify({ query: 'query($ids: [ID!]!) { sessions(ids: $ids) { id } }', variables: { ids: Array.from({ length: 10 }, () => randomUUID()) } }),
        });
        const body = (await response.json()) as { errors?: Array<{ extensions: { code: string } }> };
        reads[i]! += (body.errors ?? []).filter((e) => e.extensions.code === 'NOT_FOUND').length;
      }
    });
    // Didit's burst (150) goes to whoever asks first, all flows alike; then the levels' guarantees hold.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = [...reads];

    const waits: number[] = [];
    for (const [i, id] of honest.entries()) {
      const started = Date.now();
      expect(await read(instances[i % 2]!, applicant, id)).toBeNull();
      waits.push(Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    done = true;
    await Promise.all(floods);
    expect(Math.max(...waits)).toBeLessThan(5000);
    // The reviewer had its level's half, however many applicant accounts.
    const since = reads.map((n, i) => n - before[i]!);
    // Half, less what turns are lost to polling across two instances on a shared CPU (44 % measured
    // alone, 37 % beside other test files). An equal split among the twelve flows would give the
    // reviewer's two a sixth (17 %): 30 % tells the level's guarantee from that, on any load.
    expect((since.at(-1)! + since.at(-2)!) / since.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.3);
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

describe('one read of a session for the fleet, turns or not', () => {
  it('an instance that waited for its turn past another one\'s claim takes that one\'s answer rather than ask Didit again', { timeout: 40_000 }, async () => {
    const { sandbox, url } = await startSandbox();
    // 20 a minute: 6 at once, then one every 4 s (past the 3 s a read claim is waited for); a call may wait 9 s.
    const env = {
      REDIS_URL, REDIS_KEY_PREFIX: `test-${randomUUID()}:`, DIDIT_DECISIONS_PER_MINUTE: '20', DIDIT_QUEUE_WAIT_MS: '9000',
      DECISION_CACHE_KEY: 'ab'.repeat(32), DECISION_CACHE_TTL_ACTIVE_MS: '60000',
    };
    const [first, second] = [await startInstance(url, env), await startInstance(url, env)];
    await vi.waitFor(async () => expect((await budgetShared(first)) && (await budgetShared(second))).toBe(true));
    const ids = await sessions(first, 7);
    const [office, other] = [await token('office', ['reviewer']), await token('other-office', ['reviewer'])];
    for (const id of ids.slice(0, 6)) expect(await read(first, office, id)).toBeNull();
    sandbox.resetRequests();
    const id = ids[6]!;
    const both = [read(first, office, id), new Promise((resolve) => setTimeout(resolve, 200)).then(() => read(second, other, id))];
    expect(await Promise.all(both)).toEqual([null, null]);
    expect(decisions(sandbox)).toBe(1);
  });
});

describe("Didit's limits counted in Redis", () => {
  it('wait as long as the same log counted in memory says, reading only the calls that can hold a call back', async () => {
    const keyPrefix = `test:${randomUUID()}:`;
    // Slow commands on a loaded machine must not make it count alone: the script is what is tested.
    const buckets = createFleetBuckets({ redisUrl: REDIS_URL, keyPrefix, instances: 1, log: pino({ level: 'silent' }), commandTimeoutMs: 30_000 });
    const redis = new Redis(REDIS_URL);
    cleanups.push(() => buckets.close(), () => redis.quit());
    await vi.waitFor(() => expect(buckets.shared()).toBe(true), { timeout: 5000 });
    const redisNow = async () => {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    const limits = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.double({ min: 10, max: 200, noNaN: true }), fc.integer({ min: 1_000, max: 10_000_000 }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: WINDOW_MS + 2_000 }), { maxLength: 300 }), limits, async (offsets, limit) => {
        const bucket = { key: `didit:${randomUUID()}`, limit, shape: 'strict' as const };
        // Calls of the last window (5 s clear of its edge, so that none leaves it while the script
        // runs), some let through for a little later than now.
        const start = await redisNow();
        const times = offsets.sort((a, b) => a - b).map((offset) => start - WINDOW_MS + 5_000 + offset);
        if (times.length > 0) await redis.rpush(keyPrefix + bucket.key, ...times);
        const before = await redisNow();
        // A turn that cannot wait at all: refused with the wait, nothing taken.
        const turn = await buckets.take([bucket], -1e15);
        const after = await redisNow();
        expect(turn.ok).toBe(false);
        // The script read Redis's clock between the two readings of it here.
        const wait = turn.ok ? 0 : turn.retryAfterMs;
        expect(wait).toBeLessThanOrEqual(windowWait(times, limit, before));
        expect(wait).toBeGreaterThanOrEqual(windowWait(times, limit, after));
        expect(await redis.llen(keyPrefix + bucket.key)).toBe(times.length);
        await redis.del(keyPrefix + bucket.key);
      }),
      { numRuns: 150, endOnFailure: true },
    );
  });
});

describe('Redis away', () => {
  it('counts limit / DIDIT_INSTANCES on each instance, says so once, and shares again once Redis is back', async () => {
    const { sandbox, url } = await startSandbox();
    const port = await freePort();
    // 20 a minute for a fleet of 2: alone, each instance takes 10 (3 at once, then one every 8 s); a call waits 1 s at most.
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, DIDIT_DECISIONS_PER_MINUTE: '20', DIDIT_INSTANCES: '2', DIDIT_QUEUE_WAIT_MS: '1000' };
    const gateway = await startInstance(url, env);
    const unreachable = () => gateway.logs.lines.filter((line) => line.includes('redis unreachable: Didit and caller budgets')).length;
    await vi.waitFor(() => expect(unreachable()).toBe(1));
    const ids = await sessions(gateway, 10);
    sandbox.resetRequests();

    const reviewers = await Promise.all(Array.from({ length: 20 }, (_, i) => token(`office-${i}`, ['reviewer'])));
    const outcomes = await Promise.all(ids.map((id, i) => read(gateway, reviewers[i]!, id)));
    expect(decisions(sandbox)).toBe(3);
    expect(outcomes.filter((o) => o === null)).toHaveLength(3);
    expect(outcomes.filter((o) => o?.code === 'RATE_LIMITED' && o.limit === 'didit')).toHaveLength(7);
    expect(unreachable()).toBe(1);
    expect(await budgetShared(gateway)).toBe(false);

    await startRedis(port);
    await vi.waitFor(async () => expect(await budgetShared(gateway)).toBe(true), { timeout: 10_000 });
    // Shared again. A Redis back empty knows nothing of the calls made meanwhile: the instance adds
    // them, to Didit's pace and to the scheduler's own count alike, so the fleet does not start
    // afresh (a fresh Redis alone would let 6 more through at once).
    const redis = new Redis(`redis://127.0.0.1:${port}`);
    try {
      await vi.waitFor(async () => {
        expect(await redis.llen('didit-gateway:didit:decision')).toBe(3);
        expect(await redis.llen('didit-gateway:budget:decision:all')).toBe(3);
      });
    } finally {
      redis.disconnect();
    }
    sandbox.resetRequests();
    const more = await sessions(gateway, 10);
    await Promise.all(more.map((id, i) => read(gateway, reviewers[10 + i]!, id)));
    expect(decisions(sandbox)).toBeLessThan(6);
    expect(decisions(sandbox)).toBeGreaterThan(0);
    expect(gateway.logs.lines.filter((line) => line.includes('redis reachable again')).length).toBe(1);
    expect(unreachable()).toBe(1);
  });
});
