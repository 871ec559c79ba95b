/** Fault injection: each kind observably happens, aimed, counted, at seeded rates, and over HTTP. */
import { describe, expect, it } from 'vitest';
import { FaultError } from '../../src/sandbox/faults.ts';
import { api, createSession, getToken, requestToken, startSandbox } from '../support/sandbox.ts';

describe('injected faults', () => {
  it('status: answers the status for the next `times` matching requests only', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const path = `/v1/session/${session.session_id}/decision/`;
    sandbox.injectFault({ kind: 'status', endpoint: 'decision', times: 2 });
    sandbox.injectFault({ kind: 'status', endpoint: 'decision', status: 500 });
    // Another endpoint is not affected.
    expect((await requestToken(url)).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await api(url, token, 'GET', path)).status);
    expect(statuses).toEqual([503, 503, 500, 200]);
  });

  it('rate-limit: answers 429 with Retry-After', async () => {
    const { url, sandbox } = await startSandbox();
    sandbox.injectFault({ kind: 'rate-limit', retryAfter: 7 });
    const res = await requestToken(url);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toEqual({ detail: expect.any(String) });
    expect((await requestToken(url)).status).toBe(200);
  });

  it('drop: closes the connection without an answer', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    sandbox.injectFault({ kind: 'drop', endpoint: 'create' });
    await expect(api(url, token, 'POST', '/v1/session/', { callback: 'https://example.com/cb' })).rejects.toThrow();
    expect((await api(url, token, 'POST', '/v1/session/', { callback: 'https://example.com/cb' })).status).toBe(201);
  });

  it('malformed: answers 200 application/json with a body that is not JSON', async () => {
    const { url, sandbox } = await startSandbox();
    sandbox.injectFault({ kind: 'malformed', endpoint: 'token' });
    const res = await requestToken(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    await expect(res.json()).rejects.toThrow();
  });

  it('expire-token: the next /v1 call gets 401, a new token works', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const path = `/v1/session/${session.session_id}/decision/`;
    sandbox.injectFault({ kind: 'expire-token' });
    // Not consumed by the token endpoint: it waits for a request that uses a token.
    const other = await getToken(url);
    expect((await api(url, other, 'GET', path)).status).toBe(401);
    expect((await api(url, token, 'GET', path)).status).toBe(401);
    expect((await api(url, await getToken(url), 'GET', path)).status).toBe(200);
  });

  it('latency: holds the request, then answers it normally', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    sandbox.injectFault({ kind: 'latency', endpoint: 'create', latencyMs: 500 });
    const order: string[] = [];
    const slow = api(url, token, 'POST', '/v1/session/', { callback: 'https://example.com/cb' }).then((res) => {
      order.push('create');
      return res;
    });
    // Sent after the held request, answered before it.
    await requestToken(url).then(() => order.push('token'));
    expect((await slow).status).toBe(201);
    expect(order).toEqual(['token', 'create']);
  });

  it('close cuts a held request short instead of waiting for it', async () => {
    let onHeld!: () => void;
    const isHeld = new Promise<void>((resolve) => (onHeld = resolve));
    const logger = { info: (message: string) => message.includes('latency') && onHeld(), warn() {} };
    const { url, sandbox } = await startSandbox({ logger });
    sandbox.injectFault({ kind: 'latency', latencyMs: 120_000 });
    const held = requestToken(url).catch((error: unknown) => error);
    await isHeld;
    await sandbox.close();
    expect(await held).toBeInstanceOf(Error);
  });

  it('refuses faults it cannot apply', () => {
    return startSandbox().then(({ sandbox }) => {
      expect(() => sandbox.injectFault({ kind: 'boom' } as never)).toThrow(FaultError);
      expect(() => sandbox.injectFault({ kind: 'status', status: 200 })).toThrow(/status/);
      expect(() => sandbox.injectFault({ kind: 'drop', endpoint: 'page' as never })).toThrow(/endpoint/);
      expect(() => sandbox.setFaultRates({ errorRate: 0.6, dropRate: 0.6 })).toThrow(/at most 1/);
      expect(() => sandbox.setFaultRates({ latencyRate: 2 })).toThrow(/latencyRate/);
    });
  });
});

describe('fault rates', () => {
  async function statuses(seed: number, count: number): Promise<(number | 'dropped')[]> {
    const { url, sandbox } = await startSandbox({ seed });
    sandbox.setFaultRates({ errorRate: 0.3, rateLimitRate: 0.2, dropRate: 0.1, malformedRate: 0.1 });
    const out: (number | 'dropped')[] = [];
    for (let i = 0; i < count; i++) {
      const res = await requestToken(url).catch(() => undefined);
      out.push(res === undefined ? 'dropped' : res.status === 200 && !(await res.text()).endsWith('}') ? 0 : res.status);
    }
    return out;
  }

  it('are reproducible with a seed and produce every kind', async () => {
    const first = await statuses(42, 60);
    expect(await statuses(42, 60)).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 503, 429, 'dropped', 0]));
  });

  it('never touch the sandbox\'s own endpoints, so they can be switched off', async () => {
    const { url, sandbox } = await startSandbox();
    sandbox.setFaultRates({ errorRate: 1 });
    expect((await requestToken(url)).status).toBe(503);
    expect((await fetch(`${url}/sandbox/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await requestToken(url)).status).toBe(200);
  });
});

describe('/sandbox/faults', () => {
  it('injects faults and sets rates for another process, and refuses bad ones', async () => {
    const { url } = await startSandbox();
    const post = (body: unknown) =>
      fetch(`${url}/sandbox/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ fault: { kind: 'status', endpoint: 'token', status: 502 } })).status).toBe(204);
    expect((await requestToken(url)).status).toBe(502);

    expect((await post({ rates: { rateLimitRate: 1, retryAfter: 3 } })).status).toBe(204);
    const limited = await requestToken(url);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '3']);

    for (const bad of [{}, { fault: { kind: 'status', times: 0 } }, { rates: { errorRate: -1 } }, { faults: [] }]) {
      const res = await post(bad);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ detail: expect.any(String) });
    }
    // A bad half leaves the good half unapplied.
    expect((await post({ fault: { kind: 'drop' }, rates: { errorRate: 5 } })).status).toBe(400);
    expect((await fetch(`${url}/sandbox/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await requestToken(url)).status).toBe(200);
  });
});
