import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { createDecisionCache } from '../../src/core/decision-cache.ts';
import { createDiditClient } from '../../src/didit/client.ts';
import { createSharedDecisions, DECISION_FORMAT, MAX_SHARED_VALUE_BYTES, type CachedDecision, type SharedDecisions } from '../../src/core/shared-decisions.ts';
import type { Decision } from '../../src/domain/model.ts';
import { signWebhookBody } from '../../src/didit/webhook-signature.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { TOKEN_ROUTE, json, startFakeUpstream, tokenAnswer } from '../support/fake-upstream.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { testAuditEnv } from '../support/postgres.ts';

/**
 * The decision cache's shared level: several gateway instances on one real Redis, with the
 * sandbox (or a fake Didit on a real port) counting the decision reads that reach "Didit".
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WEBHOOK_SECRET = 'shared-webhook-secret';
// Unique per run: the Redis at 6379 is shared with other tests.
const PREFIX = `test-decision-cache-${randomUUID()}:`;
const KEY = randomBytes(32).toString('base64');
const OTHER_KEY = randomBytes(32).toString('hex');

type Instance = RunningGateway & { logs: CapturedLogs };

async function startInstance(upstreamUrl: string, env: Record<string, string> = {}): Promise<Instance> {
  const logs = new CapturedLogs();
  const config = loadConfig({
    // The audit trail in the run's PostgreSQL database (required with REDIS_URL).
    ...testAuditEnv(),
    PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', AUTH_JWT_SECRET: TEST_JWT_SECRET,
    DIDIT_CLIENT_ID: 'sandbox-client', DIDIT_CLIENT_SECRET: 'sandbox-secret', DIDIT_AUTH_URL: upstreamUrl, DIDIT_API_URL: upstreamUrl,
    DIDIT_DECISIONS_PER_MINUTE: '1000000', DIDIT_WEBHOOK_SECRET: WEBHOOK_SECRET, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
    REDIS_URL, REDIS_KEY_PREFIX: PREFIX, DECISION_CACHE_KEY: KEY,
    // Active sessions stay fresh for the whole test: what is counted is where answers come from, not when they expire.
    DECISION_CACHE_TTL_ACTIVE_MS: '600000',
    ...env,
  });
  const gateway = await startGateway(config, { logDestination: logs, didit: { retryMinDelayMs: 5, retryMaxDelayMs: 20 } });
  await vi.waitFor(() => expect(logs.text).toContain('shared decision cache connected'), { timeout: 5000 });
  return Object.assign(gateway, { logs });
}

const reviewer = () =>
  new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('reviewer').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function graphql(gateway: RunningGateway, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await reviewer()}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: Array<{ extensions?: { code?: string } }> };
}

/** The session's status as the instance answers it, or the error code instead. */
async function read(gateway: RunningGateway, id: string): Promise<string> {
  const result = await graphql(gateway, 'query Read($id: ID!) { session(id: $id) { id status } }', { id });
  if (result.errors?.length) return `error:${result.errors[0]!.extensions?.code}`;
  expect(result.data.session.id).toBe(id);
  return result.data.session.status;
}

