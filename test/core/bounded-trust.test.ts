import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { KYC_BASIC_WORKFLOW_ID, createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { testAuditEnv } from '../support/postgres.ts';
import { startRedis } from '../support/redis.ts';
import { v3 } from '../support/sandbox-v3.ts';
import { subscribeSse } from '../support/subscriptions.ts';

/**
 * Bounded trust (issue 19): no answer rests on a copy Didit has not confirmed within
 * DECISION_MAX_AGE_MS, whatever webhooks did. Didit is the sandbox over v3 on a real port; it sends
 * no webhooks here (none is set), as when deliveries are lost.
 */

const MAX_AGE_MS = 2000;
const READ = 'query ($id: ID!) { session(id: $id) { id status confirmedAt } }';

type Instance = RunningGateway & { logs: CapturedLogs };

async function startInstance(sandboxUrl: string, env: Record<string, string> = {}, reconcileEveryMs?: number): Promise<Instance> {
  const logs = new CapturedLogs();
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_JWT_SECRET, DIDIT_API_KEY: 'sandbox-api-key-0123456789', DIDIT_API_URL: sandboxUrl,
    DIDIT_WORKFLOW_ID: KYC_BASIC_WORKFLOW_ID, DIDIT_DECISIONS_PER_MINUTE: '1000000', CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
    // Without the age bound, copies would stay fresh for the whole test: only Didit's word may end them.
    DECISION_CACHE_TTL_ACTIVE_MS: '600000', DECISION_CACHE_TTL_FINAL_MS: '600000', DECISION_CACHE_SHARED_TTL_MS: '600000',
    DECISION_MAX_AGE_MS: String(MAX_AGE_MS), DIDIT_MAX_RETRIES: '0',
    ...testAuditEnv(),
    ...env,
  });
  const gateway = await startGateway(config, { logDestination: logs, didit: { retryMinDelayMs: 5, retryMaxDelayMs: 20 }, reconcileEveryMs });
  return Object.assign(gateway, { logs });
}

const token = (sub: string, roles: string[] = []) =>
  new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function post(gateway: RunningGateway, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token('office', ['reviewer'])}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

