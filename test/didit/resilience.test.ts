import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import type { DiditV1Client as DiditClient, DiditV1Options as DiditClientOptions } from '../../src/didit/v1.ts';
import { DiditNotFoundError, DiditRateLimitedError, DiditUnavailableError } from '../../src/didit/errors.ts';
import { createResilience, type BreakerState } from '../../src/didit/resilience.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { TOKEN_ROUTE, json, startFakeUpstream, tokenAnswer } from '../support/fake-upstream.ts';

const MISSING = '00000000-0000-4000-8000-000000000000';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function setup(overrides: Partial<DiditClientOptions> = {}) {
  const sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  const states: BreakerState[] = [];
  const client = createDiditClient({
    clientId: 'sandbox-client',
    clientSecret: 'sandbox-secret',
    authUrl: url,
    apiUrl: url,
    maxRetries: 0,
    decisionsPerMinute: 1_000_000,
    onBreakerChange: (state) => states.push(state),
    ...overrides,
  });
  cleanups.push(async () => {
    await client.close();
    await sandbox.close();
  });
  const { id: session_id } = await client.createSession({ callback: 'https://app.example.com/done' });
  sandbox.resetRequests();
  return { sandbox, client, states, id: session_id };
}

const decisions = (sandbox: Sandbox) => sandbox.requests.filter((r) => r.endpoint === 'decision').length;

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast without calling Didit, probes half-open and closes', async () => {
    const { sandbox, client, states, id } = await setup({ breakerThreshold: 3, breakerHalfOpenAfterMs: 200 });
    sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 3 });
    for (let i = 0; i < 3; i++) await expect(client.getDecision(id)).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(client.breakerState()).toBe('open');
    expect(states).toEqual(['open']);

    sandbox.resetRequests();
    await expect(client.getDecision(id)).rejects.toThrow(/circuit open/);
    expect(decisions(sandbox)).toBe(0);

    // After the break, one probe goes through; its success closes the circuit.
    await vi.waitFor(async () => expect((await client.getDecision(id)).sessionId).toBe(id), { timeout: 5000, interval: 100 });
    expect(client.breakerState()).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('never opens on 4xx answers', async () => {
    const { client, states } = await setup({ breakerThreshold: 2 });
    for (let i = 0; i < 5; i++) await expect(client.getDecision(MISSING)).rejects.toBeInstanceOf(DiditNotFoundError);
    expect(client.breakerState()).toBe('closed');
    expect(states).toEqual([]);
  });
});

describe('pacing under Didit limits', () => {
  it('lets a burst through, then answers RATE_LIMITED with retryAfter without calling Didit', async () => {
    // 8 a minute: a burst of 3 (the third a millisecond later), then one every 10 s (61 s / 6).
    const { sandbox, client, id } = await setup({ decisionsPerMinute: 8 });
    for (let i = 0; i < 3; i++) await client.getDecision(id);
    const error = await client.getDecision(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiditRateLimitedError);
    expect((error as DiditRateLimitedError).retryAfter).toBeGreaterThanOrEqual(9);
    expect((error as DiditRateLimitedError).retryAfter).toBeLessThanOrEqual(11);
    expect(decisions(sandbox)).toBe(3);
  });

  it('queues a call briefly when its turn is near', async () => {
    // 60 a minute: a burst of 16, then one every 1.33 s, which is within the 2 s a call may wait.
    const { sandbox, client, id } = await setup({ decisionsPerMinute: 60 });
    // The 17th waits 1.33 s for its turn; the 18th would wait 2.67 s and is refused at once.
    const outcomes = await Promise.allSettled(Array.from({ length: 18 }, () => client.getDecision(id)));
    expect(outcomes.slice(0, 17).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(outcomes[17]).toMatchObject({ status: 'rejected', reason: { code: 'DIDIT_RATE_LIMITED' } });
    expect(decisions(sandbox)).toBe(17);
  });

  it('counts retries under the pace: a retry whose turn is too far off is not sent', async () => {
    // 8 a minute: 3 at once, then one every 10 s. Four failures in a row: the first try and two
    // retries go at once, the third retry's turn is 10 s away, past the 2 s a call may wait.
    const { sandbox, client, id } = await setup({ decisionsPerMinute: 8, maxRetries: 4, retryMinDelayMs: 1, retryMaxDelayMs: 5 });
    sandbox.injectFault({ kind: 'status', endpoint: 'decision', status: 503, times: 4 });
    await expect(client.getDecision(id)).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(decisions(sandbox)).toBe(3);
  });

  it('lets a retry go in the stead of a try that never reached Didit (no connection), and counts one that did', async () => {
    // 8 a minute: 3 at once.
    const resilience = createResilience({ limitsPerMinute: { decision: 8 }, maxConcurrent: 4 });
    for (let i = 0; i < 10; i++) expect(await resilience.retryTurn('decision', { delayMs: 0, rateLimited: false, sent: false })).toBe(true);
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push(await resilience.retryTurn('decision', { delayMs: 0, rateLimited: false, sent: true }));
    expect(sent).toEqual([true, true, true, false]);
  });

  it("holds the endpoint off for a retry after Didit's 429, for every call", async () => {
    const { sandbox, client, id } = await setup({ decisionsPerMinute: 600, maxRetries: 1 });
    sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 1 });
    const first = client.getDecision(id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    const second = await client.getDecision(id);
    // The second call came while the endpoint was held off: it waited for the end of the 1 s
    // rather than meet a 429 of its own.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect([(await first).status, second.status]).toEqual(['Not Started', 'Not Started']);
    expect(decisions(sandbox)).toBe(3);
  });

  it("holds an endpoint off for as long as Didit's 429 says", async () => {
    const { sandbox, client, id } = await setup({ maxRetryAfterSeconds: 0 });
    sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 30 });
    await expect(client.getDecision(id)).rejects.toMatchObject({ retryAfter: 30 });
    const held = await client.getDecision(id).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(DiditRateLimitedError);
    expect((held as DiditRateLimitedError).retryAfter).toBeGreaterThan(25);
    expect(decisions(sandbox)).toBe(1);
    // Other endpoints are not held.
    expect((await client.createSession({ callback: 'https://app.example.com/x' })).status).toBe('Not Started');
  });
});

describe('concurrency cap', () => {
  it('keeps at most the configured number of calls in flight and refuses past the queue', async () => {
    const id = '11111111-2222-4333-8444-555555555555';
    let inFlight = 0;
    let peak = 0;
    const upstream = await startFakeUpstream({
      [TOKEN_ROUTE]: (_, res) => tokenAnswer(res),
      [`GET /v1/session/${id}/decision/`]: (_, res) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        setTimeout(() => {
          inFlight -= 1;
          json(res, 200, { session_id: id, status: 'Approved' });
        }, 30);
      },
    });
    const client: DiditClient = createDiditClient({ clientId: 'c', clientSecret: 's', authUrl: upstream.url, apiUrl: upstream.url, maxConcurrentCalls: 2, decisionsPerMinute: 1_000_000 });
    cleanups.push(async () => {
      await client.close();
      await upstream.close();
    });
    // 2 in flight + 32 queued are served; the rest are told to come back in a second.
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, () => client.getDecision(id)));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(peak).toBe(2);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(34);
    expect(refused).toHaveLength(6);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'DIDIT_RATE_LIMITED', retryAfter: 1 });
  });
});