async function deliverWebhook(gateway: RunningGateway, sessionId: string, status: string) {
  const raw = JSON.stringify({ session_id: sessionId, status, created_at: 1, timestamp: Math.floor(Date.now() / 1000), vendor_data: null });
  const response = await fetch(`${gateway.url}/webhooks/didit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': signWebhookBody(raw, WEBHOOK_SECRET), 'x-timestamp': String(Math.floor(Date.now() / 1000)) },
    body: raw,
  });
  expect(response.status).toBe(200);
}

/**
 * Delivers a webhook to one instance and waits until it has dropped the session for the fleet
 * and every other instance has forgotten its own copy on hearing the event.
 */
async function changeEverywhere(instances: RunningGateway[], sessionId: string, status: string) {
  const drop = vi.spyOn(instances[0]!.services.decisionCache, 'delete');
  const forgets = instances.slice(1).map((instance) => vi.spyOn(instance.services.decisionCache, 'forget'));
  await deliverWebhook(instances[0]!, sessionId, status);
  await vi.waitFor(() => [drop, ...forgets].forEach((spy) => expect(spy).toHaveBeenCalledWith(sessionId)));
  await Promise.all(drop.mock.results.map((r) => r.value));
  [drop, ...forgets].forEach((spy) => spy.mockRestore());
}

let redis: Redis;
const valueKeys = async (url = REDIS_URL) => {
  const client = url === REDIS_URL ? redis : new Redis(url);
  const keys = await client.keys(`${PREFIX}decision:*`);
  if (client !== redis) client.disconnect();
  return keys.sort();
};
/** The key written by `action` (the test cannot compute names: they are an HMAC under the key). */
async function keyWrittenBy(action: () => Promise<unknown>): Promise<string> {
  const before = new Set(await valueKeys());
  await action();
  const added = (await valueKeys()).filter((key) => !before.has(key));
  expect(added).toHaveLength(1);
  return added[0]!;
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('instances sharing one Redis', () => {
  let sandbox: Sandbox;
  let sandboxUrl: string;
  let first: Instance;
  let second: Instance;
  const decisionReads = () => sandbox.requests.filter((r) => r.endpoint === 'decision').length;
  const newSession = async () => (await first.services.didit.createSession({ callback: 'https://app.example.com/done' })).id;

  // The sandbox sends no webhooks here (none is set): only the test's own deliveries drop sessions.
  beforeAll(async () => {
    sandbox = createSandbox();
    sandboxUrl = (await sandbox.listen(0)).url;
    first = await startInstance(sandboxUrl);
    second = await startInstance(sandboxUrl);
  });
  afterAll(async () => {
    await first.close();
    await second.close();
    await sandbox.close();
  });

  it('the second instance answers a session the first read without asking Didit; Redis holds it sealed under a hashed key', async () => {
    const id = await newSession();
    sandbox.resetRequests();
    const key = await keyWrittenBy(() => read(first, id));
    expect(await read(second, id)).toBe('NOT_STARTED');
    expect(decisionReads()).toBe(1);

    expect(key).not.toContain(id);
    // The stored shape's version is in the name: an instance of another version reads a miss, not a copy it misreads.
    expect(key).toContain(`decision:v${DECISION_FORMAT}:{`);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    const stored = (await redis.getBuffer(key))!;
    for (const plain of [id, 'Not Started', 'sessionId']) expect(stored.includes(plain)).toBe(false);
    expect(first.logs.text + second.logs.text).not.toContain(KEY);
  });

  it("two instances missing the same session at once ask Didit once: the second waits for the first's answer", async () => {
    const id = await newSession();
    sandbox.resetRequests();
    // Didit takes its time, so that both reads are under way together.
    sandbox.injectFault({ kind: 'latency', endpoint: 'decision', latencyMs: 400, times: 2 });
    expect(await Promise.all([read(first, id), read(second, id)])).toEqual(['NOT_STARTED', 'NOT_STARTED']);
    expect(decisionReads()).toBe(1);
  });

  it('a webhook drops the session on every instance and in Redis: the next read asks Didit once for the fleet', async () => {
    const id = await newSession();
    const key = await keyWrittenBy(() => read(first, id));
    await read(second, id);
    sandbox.resetRequests();

    await changeEverywhere([first, second], id, 'In Progress');
    expect(await redis.exists(key)).toBe(0);
    await read(second, id);
    expect(decisionReads()).toBe(1);
    await read(first, id);
    expect(decisionReads()).toBe(1);
  });

  it('one change is one fleet drop: only the instance Didit called publishes it, the others forget their own copy', async () => {
    const id = await newSession();
    await read(first, id);
    await read(second, id);
    const listener = new Redis(REDIS_URL);
    const published: string[] = [];
    listener.on('message', (_channel: string, message: string) => published.push(message));
    await listener.subscribe(`${PREFIX}decision-cache:drops`);
    try {
      await deliverWebhook(first, id, 'In Progress');
      await vi.waitFor(() => expect(published.length).toBeGreaterThan(0));
      // Time for the event to reach the other instance, and for any drop of its own to be published.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(published).toHaveLength(1);
    } finally {
      listener.disconnect();
    }
  });

  it('a review through one instance drops the copies of the others too', async () => {
    const id = await newSession();
    sandbox.complete(id, 'Declined');
    expect(await read(first, id)).toBe('DECLINED');
    expect(await read(second, id)).toBe('DECLINED');
    const result = await graphql(first, 'mutation($id: ID!) { updateSessionStatus(input: { sessionId: $id, status: APPROVED }) { session { status } } }', { id });
    expect(result.data.updateSessionStatus.session.status).toBe('APPROVED');
    await vi.waitFor(async () => expect(await read(second, id)).toBe('APPROVED'));
  });

  it('an instance with another DECISION_CACHE_KEY reads Didit itself: a miss, not an error', async () => {
    const id = await newSession();
    await read(first, id);
    const other = await startInstance(sandboxUrl, { DECISION_CACHE_KEY: OTHER_KEY });
    try {
      sandbox.resetRequests();
      expect(await read(other, id)).toBe('NOT_STARTED');
      expect(decisionReads()).toBe(1);
      expect(other.logs.text).not.toMatch(/"level":(50|60)/);
    } finally {
      await other.close();
    }
  });

  it("a value altered in Redis, or moved under another session's key, is a miss", async () => {
    const [x, y] = [await newSession(), await newSession()];
    sandbox.complete(x, 'Approved');
    const xKey = await keyWrittenBy(() => read(first, x));
    const yKey = await keyWrittenBy(() => read(first, y));
    sandbox.resetRequests();

    // Y's key now holds X's (valid, sealed) value: the second must not answer Y with X's decision.
    await redis.set(yKey, (await redis.getBuffer(xKey))!, 'PX', 600_000);
    expect(await read(second, y)).toBe('NOT_STARTED');
    expect(decisionReads()).toBe(1);

    const stored = (await redis.getBuffer(xKey))!;
    stored.writeUInt8(stored.readUInt8(stored.length - 1) ^ 1, stored.length - 1);
    await redis.set(xKey, stored, 'PX', 600_000);
    expect(await read(second, x)).toBe('APPROVED');
    expect(decisionReads()).toBe(2);
    expect(second.logs.text).not.toMatch(/"level":(50|60)/);
  });

  it('answers a session read before from its last copy while Didit is down, but not one dropped by a webhook', async () => {
    // Nothing stays fresh here: every read asks Didit, and only an outage lets an old copy answer.
    const staleFirst = await startInstance(sandboxUrl, { DECISION_CACHE_TTL_ACTIVE_MS: '0' });
    const staleSecond = await startInstance(sandboxUrl, { DECISION_CACHE_TTL_ACTIVE_MS: '0' });
    try {
      const [kept, changed, unseen] = [await newSession(), await newSession(), await newSession()];
      await read(staleFirst, kept);
      await read(staleFirst, changed);
      await read(staleSecond, changed);
      await changeEverywhere([staleFirst, staleSecond], changed, 'In Progress');

      sandbox.setFaultRates({ errorRate: 1 });
      try {
        expect(await read(staleFirst, kept)).toBe('NOT_STARTED');
        // The second never read it: its answer is the first's copy, from Redis.
        expect(await read(staleSecond, kept)).toBe('NOT_STARTED');
        expect(staleSecond.logs.text).toContain('decision answered from a stale copy');
        expect(await read(staleSecond, changed)).toBe('error:UPSTREAM_UNAVAILABLE');
        expect(await read(staleFirst, changed)).toBe('error:UPSTREAM_UNAVAILABLE');
        expect(await read(staleFirst, unseen)).toBe('error:UPSTREAM_UNAVAILABLE');
        const metrics = await (await fetch(`${staleSecond.url}/metrics`)).text();
        expect(metrics).toMatch(/gateway_decision_cache_lookups_total\{outcome="stale"\} [1-9]/);
      } finally {
        sandbox.clearFaults();
      }
    } finally {
      await staleFirst.close();
      await staleSecond.close();
    }
  });
});

describe("'no such session' across instances", () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/seed-decision.json', import.meta.url), 'utf8'));
  const ID = fixture.session_id as string;
  let created = false;
  let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
  let first: Instance;
  let second: Instance;
  const decisionReads = () => upstream.requests.filter((r) => r.path.endsWith('/decision/')).length;

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      [TOKEN_ROUTE]: (_, res) => tokenAnswer(res),
      [`GET /v1/session/${ID}/decision/`]: (_, res) => (created ? json(res, 200, fixture) : json(res, 404, { detail: 'Not found.' })),
      'POST /v1/session/': (_, res) => {
        created = true;
        json(res, 201, { session_id: ID, session_number: 1, session_token: 't', vendor_data: null, status: 'Not Started', callback: 'https://app.example.com/done', url: 'https://verify.example.com/t', features: 'OCR' });
      },
    });
    first = await startInstance(upstream.url);
    second = await startInstance(upstream.url);
  });
  afterAll(async () => {
    await first.close();
    await second.close();
    await upstream.close();
  });

  it('is kept for every instance, and dropped on all of them when createSession returns the id', async () => {
    expect(await read(first, ID)).toBe('error:NOT_FOUND');
    expect(await read(first, ID)).toBe('error:NOT_FOUND');
    expect(await read(second, ID)).toBe('error:NOT_FOUND');
    expect(decisionReads()).toBe(1);

    const result = await graphql(second, 'mutation { createSession(input: { callback: "https://app.example.com/done" }) { session { id } } }', {});
    expect(result.data.createSession.session.id).toBe(ID);
    await vi.waitFor(async () => expect(await read(first, ID)).toBe(fixture.status.toUpperCase().replace(/ /g, '_')));
    expect(decisionReads()).toBe(2);
    expect(upstream.unexpected).toEqual([]);
  });
});

describe('the shared store', () => {
  const log = pino({ level: 'silent' });
  const stores: SharedDecisions[] = [];
  const open = (key: string) => {
    const store = createSharedDecisions({ redisUrl: REDIS_URL, prefix: PREFIX, key: Buffer.from(key, key.length === 64 ? 'hex' : 'base64'), log });
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });
  const copyOf = (id: string, extra: Record<string, unknown> = {}): CachedDecision => ({
    decision: { sessionId: id, status: 'Approved', ...extra } as unknown as Decision,
    fetchedAt: Date.now(),
    freshUntil: Date.now() + 600_000,
  });
  const ready = (store: SharedDecisions, id: string) => vi.waitFor(async () => expect((await store.read(id)).generation).toBeDefined());

  it('does not store an answer read before the session was dropped (by any instance)', async () => {
    const [a, b] = [open(KEY), open(KEY)];
    const id = randomUUID();
    await ready(a, id);
    const { generation } = await a.read(id);
    await b.drop(id); // a webhook, handled by another instance while a's read of Didit was under way
    await a.write(id, copyOf(id), generation!, 600_000);
    expect((await a.read(id)).copy).toBeUndefined();

    const now = await a.read(id);
    await a.write(id, copyOf(id), now.generation!, 600_000);
    expect((await b.read(id)).copy?.decision?.sessionId).toBe(id);
  });

  it('a drop after the generation key expired still refuses a write of a read begun before it (generations never repeat)', async () => {
    const a = open(KEY);
    const id = randomUUID();
    await ready(a, id);
    await a.drop(id);
    const generationKeys = await redis.keys(`${PREFIX}decision-generation:*`);
    const { generation } = await a.read(id); // a read of Didit begins
    // Its generation key expires (an hour after the drop), then the session is dropped again.
    for (const key of generationKeys) {
      if ((await redis.get(key)) === generation) await redis.del(key);
    }
    await a.drop(id);
    await a.write(id, copyOf(id), generation!, 600_000);
    expect((await a.read(id)).copy).toBeUndefined();
  });

  it("a read dropped while under way does not release its successor's claim", async () => {
    const [a, b] = [open(KEY), open(KEY)];
    const id = randomUUID();
    await ready(a, id);
    await ready(b, id);
    const dropped = await a.claim(id, 10_000);
    expect(dropped).toBeTruthy();
    await a.drop(id); // a change: the read under way is of the old state, the next one need not wait
    const successor = await a.claim(id, 10_000);
    expect(successor).toBeTruthy();
    await a.release(id, dropped!); // the dropped read ends
    expect(await b.claim(id, 10_000)).toBeFalsy(); // the successor still holds it
    await a.release(id, successor!);
    expect(await b.claim(id, 10_000)).toBeTruthy();
  });

  it('tells the other instances about a drop, not itself', async () => {
    const [a, b] = [open(KEY), open(KEY)];
    const heardByA: Array<string | undefined> = [];
    const heardByB: Array<string | undefined> = [];
    a.onDrop((id) => heardByA.push(id));
    b.onDrop((id) => heardByB.push(id));
    const id = randomUUID();
    await ready(a, id);
    await ready(b, id);
    await vi.waitFor(async () => {
      await a.drop(id);
      expect(heardByB).toContain(id);
    });
    expect(heardByA).not.toContain(id);
  });

  it('reads a value sealed with another key as nothing, and keeps every key for a bounded time', async () => {
    const [a, b] = [open(KEY), open(OTHER_KEY)];
    const id = randomUUID();
    await ready(a, id);
    await ready(b, id);
    const aKey = await keyWrittenBy(async () => a.write(id, copyOf(id), (await a.read(id)).generation!, 600_000));
    expect((await b.read(id)).copy).toBeUndefined();
    const bKey = await keyWrittenBy(async () => b.write(id, copyOf(id), (await b.read(id)).generation!, 600_000));
    await redis.set(bKey, (await redis.getBuffer(aKey))!, 'PX', 600_000);
    expect(await b.read(id)).toEqual({ copy: undefined, generation: '0' });

    await a.drop(id);
    // The decision cache's keys (the status-event stream under the same prefix is bounded by length).
    const keys = await redis.keys(`${PREFIX}decision*`);
    for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
    expect(keys.some((key) => key.includes('decision-generation'))).toBe(true);
  });

  it("a caller waiting on a read that someone else's charge refused is not refused with it", async () => {
    const sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    const client = createDiditClient({ clientId: 'sandbox-client', clientSecret: 'sandbox-secret', authUrl: url, apiUrl: url, maxRetries: 0, decisionsPerMinute: 1_000_000 });
    try {
      const store = open(KEY);
      const cache = createDecisionCache(client, { max: 10, ttlActiveMs: 60_000, ttlFinalMs: 60_000, shared: { store, ttlFinalMs: 60_000 } });
      const id = (await client.createSession({ callback: 'https://app.example.com/x' })).id;
      await ready(store, id);
      sandbox.resetRequests();
      const spent = new Error('budget spent');
      const charge = vi.fn();
      // Both wait on one read (behind the shared level's lookup); the first caller's charge refuses it.
      const refused = cache.get(id, { charge: () => { throw spent; } });
      const waiting = cache.get(id, { charge });
      await expect(refused).rejects.toBe(spent);
      expect((await waiting).sessionId).toBe(id);
      expect(charge).toHaveBeenCalledTimes(1);
      expect(sandbox.requests.filter((r) => r.endpoint === 'decision')).toHaveLength(1);
    } finally {
      await client.close();
      await sandbox.close();
    }
  });

  it(`does not store a value over ${MAX_SHARED_VALUE_BYTES} bytes`, async () => {
    const store = open(KEY);
    const id = randomUUID();
    await ready(store, id);
    const { generation } = await store.read(id);
    await store.write(id, copyOf(id, { padding: 'x'.repeat(MAX_SHARED_VALUE_BYTES) }), generation!, 600_000);
    expect((await store.read(id)).copy).toBeUndefined();
    await store.write(id, copyOf(id, { padding: 'x'.repeat(1000) }), generation!, 600_000);
    expect((await store.read(id)).copy).toMatchObject({ decision: { sessionId: id, padding: 'x'.repeat(1000) } });
  });
});

/** A Redis of the test's own, on a free port, writing every change to disk so that it can be killed and restarted with its data. */
function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(child);
    });
  });
}

describe('Redis failing', () => {
  it('reads go to Didit while Redis hangs or is away, logged once per outage; a drop made meanwhile reaches Redis when it is back', async () => {
    const port = await freePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'decision-cache-redis-'));
    let server = await startRedis(port, dir);
    const sandbox = createSandbox();
    const { url } = await sandbox.listen(0);
    const gateway = await startInstance(url, { REDIS_URL: redisUrl });
    const decisionReads = () => sandbox.requests.filter((r) => r.endpoint === 'decision').length;
    const outages = () => gateway.logs.lines.filter((line) => line.includes('shared decision cache unavailable')).length;
    const newSession = async () => (await gateway.services.didit.createSession({ callback: 'https://app.example.com/done' })).id;
    try {
      // Hanging: connected, but no answer (commands time out).
      server.kill('SIGSTOP');
      sandbox.resetRequests();
      expect(await read(gateway, await newSession())).toBe('NOT_STARTED');
      expect(await read(gateway, await newSession())).toBe('NOT_STARTED');
      expect(decisionReads()).toBe(2);
      expect(outages()).toBe(1);
      server.kill('SIGCONT');
      const id = await newSession();
      await vi.waitFor(async () => {
        await read(gateway, id);
        expect(await valueKeys(redisUrl)).toHaveLength(1);
      });
      expect(gateway.logs.text).toContain('shared decision cache available again');

      // Away: the session is dropped (a webhook, a review, an erasure) while Redis cannot hear it.
      server.kill('SIGKILL');
      await vi.waitFor(() => expect(outages()).toBe(2));
      await gateway.services.decisionCache.delete(id);
      sandbox.resetRequests();
      expect(await read(gateway, id)).toBe('NOT_STARTED');
      expect(await read(gateway, await newSession())).toBe('NOT_STARTED');
      expect(decisionReads()).toBe(2);
      expect(outages()).toBe(2);
      // Back, with its data: the copy dropped meanwhile must go, or other instances would read it.
      server = await startRedis(port, dir);
      await vi.waitFor(async () => expect(await valueKeys(redisUrl)).toHaveLength(0), { timeout: 10_000 });
    } finally {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
      await gateway.close();
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