/** The session as the instance answers it: its status (or error code) and how old Didit's confirmation is. */
async function read(gateway: RunningGateway, id: string): Promise<{ status: string; ageMs?: number }> {
  const answer = await post(gateway, READ, { id });
  if (answer.errors?.length) return { status: `error:${answer.errors[0]!.extensions?.code}` };
  return { status: answer.data.session.status, ageMs: Date.now() - Date.parse(answer.data.session.confirmedAt) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('one instance', () => {
  let sandbox: Sandbox;
  let url: string;
  let gateway: Instance;
  const decisionReads = () => sandbox.requests.filter((r) => r.endpoint === 'decision').length;
  // Distinct vendor data: Didit v3 answers a second create with the same vendor data with the session it already has.
  const newSession = async () => (await gateway.services.didit.createSession({ vendorData: randomUUID(), callback: 'https://app.example.com/done' })).id;

  beforeAll(async () => {
    sandbox = createSandbox();
    url = (await sandbox.listen(0)).url;
    // Reconciliation rounds only when the test asks: revalidation by single reads shows alone.
    gateway = await startInstance(url, {}, 0);
  });
  afterAll(async () => {
    await gateway?.close();
    await sandbox?.close();
  });

  it('a change at Didit whose webhook never comes is answered within DECISION_MAX_AGE_MS, and every answer says when Didit confirmed it', async () => {
    const id = await newSession();
    expect((await read(gateway, id)).status).toBe('NOT_STARTED');
    const watching = subscribeSse(gateway.url, await token('office', ['reviewer']), 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id });
    await watching.opened;
    sandbox.complete(id, 'Approved'); // no webhook is sent
    const changedAt = Date.now();
    let answered: { status: string; ageMs?: number };
    do {
      answered = await read(gateway, id);
      expect(answered.ageMs!).toBeLessThanOrEqual(MAX_AGE_MS);
      await sleep(100);
    } while (answered.status !== 'APPROVED' && Date.now() - changedAt < 3 * MAX_AGE_MS);
    expect(answered.status).toBe('APPROVED');
    expect(Date.now() - changedAt).toBeLessThanOrEqual(MAX_AGE_MS + 1000);
    // Subscribers hear it too, as they would have from the webhook.
    const [event] = await watching.next(1);
    expect(event!.data!.sessionStatusChanged.status).toBe('APPROVED');
    await watching.close();
  });

  it('past half the bound an answer comes from the copy at once and Didit is read behind it, on no caller\'s account', async () => {
    const id = await newSession();
    await read(gateway, id);
    await sleep(MAX_AGE_MS / 2 + 100);
    const before = decisionReads();
    const aging = await read(gateway, id);
    expect(aging.status).toBe('NOT_STARTED');
    expect(aging.ageMs!).toBeGreaterThanOrEqual(MAX_AGE_MS / 2);
    await vi.waitFor(() => expect(decisionReads()).toBe(before + 1));
    await vi.waitFor(async () => expect((await read(gateway, id)).ageMs!).toBeLessThan(MAX_AGE_MS / 2));
    expect(decisionReads()).toBe(before + 1);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_didit_background_reads_total\{endpoint="decision"\} [1-9]/);
  });

  it('v3: one page of Didit\'s session list confirms many copies; a changed one is dropped, a deleted one erased (subscribers hear DELETED)', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => newSession()));
    for (const id of ids) expect((await read(gateway, id)).status).toBe('NOT_STARTED');
    const [changed, deleted] = ids;
    const watching = subscribeSse(gateway.url, await token('office', ['reviewer']), 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id: deleted });
    const watchingChanged = subscribeSse(gateway.url, await token('office', ['reviewer']), 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id: changed });
    await Promise.all([watching.opened, watchingChanged.opened]);
    sandbox.complete(changed!, 'Declined');
    expect((await v3(url, 'DELETE', `/v3/session/${deleted}/delete/`)).status).toBe(204);
    await sleep(MAX_AGE_MS / 2 + 100);

    sandbox.resetRequests();
    const round = await gateway.services.decisionCache.reconcile();
    // Earlier tests' sessions are due too: all but the changed and the deleted one are confirmed.
    expect(round.due).toBeGreaterThanOrEqual(6);
    expect(round).toMatchObject({ confirmed: round.due - 2, dropped: 1 });
    expect(round.listCalls).toBe(1);
    // The list call was background work on Didit's GET budget, as the lone read below is on decisions.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_budget_calls_total\{level="background",endpoint="get",outcome="(served|waited)"\} [1-9]/);
    // Only the one missing from Didit's whole list is read alone; its 404 erases it.
    await vi.waitFor(() => expect(decisionReads()).toBe(1));
    const [event] = await watching.next(1);
    expect(event!.data!.sessionStatusChanged.status).toBe('DELETED');
    // The changed one is announced from the list's word, webhook or not.
    const [change] = await watchingChanged.next(1);
    expect(change!.data!.sessionStatusChanged.status).toBe('DECLINED');
    await watchingChanged.close();
    expect((await read(gateway, deleted!)).status).toBe('error:NOT_FOUND');
    expect((await read(gateway, changed!)).status).toBe('DECLINED');
    // The confirmed ones answer from their copy, confirmed afresh.
    for (const id of ids.slice(2)) expect((await read(gateway, id)).ageMs!).toBeLessThan(MAX_AGE_MS / 2);
    // The 404, then the two reads above of the erased and the changed session: none for the confirmed.
    expect(decisionReads()).toBe(3);
  });

  it("v3: the list renews a copy for at most four bounds after its full read (it confirms status and name, not every field)", async () => {
    const id = await newSession();
    await read(gateway, id);
    const readAt = Date.now();
    const before = decisionReads();
    const renewals: number[] = [];
    while (Date.now() - readAt < 4 * MAX_AGE_MS + 500) {
      await sleep(MAX_AGE_MS / 4);
      const expires = gateway.services.decisionCache.remainingTtl(id);
      await gateway.services.decisionCache.reconcile();
      if (gateway.services.decisionCache.remainingTtl(id) > expires) renewals.push(Date.now() - readAt);
    }
    expect(renewals.length).toBeGreaterThan(0);
    expect(Math.max(...renewals)).toBeLessThan(4 * MAX_AGE_MS);
    // Past that, the copy is not fresh any more: the next read is a whole read from Didit.
    expect(decisionReads()).toBe(before);
    await read(gateway, id);
    expect(decisionReads()).toBe(before + 1);
  }, 20_000);
});

