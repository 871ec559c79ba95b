import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callbackRefusal } from '../../src/core/callback-policy.ts';
import persisted from '../../src/generated/persisted-documents.json' with { type: 'json' };
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { subscribeWs } from '../support/subscriptions.ts';

const ID = '00000000-0000-4000-8000-000000000000';

describe('abusive documents are refused before execution', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    token = await gw.token('office', ['reviewer']);
  });
  afterAll(() => gw.close());
  beforeEach(() => gw.sandboxInstance.resetRequests());

  it.each([
    ['an alias bomb (100 aliases)', `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: session(id: "${ID}") { id }`).join(' ')} }`],
    ['a huge document', `{ session(id: "${ID}") { ${'id '.repeat(3000)} } }`],
    ['a directive bomb', `{ session(id: "${ID}") { id ${'@include(if: true) '.repeat(60)} } }`],
  ])('%s', async (_name, query) => {
    const result = await gw.post(token, query);
    expect(codes(result)).toHaveLength(1);
    expect(codes(result)[0]).toMatch(/^GRAPHQL_(VALIDATION|PARSE)_FAILED$/);
    expect(result.data ?? null).toBeNull();
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it('refuses a query nested deeper than the limit', async () => {
    const deep = `{ session(id: "${ID}") { decision { location { documentLocation { latitude } } } } }`;
    expect(codes(await gw.post(token, deep))).toEqual(['NOT_FOUND']); // depth 5: allowed
    const limited = await startTestGateway({ MAX_DEPTH: '3' });
    try {
      const result = await limited.post(await limited.token('office', ['reviewer']), deep);
      expect(result.errors![0]!.message).toMatch(/depth/i);
      expect(limited.sandboxInstance.requests).toEqual([]);
    } finally {
      await limited.close();
    }
  });

  it('refuses a body over the cap, and HTTP batching', async () => {
    const big = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(100_001) } }),
    });
    expect(big.status).toBe(413);
    const batch = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(batch.status).toBeGreaterThanOrEqual(400);
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it('refuses requests a browser could send cross-site without a preflight (CSRF)', async () => {
    const form = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
      body: `query=${encodeURIComponent('{ __typename }')}`,
    });
    expect(form.status).toBe(403);
    const get = await fetch(`${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json' } });
    expect(get.status).toBe(403);
    const withHeader = await fetch(`${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json', 'x-graphql-csrf': '1' } });
    expect(withHeader.status).toBe(200);
  });

  it('answers unknown routes with 404 and serves /health', async () => {
    expect((await fetch(`${gw.url}/nope`)).status).toBe(404);
    expect(await (await fetch(`${gw.url}/health`)).json()).toEqual({ status: 'ok' });
  });
});

describe('production mode', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ NODE_ENV: 'production', CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com' });
  });
  afterAll(() => gw.close());

  it('refuses introspection (and so its depth bombs), hides field suggestions and serves no GraphiQL', async () => {
    const token = await gw.token('office', ['reviewer']);
    for (const query of ['{ __schema { types { name } } }', '{ __schema { types { fields { type { fields { type { fields { type { fields { type { name } } } } } } } } } } }']) {
      const introspection = await gw.post(token, query);
      expect(new Set(codes(introspection))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
      expect(introspection.data ?? null).toBeNull();
    }
    const typo = await gw.post(token, `{ sesion(id: "${ID}") { id } }`);
    expect(JSON.stringify(typo.errors)).not.toMatch(/Did you mean/);
    const page = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/graphiql/i);
  });

  it('refuses introspection over WebSocket too', async () => {
    const ws = subscribeWs(gw.url, await gw.token('office', ['reviewer']), '{ __schema { types { name } } }', {});
    const [result] = await ws.next(1);
    await ws.close();
    expect(result!.data ?? null).toBeNull();
    expect(result!.errors![0]!.message).toMatch(/introspection has been disabled/);
  });

  it('hides every "Did you mean" suggestion, enum values included, on every path', async () => {
    const literal = `mutation { updateSessionStatus(input: { sessionId: "${ID}", status: APPROVE }) { session { id } } }`;
    const variable = 'mutation($s: ReviewDecision!) { updateSessionStatus(input: { sessionId: "x", status: $s }) { session { id } } }';
    const typo = `{ sesion(id: "${ID}") { id } } `;
    const yoga = async (query: string, variables?: object) =>
      (await gw.yoga.fetch('http://gateway.invalid/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json();
    const overSocket = async (query: string, variables: Record<string, unknown>) => {
      const ws = subscribeWs(gw.url, await gw.token('office', ['reviewer']), query, variables);
      const [result] = await ws.next(1);
      await ws.close();
      return result!;
    };
    const answers = [];
    for (const [query, variables] of [[literal, undefined], [variable, { s: 'APPROVE' }], [typo, undefined]] as const) {
      const results = [await gw.post(undefined, query, variables), await yoga(query, variables), await overSocket(query, variables ?? {})];
      for (const result of results) expect(result.errors?.length).toBeGreaterThan(0);
      answers.push(...results);
    }
    expect(JSON.stringify(answers)).not.toMatch(/Did you mean|APPROVED"|"session"/);
  });

  it('refuses http and loopback callbacks outside sandbox mode', () => {
    expect(callbackRefusal('http://localhost:3000/x', ['https://app.example.com'], false)).not.toBeNull();
  });
});

describe('GraphiQL in development', () => {
  it('mints no ready-made tokens when a secret is configured (it may be a real one)', async () => {
    const gw = await startTestGateway();
    try {
      expect(gw.demoTokens).toBeUndefined();
      const page = await (await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } })).text();
      expect(page).not.toMatch(/Bearer ey/);
    } finally {
      await gw.close();
    }
  });

  it('opens offline with an example operation and a ready token in sandbox mode', async () => {
    const gw = await startTestGateway({ AUTH_JWT_SECRET: '' });
    try {
      const page = await (await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } })).text();
      expect(page).toContain('StartVerification');
      expect(page).toContain(gw.demoTokens!.reviewer);
      expect(page).not.toMatch(/unpkg\.com|jsdelivr/);
      const me = await gw.post(gw.demoTokens!.applicant, 'mutation { createSession(input: { callback: "http://localhost:3000/x" }) { session { vendorData } } }');
      expect(me.data!.createSession.session.vendorData).toBe(gw.demoTokens!.applicantSub);
    } finally {
      await gw.close();
    }
  });
});

describe('trusted documents', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ TRUSTED_DOCUMENTS: 'true' });
  });
  afterAll(() => gw.close());

  it('runs documents of the codegen manifest by hash and refuses any other document', async () => {
    const token = await gw.token('office', ['reviewer']);
    const [hash] = Object.entries(persisted).find(([, text]) => text.startsWith('query SessionStatus('))!;
    const send = (body: unknown) =>
      fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then((r) => r.json());
    const trusted = await send({ extensions: { persistedQuery: { version: 1, sha256Hash: hash.replace('sha256:', '') } }, variables: { id: ID } });
    expect(codes(trusted)).toEqual(['NOT_FOUND']); // it ran
    const arbitrary = await send({ query: `{ session(id: "${ID}") { id } }` });
    expect(codes(arbitrary)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    const unknown = await send({ extensions: { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } } });
    expect(codes(unknown)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(gw.upstream('decision')).toBe(1);
  });

  it('holds over WebSocket too: an arbitrary document is refused, a trusted one runs by hash', async () => {
    const token = await gw.token('office', ['reviewer']);
    const [hash] = Object.entries(persisted).find(([, text]) => text.startsWith('query SessionStatus('))!;
    const over = async (query: string, extensions?: Record<string, unknown>) => {
      const ws = subscribeWs(gw.url, token, query, { id: ID }, extensions);
      const [result] = await ws.next(1);
      await ws.close();
      return result!;
    };
    gw.sandboxInstance.resetRequests();
    // The HTTP test read this id: Didit's NOT_FOUND is kept for a while, and this one must reach Didit.
    await gw.services.decisionCache.delete(ID);
    expect(codes(await over(`{ session(id: "${ID}") { id } }`))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(codes(await over('', { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } }))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(gw.upstream('decision')).toBe(0);
    const trusted = await over('', { persistedQuery: { version: 1, sha256Hash: hash.replace('sha256:', '') } });
    expect(codes(trusted)).toEqual(['NOT_FOUND']); // it ran
    expect(gw.upstream('decision')).toBe(1);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('answers PERSISTED_QUERY_NOT_FOUND for the hash %s', async (hash) => {
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await gw.token('office', ['reviewer'])}` },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
    });
    expect(codes(await response.json())).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('per-caller rate limit', () => {
  it('answers RATE_LIMITED with retryAfter past the limit, per caller', async () => {
    const gw = await startTestGateway({ RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const busy = await gw.token('busy');
      const other = await gw.token('other');
      for (let i = 0; i < 3; i++) expect(codes(await gw.post(busy, '{ __typename }'))).toEqual([]);
      const limited = await gw.post(busy, `{ session(id: "${ID}") { id } }`);
      expect(limited.errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED' } }]);
      expect(limited.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
      expect(limited.errors![0]!.extensions!.retryAfter).toBeLessThanOrEqual(60);
      expect(codes(await gw.post(other, '{ __typename }'))).toEqual([]);
      expect(gw.upstream('decision')).toBe(0);
    } finally {
      await gw.close();
    }
  });
});

describe('callback policy', () => {
  const allowed = ['https://ok.com', 'https://app.example.com:8443'];
  it.each([
    'https://ok.com/verified',
    'https://ok.com',
    'https://ok.com/?next=%2Fhome#top',
    'https://app.example.com:8443/cb',
  ])('accepts %s', (url) => expect(callbackRefusal(url, allowed, false)).toBeNull());

  it.each([
    'javascript:alert(1)',
    'http://ok.com/verified',
    'https://ok.com@evil.com/',
    'https://ok.com.evil.com/',
    'https://ok.com%40evil.com/',
    'https://evil.com/https://ok.com',
    'https://ok.com\\@evil.com',
    'https:\\\\ok.com',
    '//ok.com/x',
    'https://ok.com:444/x',
    'https://app.example.com/cb',
    'https://user:pass@ok.com/',
    'https://ok.com/\n',
    'data:text/html,hi',
    `https://ok.com/${'a'.repeat(3000)}`,
    'HTTPS://OK.COM:443/x',
  ])('refuses %s', (url) => expect(callbackRefusal(url, allowed, false)).not.toBeNull());

  it('allows http on localhost and 127.0.0.1 in sandbox mode only', () => {
    expect(callbackRefusal('http://localhost:3000/x', [], true)).toBeNull();
    expect(callbackRefusal('http://127.0.0.1:8080/x', [], true)).toBeNull();
    expect(callbackRefusal('http://localhost.evil.com/x', [], true)).not.toBeNull();
    expect(callbackRefusal('http://localhost:3000/x', [], false)).not.toBeNull();
  });

  it('names CALLBACK_ALLOWED_ORIGINS when nothing is allowed', () => {
    expect(callbackRefusal('https://ok.com/x', [], false)).toMatch(/CALLBACK_ALLOWED_ORIGINS/);
  });
});
