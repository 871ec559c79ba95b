/**
 * The transports client libraries use as shipped: urql's default fetch (GET for short queries),
 * Apollo's `useGETForQueries`, and graphql-sse's client in both modes at /graphql/stream.
 */
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { createClient as createSseClient, type ExecutionResult } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const STATUS = gql`
  query Status($id: ID!) { session(id: $id) { id status } }
`;
const CREATE = 'mutation { createSession(input: { callback: "http://localhost:3000/verified" }) { session { id } } }';

let gw: TestGateway;
let reviewer: string;
let sessionId: string;

/** fetch, recording the method of each request. */
function recordingFetch(methods: string[]): typeof fetch {
  return (input, init) => {
    methods.push(init?.method ?? (input instanceof Request ? input.method : 'GET'));
    return fetch(input, init);
  };
}

beforeAll(async () => {
  gw = await startTestGateway();
  reviewer = await gw.token('reviewer-1', ['reviewer']);
  sessionId = (await gw.post(reviewer, CREATE)).data!.createSession.session.id;
});
afterAll(() => gw?.close());

describe('GET queries', () => {
  it("run with urql's default fetch, which sends short queries as GET", async () => {
    const methods: string[] = [];
    const client = new Client({
      url: `${gw.url}/graphql`,
      exchanges: [cacheExchange, fetchExchange],
      fetch: recordingFetch(methods),
      fetchOptions: () => ({ headers: { authorization: `Bearer ${reviewer}` } }),
    });
    const result = await client.query(STATUS, { id: sessionId }).toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data.session).toEqual({ __typename: 'Session', id: sessionId, status: 'NOT_STARTED' });
    expect(methods).toEqual(['GET']);
  });

  it("run with Apollo's useGETForQueries; its mutations still POST", async () => {
    const methods: string[] = [];
    const apollo = new ApolloClient({
      link: new HttpLink({ uri: `${gw.url}/graphql`, useGETForQueries: true, fetch: recordingFetch(methods), headers: { authorization: `Bearer ${reviewer}` } }),
      cache: new InMemoryCache(),
    });
    const { data } = await apollo.query({ query: STATUS, variables: { id: sessionId } });
    expect((data as any).session.status).toBe('NOT_STARTED');
    const created = await apollo.mutate({ mutation: gql(CREATE) });
    expect((created.data as any).createSession.session.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(methods).toEqual(['GET', 'POST']);
  });

  it('are refused without Authorization or the CSRF header (CSRF_REFUSED), and run with the CSRF header alone', async () => {
    const url = `${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}`;
    const bare = await fetch(url);
    expect(bare.status).toBe(403);
    expect(await bare.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'CSRF_REFUSED' } }] });
    const form = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(form.status).toBe(403);
    const withHeader = await fetch(url, { headers: { 'x-graphql-csrf': '1' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('never carry a mutation: 405 BAD_REQUEST, and nothing reaches Didit', async () => {
    const creates = gw.upstream('create');
    const response = await fetch(`${gw.url}/graphql?query=${encodeURIComponent(CREATE)}`, { headers: { authorization: `Bearer ${reviewer}` } });
    expect(response.status).toBe(405);
    expect((await response.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(gw.upstream('create')).toBe(creates);
  });
});

describe('graphql-sse at /graphql/stream', () => {
  const stream = `/graphql/stream`;
  const collect = (client: ReturnType<typeof createSseClient>, query: string, variables: Record<string, unknown>) => {
    const results: ExecutionResult[] = [];
    let failure: unknown;
    const stop = client.subscribe({ query, variables }, { next: (r) => void results.push(r as ExecutionResult), error: (e) => (failure = e), complete: () => {} });
    return { results, failure: () => failure, stop };
  };

  it('runs queries and subscriptions over one authenticated stream (single connection mode)', async () => {
    const puts: string[] = [];
    const client = createSseClient({
      url: `${gw.url}${stream}`,
      singleConnection: true,
      // Kept open between operations (a lazy client closes its stream whenever none is running).
      lazy: false,
      onNonLazyError: () => {},
      retryAttempts: 0,
      headers: { authorization: `Bearer ${reviewer}` },
      fetchFn: recordingFetch(puts),
    });
    const query = collect(client, 'query ($id: ID!) { session(id: $id) { status } }', { id: sessionId });
    await vi.waitFor(() => expect(query.results).toEqual([{ data: { session: { status: 'NOT_STARTED' } } }]));

    const before = gw.services.events.subscriberCount();
    const live = collect(client, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id: sessionId });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBeGreaterThan(before));
    gw.sandboxInstance.complete(sessionId, 'Approved');
    await vi.waitFor(() => expect(live.results.at(-1)).toEqual({ data: { sessionStatusChanged: { status: 'APPROVED' } } }));
    // One PUT (reserve), one GET (the stream), and a POST per operation.
    expect(puts.filter((method) => method === 'PUT')).toHaveLength(1);
    expect(puts.filter((method) => method === 'GET')).toHaveLength(1);
    live.stop();
    client.dispose();
  });

  it('runs an operation on a connection of its own (distinct connections mode)', async () => {
    const client = createSseClient({ url: `${gw.url}${stream}`, retryAttempts: 0, headers: { authorization: `Bearer ${reviewer}` } });
    const query = collect(client, 'query ($id: ID!) { session(id: $id) { id } }', { id: sessionId });
    await vi.waitFor(() => expect(query.results).toEqual([{ data: { session: { id: sessionId } } }]));
    client.dispose();
  });

  it('refuses a request without a valid token (401 UNAUTHENTICATED) and another caller\'s stream (404)', async () => {
    const put = (token?: string) => fetch(`${gw.url}${stream}`, { method: 'PUT', headers: token ? { authorization: `Bearer ${token}` } : {} });
    const anonymous = await put();
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await put('not-a-jwt')).status).toBe(401);

    const reserved = await put(reviewer);
    expect(reserved.status).toBe(201);
    const streamToken = await reserved.text();
    const someoneElse = await gw.token('applicant-1');
    const hijack = await fetch(`${gw.url}${stream}`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${someoneElse}`, 'x-graphql-event-stream-token': streamToken },
    });
    expect(hijack.status).toBe(404);
    expect((await hijack.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
    const injected = await fetch(`${gw.url}${stream}?token=${streamToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${someoneElse}` },
      body: JSON.stringify({ query: '{ __typename }', extensions: { operationId: '1' } }),
    });
    expect(injected.status).toBe(404);
  });

  it('caps the streams one caller holds', async () => {
    const caller = await gw.token('many-streams', ['reviewer']);
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await fetch(`${gw.url}${stream}`, { method: 'PUT', headers: { authorization: `Bearer ${caller}` } })).status);
    expect(statuses).toEqual([...Array(8).fill(201), 429]);
  });

  it('refuses a mutation sent as GET, and runs nothing', async () => {
    const creates = gw.upstream('create');
    const response = await fetch(`${gw.url}${stream}?query=${encodeURIComponent(CREATE)}`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${reviewer}` },
    });
    const text = await response.text();
    expect(text).toContain('BAD_REQUEST');
    expect(text).not.toContain('"data"');
    expect(gw.upstream('create')).toBe(creates);
  });
});

describe('graphql-sse at /graphql/stream with trusted documents', () => {
  let trusted: TestGateway;
  beforeAll(async () => {
    trusted = await startTestGateway({ TRUSTED_DOCUMENTS: 'true' });
  });
  afterAll(() => trusted?.close());

  it('runs only trusted documents, as every other transport', async () => {
    const token = await trusted.token('reviewer-1', ['reviewer']);
    const client = createSseClient({ url: `${trusted.url}/graphql/stream`, singleConnection: true, retryAttempts: 0, headers: { authorization: `Bearer ${token}` } });
    const results: ExecutionResult[] = [];
    client.subscribe({ query: CREATE }, { next: (r) => void results.push(r as ExecutionResult), error: () => {}, complete: () => {} });
    await vi.waitFor(() => expect(results).toHaveLength(1));
    expect(results[0]!.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(trusted.upstream('create')).toBe(0);
    client.dispose();
  });
});