describe("revalidation on the budget's lowest level, while callers saturate Didit", () => {
  let sandbox: Sandbox;
  let redis: ChildProcess;
  let alone: Instance;
  let fleet: Instance[];
  // 120 a minute: a turn every 500 ms once Didit's burst is spent.
  beforeAll(async () => {
    sandbox = createSandbox();
    const url = (await sandbox.listen(0)).url;
    alone = await startInstance(url, { DIDIT_DECISIONS_PER_MINUTE: '120' }, 0);
    const redisPort = await freePort();
    redis = await startRedis(redisPort);
    const shared = { DIDIT_DECISIONS_PER_MINUTE: '120', REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: `test-background-${randomUUID()}:`, DECISION_CACHE_KEY: randomBytes(32).toString('base64') };
    fleet = [await startInstance(url, shared, 0), await startInstance(url, shared, 0)];
    for (const instance of fleet) await vi.waitFor(() => expect(instance.logs.text).toContain('shared decision cache connected'), { timeout: 5000 });
  });
  afterAll(async () => {
    for (const instance of [alone, ...(fleet ?? [])]) await instance?.close(100);
    redis?.kill('SIGKILL');
    await sandbox?.close();
  });

  /** Another reviewer reads random ids (each a Didit read) without pause: reviewers always wait for Didit. */
  async function flood(instance: Instance) {
    const flooder = await token('flooder', ['reviewer']);
    let flooding = true;
    const done = (async () => {
      while (flooding) {
        await fetch(`${instance.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${flooder}` },
          body: JSON.stringify({ query: 'query ($ids: [ID!]!) { sessions(ids: $ids) { id } }', variables: { ids: Array.from({ length: 10 }, () => randomUUID()) } }),
        });
      }
    })();
    return () => ((flooding = false), done);
  }
  const newSession = async (instance: Instance) => (await instance.services.didit.createSession({ vendorData: randomUUID(), callback: 'https://app.example.com/done' })).id;
  const readsOf = (id: string) => sandbox.requests.filter((r) => r.endpoint === 'decision' && r.path.includes(id)).length;

  it("waits while a caller floods, never delays a caller's read of the same session, and goes once Didit is idle", async () => {
    const [revalidating, reading] = [alone, alone];
    const id = await newSession(alone);

    expect((await read(revalidating, id)).status).toBe('NOT_STARTED');
    const readAt = Date.now();

    const stop = await flood(revalidating);
    try {
      // Past half the bound: answered from the copy, revalidation asked for behind it.
      await sleep(readAt + MAX_AGE_MS / 2 + 100 - Date.now());
      expect((await read(revalidating, id)).status).toBe('NOT_STARTED');
      // Past the bound: the revalidation still waits (it took no turn from the flooding caller)...
      await sleep(readAt + MAX_AGE_MS + 300 - Date.now());
      expect(readsOf(id)).toBe(1);
      // ...and the caller who reads the session now is not held behind it: its own turn, at once.
      const started = Date.now();
      const answer = await read(reading, id);
      expect(answer.status).toBe('NOT_STARTED');
      expect(answer.ageMs!).toBeLessThan(MAX_AGE_MS / 2);
      // Generous: a reviewer's turn while another floods comes within a few of Didit's intervals.
      expect(Date.now() - started).toBeLessThan(3000);
      expect(readsOf(id)).toBe(2);
    } finally {
      await stop();
    }

    // Didit idle: revalidation goes again, within the bound.
    await sleep(MAX_AGE_MS / 2 + 100);
    expect((await read(revalidating, id)).status).toBe('NOT_STARTED');
    await vi.waitFor(() => expect(readsOf(id)).toBe(3), { timeout: MAX_AGE_MS });
    const metrics = await (await fetch(`${revalidating.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_budget_calls_total\{level="background",endpoint="decision",outcome="(served|waited)"\} [1-9]/);
  });

  it('two instances sharing copies: a revalidation waiting for its turn holds no fleet read claim', async () => {
    const [first, second] = fleet;
    const id = await newSession(first!);
    expect((await read(first!, id)).status).toBe('NOT_STARTED');
    const readAt = Date.now();
    const stop = await flood(first!);
    try {
      await sleep(readAt + MAX_AGE_MS / 2 + 100 - Date.now());
      expect((await read(first!, id)).status).toBe('NOT_STARTED'); // revalidation asked for, waiting
      // The session changes (a drop for the fleet): the second instance must read Didit now.
      await second!.services.decisionCache.delete(id);
      const started = Date.now();
      const answer = await read(second!, id);
      expect(answer.status).toBe('NOT_STARTED');
      // Had the waiting revalidation claimed the session, this read would wait out the claim (3 s).
      expect(Date.now() - started).toBeLessThan(2000);
      expect(readsOf(id)).toBe(2);
    } finally {
      await stop();
    }
  });
});

describe('two instances on one Redis, Redis away', () => {
  let sandbox: Sandbox;
  let url: string;
  let redisPort: number;
  let redis: ChildProcess;
  let first: Instance;
  let second: Instance;
  /** On the same Redis without the shared level: it hears changes through status events alone. */
  let third: Instance;
  const env = () => ({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: `test-bounded-${randomUUID()}:`, DECISION_CACHE_KEY: randomBytes(32).toString('base64'), DECISION_MAX_AGE_MS: '600000' });

  beforeAll(async () => {
    sandbox = createSandbox();
    url = (await sandbox.listen(0)).url;
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const shared = env();
    first = await startInstance(url, shared);
    second = await startInstance(url, shared);
    third = await startInstance(url, { ...shared, DECISION_CACHE_KEY: '' });
    for (const instance of [first, second]) {
      await vi.waitFor(() => expect(instance.logs.text).toContain('shared decision cache connected'), { timeout: 5000 });
      await vi.waitFor(() => expect(instance.services.events.connected()).toBe(true), { timeout: 5000 });
    }
  });
  afterAll(async () => {
    redis?.kill('SIGCONT');
    redis?.kill('SIGKILL');
    await first?.close(100);
    await second?.close(100);
    await third?.close(100);
    await sandbox?.close();
  });

  const finished = async () => {
    const id = (await first.services.didit.createSession({ vendorData: randomUUID(), callback: 'https://app.example.com/done' })).id;
    sandbox.complete(id, 'Approved');
    for (const instance of [first, second, third]) expect((await read(instance, id)).status).toBe('APPROVED');
    return id;
  };
  const erase = async (id: string) => {
    const started = Date.now();
    const answer = await post(first, 'mutation ($id: ID!) { deleteSession(sessionId: $id) { deleted } }', { id });
    return { answer, ms: Date.now() - started };
  };

  it('Redis stopped: deleteSession reports Didit\'s outcome at once; the other instance never serves its copy, stale-if-error included; the drop finishes when Redis is back', async () => {
    const id = await finished();
    const other = await finished();
    redis.kill('SIGKILL');
    // Both have noticed (the one without the shared level looks at its connection every 250 ms).
    await vi.waitFor(() => expect(second.services.events.connected() || third.services.events.connected()).toBe(false));
    await sleep(300);

    const { answer, ms } = await erase(id);
    expect(answer.errors).toBeUndefined();
    expect(answer.data.deleteSession.deleted).toBe(true);
    expect(ms).toBeLessThan(3000);
    // The other instance may have missed the drop: it asks Didit, which has no such session.
    expect((await read(second, id)).status).toBe('error:NOT_FOUND');
    expect((await read(third, id)).status).toBe('error:NOT_FOUND');
    // Nor does it answer an old copy while Didit is down: it may be one that was dropped.
    sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 50 });
    expect((await read(second, other)).status).toBe('error:UPSTREAM_UNAVAILABLE');
    sandbox.clearFaults();

    redis = await startRedis(redisPort);
    const watching = subscribeSse(second.url, await token('office', ['reviewer']), 'subscription { reviewQueue(statuses: [DELETED]) { sessionId status } }', {});
    await watching.opened;
    await vi.waitFor(() => expect(second.services.events.connected()).toBe(true), { timeout: 10_000 });
    // The erasure's last event reaches the fleet once Redis is back.
    const [event] = await watching.next(1);
    expect(event!.data!.reviewQueue).toEqual({ sessionId: id, status: 'DELETED' });
  }, 30_000);

  it('Redis paused: deleteSession answers within a bounded time, and the other instance stops trusting its copies', async () => {
    await vi.waitFor(() => expect([first, second, third].every((instance) => instance.services.events.connected())).toBe(true), { timeout: 10_000 });
    const id = await finished();
    redis.kill('SIGSTOP');
    try {
      const { answer, ms } = await erase(id);
      expect(answer.errors).toBeUndefined();
      expect(answer.data.deleteSession.deleted).toBe(true);
      expect(ms).toBeLessThan(4000);
      await vi.waitFor(async () => expect((await read(second, id)).status).toBe('error:NOT_FOUND'), { timeout: 5000 });
    } finally {
      redis.kill('SIGCONT');
    }
  }, 30_000);
});
