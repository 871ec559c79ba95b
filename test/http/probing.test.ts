import { request as httpRequest } from 'node:http';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateSessionDocument } from '../../src/generated/graphql.ts';
import { TEST_JWT_SECRET, startTestGateway, type TestGateway } from '../support/gateway.ts';

/** What an attacker's probing found, each answered the way a client team would expect. */
let gw: TestGateway;
let reviewer: string;
beforeAll(async () => {
  gw = await startTestGateway();
  reviewer = await gw.token('office', ['reviewer']);
});
afterAll(() => gw.close());

describe('response fields follow the selection order (GraphQL spec, CollectFields)', () => {
  const query = `query Ordered($id: ID!) { session(id: $id) { ...F decision { status } } } fragment F on Session { id metadata }`;
  let id: string;
  beforeAll(async () => {
    const created = await gw.run(reviewer, CreateSessionDocument, { input: { callback: 'http://localhost:3000/done', vendorData: 'order-test' } });
    id = created.data!.createSession.session.id;
  });

  it('over POST', async () => {
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
      body: JSON.stringify({ query, variables: { id } }),
    });
    const body = (await response.json()) as { data: { session: Record<string, unknown> } };
    expect(Object.keys(body.data.session)).toEqual(['id', 'metadata', 'decision']);
  });

  it('over GET', async () => {
    const url = new URL(`${gw.url}/graphql`);
    url.searchParams.set('query', query);
    url.searchParams.set('variables', JSON.stringify({ id }));
    const response = await fetch(url, { headers: { authorization: `Bearer ${reviewer}` } });
    const body = (await response.json()) as { data: { session: Record<string, unknown> } };
    expect(Object.keys(body.data.session)).toEqual(['id', 'metadata', 'decision']);
  });

  it('with inline fragments and repeated fields merged where they first appear', async () => {
    const merged = `query Merged($id: ID!) { session(id: $id) { ... on Session { status } id ...F status decision { status } } } fragment F on Session { metadata id }`;
    const result = await gw.post(reviewer, merged, { id });
    expect(Object.keys(result.data!.session)).toEqual(['status', 'id', 'metadata', 'decision']);
  });
});

describe('refusals that say what is wrong', () => {
  const sign = (sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

  it('a subject over 256 characters', async () => {
    const result = await gw.post(await sign('s'.repeat(300)), '{ __typename }');
    expect(result.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    expect(result.errors![0]!.message).toBe('The token subject (sub) is over 256 characters');
  });

  it('a token without a subject', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect((await gw.post(token, '{ __typename }')).errors![0]!.message).toBe('Token has no subject');
  });

  it('a token over 8 KB', async () => {
    const result = await gw.post(`${'a'.repeat(8200)}.b.c`, '{ __typename }');
    expect(result.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    expect(result.errors![0]!.message).toBe('The token is over 8192 characters');
  });

  it('a header section over the server limit gets a 431 with a JSON body', async () => {
    const answer = await new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/graphql`, { method: 'GET', headers: { 'x-padding': 'p'.repeat(27_000) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(answer.type).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]!.extensions.code).toBe('REQUEST_HEADER_FIELDS_TOO_LARGE');
    expect(body.errors[0]!.message).toMatch(/headers are over 16384 bytes/);
  });

  it('the stream reservation refusal says how long to wait and which limit', async () => {
    const put = () => fetch(`${gw.url}/graphql/stream`, { method: 'PUT', headers: { authorization: `Bearer ${reviewer}` } });
    for (let i = 0; i < 8; i++) expect((await put()).status).toBe(201);
    const refused = await put();
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]!.extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 30, limit: 'caller' });
    expect(refused.headers.get('retry-after')).toBe('30');
  });
});

it('an operationName that names no operation is OPERATION_RESOLUTION_FAILURE with 400, as the README says', async () => {
  const result = await gw.post(reviewer, 'query A { __typename }', undefined);
  expect(result.status).toBe(200);
  const response = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
    body: JSON.stringify({ query: 'query A { __typename } query B { __typename }', operationName: 'C' }),
  });
  expect(response.status).toBe(400);
  expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('OPERATION_RESOLUTION_FAILURE');
});
