/** Every error path of the API and of the sandbox's own endpoints, in Didit's error shapes. */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, basic, completeSession, createSession, getToken, requestToken, startSandbox } from '../support/sandbox.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('token errors', () => {
  it.each([
    ['a wrong secret', basic('sandbox-client', 'wrong')],
    ['a wrong client id', basic('someone-else', 'sandbox-secret')],
    ['no credentials', ''],
    ['a Bearer instead of Basic', 'Bearer sandbox-secret'],
    ['credentials without a colon', `Basic ${Buffer.from('sandbox-client').toString('base64')}`],
  ])('answers 401 {detail} for %s', async (_name, authorization) => {
    const { url } = await startSandbox();
    const res = await requestToken(url, authorization);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: expect.any(String) });
  });

  it('accepts configured credentials only', async () => {
    const { url } = await startSandbox({ clientId: 'acme', clientSecret: 'p:ss' });
    expect((await requestToken(url)).status).toBe(401);
    expect((await requestToken(url, basic('acme', 'p:ss'))).status).toBe(200);
  });

  it('answers 400 for another grant type or a body that is not a form', async () => {
    const { url } = await startSandbox();
    const wrongGrant = await fetch(`${url}/auth/v2/token/`, {
      method: 'POST',
      headers: { Authorization: basic(), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=password',
    });
    expect(wrongGrant.status).toBe(400);
    expect(await wrongGrant.json()).toEqual({ detail: expect.any(String) });
    const json = await fetch(`${url}/auth/v2/token/`, {
      method: 'POST',
      headers: { Authorization: basic(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    expect(json.status).toBe(400);
  });
});

describe('bearer token on /v1/', () => {
  const endpoints = (id: string) =>
    [
      ['POST', '/v1/session/', { callback: 'https://example.com/cb' }],
      ['GET', `/v1/session/${id}/decision/`, undefined],
      ['GET', `/v1/session/${id}/generate-pdf/`, undefined],
      ['PATCH', `/v1/session/${id}/update-status/`, { new_status: 'Approved' }],
    ] as const;

  it('answers 401 {detail} without a token or with a bad one, on every endpoint', async () => {
    const { url } = await startSandbox();
    const session = await createSession(url, await getToken(url));
    for (const [method, path, body] of endpoints(session.session_id)) {
      const missing = await fetch(`${url}${path}`, { method, body: body && JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      expect(`${method} ${path} ${missing.status}`).toBe(`${method} ${path} 401`);
      expect(await missing.json()).toEqual({ detail: expect.any(String) });
      const bad = await api(url, 'not-a-token', method, path, body);
      expect(`${method} ${path} ${bad.status}`).toBe(`${method} ${path} 401`);
    }
  });

  it('answers 401 once the token has expired (fake clock)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { url } = await startSandbox({ tokenTtlSeconds: 60 });
    const token = await getToken(url);
    const session = await createSession(url, token);
    vi.advanceTimersByTime(59_000);
    expect((await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/`)).status).toBe(200);
    vi.advanceTimersByTime(1_000);
    const expired = await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/`);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ detail: 'Invalid or expired token.' });
    const fresh = await getToken(url);
    expect((await api(url, fresh, 'GET', `/v1/session/${session.session_id}/decision/`)).status).toBe(200);
  });
});

describe('unknown sessions', () => {
  it.each([randomUUID(), 'not-a-uuid', '..%2F..%2Fetc'])('answers 404 {"detail": "Not found."} for %s', async (id) => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    for (const [method, path, body] of [
      ['GET', `/v1/session/${id}/decision/`, undefined],
      ['GET', `/v1/session/${id}/generate-pdf/`, undefined],
      ['PATCH', `/v1/session/${id}/update-status/`, { new_status: 'Approved' }],
    ] as const) {
      const res = await api(url, token, method, path, body);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ detail: 'Not found.' });
    }
    expect((await completeSession(url, id, { status: 'Approved' })).status).toBe(404);
  });
});

