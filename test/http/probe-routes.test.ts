import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway } from '../../src/gateway.ts';
import { CreateSessionDocument, FullDecisionDocument } from '../../src/generated/graphql.ts';
import { createSandbox } from '../../src/sandbox/server.ts';
import persisted from '../../src/generated/persisted-documents.json' with { type: 'json' };
import { CapturedLogs, startTestGateway, TEST_JWT_SECRET, type TestGateway } from '../support/gateway.ts';
import { testAuditEnv } from '../support/postgres.ts';

describe('readiness and metrics', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw.close());

  it('is ready when a Didit token is obtainable and nothing is draining', async () => {
    const response = await fetch(`${gw.url}/readiness`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ready: true, checks: { draining: false, diditToken: true, redis: true, diditCircuit: 'closed' } });
  });

  it('exposes Prometheus metrics with bounded labels and no personal data', async () => {
    const sub = 'metrics-person-sub';
    const token = await gw.token(sub);
    const { createSession } = await gw.client(token).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/x' } });
    const id = createSession.session.id;
    await gw.run(token, FullDecisionDocument, { id });
    await gw.run(token, FullDecisionDocument, { id }); // the same answer again, from the answer cache
    await gw.post(token, `{ session(id: "${id}") { status } }`); // another one, from the decision cache
    await gw.run(token, FullDecisionDocument, { id: '00000000-0000-4000-8000-000000000000' });
    const response = await fetch(`${gw.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    for (const name of [
      'gateway_graphql_operation_duration_seconds_bucket{le="0.005",operation="FullDecision",type="query"}',
      'gateway_graphql_errors_total{operation="FullDecision",code="NOT_FOUND"} 1',
      'gateway_didit_request_duration_seconds_count{endpoint="decision",status="200"}',
      'gateway_didit_request_duration_seconds_count{endpoint="create",status="201"} 1',
      'gateway_didit_token_refreshes_total 1',
      'gateway_decision_cache_lookups_total{outcome="hit"}',
      'gateway_decision_cache_lookups_total{outcome="miss"}',
      'gateway_response_cache_lookups_total{outcome="hit"} 1',
      'gateway_didit_circuit_open 0',
      'gateway_open_subscriptions 0',
      'gateway_redis_connected 1',
      'gateway_process_resident_memory_bytes',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
    expect(text).not.toContain(sub);
  });

  it('keeps operation-name labels bounded whatever names clients send', async () => {
    const token = await gw.token('label-spammer');
    for (let i = 0; i < 230; i++) await gw.post(token, `query Spam${i} { __typename }`);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toContain('operation="other"');
    expect(text).not.toContain('operation="Spam229"');
  });

  it('gives no label to names of callers without a token, nor to long names', async () => {
    const before = (await (await fetch(`${gw.url}/metrics`)).text()).length;
    const long = (i: number) => `N${i}${'x'.repeat(20_000)}`;
    for (let i = 0; i < 20; i++) await gw.post(undefined, `query ${long(i)} { __typename }`);
    await gw.post(undefined, 'query ShortButAnonymousCaller { __typename }');
    await gw.post(await gw.token('long-names'), `query ${'L'.repeat(65)} { __typename }`);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).not.toContain('xxxxxxxxxx');
    expect(text).not.toContain('ShortButAnonymousCaller');
    expect(text).not.toContain('L'.repeat(65));
    expect(text.length - before).toBeLessThan(10_000);
  });
});

it('gives trusted documents their own label, token or not', async () => {
  const gw = await startTestGateway({ TRUSTED_DOCUMENTS: 'true' });
  try {
    const [hash, document] = Object.entries(persisted as Record<string, string>).find(([, text]) => text.startsWith('query '))!;
    const name = /^query (\w+)/.exec(document)![1]!;
    await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } }, variables: { id: '00000000-0000-4000-8000-000000000000' } }),
    });
    expect(await (await fetch(`${gw.url}/metrics`)).text()).toMatch(new RegExp(`operation="${name}"`));
  } finally {
    await gw.close();
  }
});

it('serves metrics only to the bearer of METRICS_TOKEN when one is set', async () => {
  const gw = await startTestGateway({ METRICS_TOKEN: 'scraper-token-0123456789' });
  try {
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer scraper-token-0123456788' } })).status).toBe(401);
    const allowed = await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer scraper-token-0123456789' } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('gateway_open_subscriptions');
  } finally {
    await gw.close();
  }
});

it('is not ready when Didit refuses the credentials', async () => {
  const sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_JWT_SECRET,
    DIDIT_CLIENT_ID: 'sandbox-client', DIDIT_CLIENT_SECRET: 'wrong', DIDIT_AUTH_URL: url, DIDIT_API_URL: url,
    ...testAuditEnv(),
  });
  const gateway = await startGateway(config, { logDestination: new CapturedLogs() });
  try {
    const response = await fetch(`${gateway.url}/readiness`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ready: false, checks: { diditToken: false } });
  } finally {
    await gateway.close();
    await sandbox.close();
  }
});

describe('npm start', () => {
  it('drains on SIGTERM: in-flight requests finish, then the process exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      // v1: its token fetch is the marker that a request is in flight (sandbox mode speaks v3 by default).
      env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', SANDBOX_PORT: '0', SANDBOX_API_VERSION: 'v1', LOG_LEVEL: 'info', NODE_ENV: 'test', ...testAuditEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => void child.kill('SIGKILL')); // a no-op once it has exited
    const exited = once(child, 'exit');
    let output = '';
    createInterface({ input: child.stdout! }).on('line', (line) => (output += `${line}\n`));
    // The banner is written directly, the log line through pino: either may come first.
    await vi.waitFor(
      () => {
        expect(output).toContain('Reviewer token:');
        expect(output).toMatch(/"listening":"http:\/\/127\.0\.0\.1:\d+"/);
      },
      { timeout: 15_000 },
    );
    const url = /"listening":"([^"]+)"/.exec(output)![1]!;
    expect(output).toContain('SANDBOX MODE');
    expect(output).toMatch(/Didit API:\s+v1\n/);
    const reviewer = /Reviewer token:\s+(\S+)/.exec(output)![1]!;
    const sandboxUrl = /Didit sandbox:\s+(\S+)/.exec(output)![1]!;

    // A slow upstream keeps one request in flight while SIGTERM arrives.
    await fetch(`${sandboxUrl}/sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: { kind: 'latency', latencyMs: 700, endpoint: 'create' } }) });
    const inFlight = fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
      body: JSON.stringify({ query: 'mutation { createSession(input: { callback: "http://localhost:3000/x" }) { session { status } } }' }),
    });
    // Its first call to Didit fetches the gateway's token (nothing has asked for one yet): once
    // that is logged, the request is being executed and the create call is on its way.
    await vi.waitFor(() => expect(output).toContain('didit token refreshed'), { timeout: 10_000 });
    child.kill('SIGTERM');
    const response = await inFlight;
    expect(await response.json()).toEqual({ data: { createSession: { session: { status: 'NOT_STARTED' } } } });
    const [code] = await exited;
    expect(code).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});

it('serves /metrics on METRICS_PORT alone when it is set, and not on the gateway port', async () => {
  const gw = await startTestGateway({ NODE_ENV: 'production', METRICS_PORT: '0' });
  try {
    expect(gw.metricsUrl).toBeDefined();
    expect(gw.metricsUrl).not.toBe(gw.url);
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
    const metrics = await fetch(`${gw.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('gateway_open_subscriptions');
    expect((await fetch(`${gw.metricsUrl}/graphql`)).status).toBe(404);
  } finally {
    await gw.close();
  }
});