describe('bad bodies', () => {
  it('answers 400 {"detail": "JSON parse error"} for malformed JSON', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    for (const [method, path] of [
      ['POST', '/v1/session/'],
      ['PATCH', `/v1/session/${session.session_id}/update-status/`],
    ]) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: '{"callback": ',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ detail: 'JSON parse error' });
    }
  });

  it('answers 400 per field for invalid features, callback and vendor_data', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const cases: [unknown, Record<string, unknown>][] = [
      [{ callback: 'https://example.com/cb', features: 'FACE' }, { features: [expect.any(String)] }],
      [{ callback: 'https://example.com/cb', features: 'OCR + FACE + NFC' }, { features: [expect.any(String)] }],
      [{ callback: 'not a url' }, { callback: ['Enter a valid URL.'] }],
      [{ callback: 'javascript:alert(1)' }, { callback: ['Enter a valid URL.'] }],
      [{}, { callback: ['This field is required.'] }],
      [{ callback: 'https://example.com/cb', vendor_data: 42 }, { vendor_data: [expect.any(String)] }],
      [[], { non_field_errors: [expect.any(String)] }],
    ];
    for (const [body, expected] of cases) {
      const res = await api(url, token, 'POST', '/v1/session/', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual(expected);
    }
  });

  it('answers 415 for a body that is not JSON and 413 for one over 64 kB', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const text = await fetch(`${url}/v1/session/`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${token}` },
      body: 'callback=https://example.com',
    });
    expect(text.status).toBe(415);
    const huge = await api(url, token, 'POST', '/v1/session/', { callback: 'https://example.com/cb', vendor_data: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ detail: expect.any(String) });
  });

  it('answers 413 for a chunked body that grows past 64 kB', async () => {
    const { url } = await startSandbox();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/sandbox/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      // No Content-Length: the size is only known while reading.
      for (let i = 0; i < 10; i++) req.write('x'.repeat(10_000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('answers 400 {new_status} for a status a reviewer cannot set, and 400 for an unfinished session', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const path = `/v1/session/${session.session_id}/update-status/`;
    for (const body of [{ new_status: 'In Review' }, {}, { new_status: 'Approved', comment: 5 }]) {
      const res = await api(url, token, 'PATCH', path, body);
      expect(res.status).toBe(400);
    }
    expect(await (await api(url, token, 'PATCH', path, { new_status: 'Maybe' })).json()).toEqual({ new_status: [expect.any(String)] });
    const unfinished = await api(url, token, 'PATCH', path, { new_status: 'Approved' });
    expect(unfinished.status).toBe(400);
    expect(await unfinished.json()).toEqual({ detail: expect.any(String) });
  });
});

describe('other refusals', () => {
  it('answers 403 {detail} for the PDF of a session that is not finished', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const res = await api(url, token, 'GET', `/v1/session/${session.session_id}/generate-pdf/`);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ detail: expect.any(String) });
  });

  it('refuses a bad outcome, bad KYC overrides and finishing twice', async () => {
    const { url } = await startSandbox();
    const session = await createSession(url, await getToken(url));
    const bad = await completeSession(url, session.session_id, { status: 'Abandoned' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ status: [expect.any(String)] });
    expect((await completeSession(url, session.session_id, { status: 'Approved', kyc: { favourite_colour: 'blue' } })).status).toBe(400);
    expect((await completeSession(url, session.session_id, { status: 'Approved', kyc: { first_name: 7 } })).status).toBe(400);
    expect((await completeSession(url, session.session_id, { status: 'Approved' })).status).toBe(200);
    expect((await completeSession(url, session.session_id, { status: 'Declined' })).status).toBe(409);
  });

  it('answers 404 JSON for unknown paths (trailing slash included) and 405 for a wrong method', async () => {
    const { url } = await startSandbox();
    for (const path of ['/', '/v1/session', '/auth/v2/token', '/v2/session/']) {
      const res = await fetch(`${url}${path}`, { method: 'POST' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ detail: 'Not found.' });
    }
    const wrong = await fetch(`${url}/auth/v2/token/`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});
