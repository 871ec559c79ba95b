/**
 * Normalized client caches against the real gateway, configured exactly as the README says:
 * Apollo Client 4 (InMemoryCache with the README's typePolicies) and urql's Graphcache (with the
 * README's keys). Each must keep a session, its decision and its AML hits apart from every other
 * session's, including two sessions of the same watch-listed person, and a subscription's event
 * must update the cached session.
 */
import { ApolloClient, HttpLink, InMemoryCache, gql, type TypePolicies } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { cacheExchange, type KeyingConfig } from '@urql/exchange-graphcache';
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { buildSchema, isObjectType } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { personaFor } from '../../src/sandbox/personas.ts';
import { readmeValue } from '../support/readme.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const typePolicies = readmeValue('typePolicies: TypePolicies', 'typePolicies') as TypePolicies;
const keys = readmeValue('keys: KeyingConfig', 'keys') as KeyingConfig;

const DECISION = gql`
  query Decision($id: ID!) {
    session(id: $id) {
      id
      status
      decision {
        id
        status
        kyc { fullName }
        aml { score hits { id entityId score } }
      }
    }
  }
`;
const LIVE = gql`
  subscription Live($id: ID!) {
    sessionStatusChanged(sessionId: $id) { sessionId status session { id status decision { id status } } }
  }
`;
const STATUS = gql`
  query Status($id: ID!) { session(id: $id) { id status decision { id status } } }
`;

let gw: TestGateway;
let reviewer: string;
let endpoint: string;
/** Two sessions of the watch-listed persona: the first with the persona's own name, the second renamed. */
let first: string;
let second: string;

async function createSession(): Promise<string> {
  const result = await gw.post(reviewer, 'mutation { createSession(input: { callback: "http://localhost:3000/verified", features: [OCR, FACE, AML] }) { session { id } } }');
  return result.data!.createSession.session.id;
}

async function watchListedSession(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const id = await createSession();
    if (personaFor(id).watchlist) return id;
  }
  throw new Error('no watch-listed persona in 100 sessions');
}

beforeAll(async () => {
  gw = await startTestGateway();
  reviewer = await gw.token('reviewer-1', ['reviewer']);
  endpoint = `${gw.url}/graphql`;
  first = await watchListedSession();
  second = await watchListedSession();
  gw.sandboxInstance.complete(first, 'In Review');
  // Another spelling of the name on the document: the same watch-list entry, a lower score.
  gw.sandboxInstance.complete(second, 'In Review', { kyc: { first_name: 'Ivan' } });
  await gw.sandboxInstance.webhooksSettled();
});
afterAll(() => gw?.close());

it('the README configures every object type of the schema, and only those', () => {
  const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));
  const objectTypes = Object.values(schema.getTypeMap())
    .filter((type) => isObjectType(type) && !type.name.startsWith('__') && !['Query', 'Mutation', 'Subscription'].includes(type.name))
    .map((type) => type.name)
    .sort();
  expect(Object.keys(typePolicies).sort()).toEqual(objectTypes);
  expect(Object.keys(keys).sort()).toEqual(objectTypes);
  // A type given an identity must have the field it is read from.
  for (const [name, policy] of Object.entries(typePolicies)) {
    const fields = (schema.getType(name) as { getFields(): Record<string, unknown> }).getFields();
    if (Array.isArray(policy.keyFields)) for (const key of policy.keyFields) expect(fields, `${name}.${key}`).toHaveProperty(String(key));
  }
});

it('the two sessions of the watch-listed persona carry the same entry with different scores', async () => {
  const [a, b] = await Promise.all([gw.post(reviewer, DECISION.loc!.source.body, { id: first }), gw.post(reviewer, DECISION.loc!.source.body, { id: second })]);
  const hitA = a.data!.session.decision.aml.hits[0];
  const hitB = b.data!.session.decision.aml.hits[0];
  expect(hitA.entityId).toBe(hitB.entityId);
  expect(hitA.id).not.toBe(hitB.id);
  expect(hitA.score).not.toBe(hitB.score);
  expect(a.data!.session.decision.id).toBe(first);
});

describe('Apollo Client 4 with the README typePolicies', () => {
  it('normalizes sessions and decisions by id and keeps each session its own hit scores', async () => {
    const warnings = vi.spyOn(console, 'warn');
    const errors = vi.spyOn(console, 'error');
    const apollo = new ApolloClient({
      link: new HttpLink({ uri: endpoint, headers: { authorization: `Bearer ${reviewer}` } }),
      cache: new InMemoryCache({ typePolicies }),
    });
    const fromNetwork = async (id: string) => (await apollo.query({ query: DECISION, variables: { id }, fetchPolicy: 'network-only' })).data as any;
    const a = await fromNetwork(first);
    const b = await fromNetwork(second);

    const cached = apollo.cache.extract() as Record<string, any>;
    const sessionA = cached[apollo.cache.identify({ __typename: 'Session', id: first })!];
    const decisionA = cached[apollo.cache.identify({ __typename: 'Decision', id: first })!];
    expect(sessionA.decision).toEqual({ __ref: apollo.cache.identify({ __typename: 'Decision', id: first }) });
    expect(decisionA.status).toBe('IN_REVIEW');
    expect(Object.keys(cached).filter((key) => key.startsWith('AmlHit:'))).toHaveLength(2);

    // Reading the first session back from the cache, after the second was written over it.
    const again = apollo.readQuery({ query: DECISION, variables: { id: first } }) as any;
    expect(again.session.decision.aml.hits[0].score).toBe(a.session.decision.aml.hits[0].score);
    expect(again.session.decision.aml.hits[0].score).not.toBe(b.session.decision.aml.hits[0].score);
    // No "cache data may be lost" or missing-field warnings from Apollo.
    expect(warnings).not.toHaveBeenCalled();
    expect(errors).not.toHaveBeenCalled();
    warnings.mockRestore();
    errors.mockRestore();
  });

  it('updates the cached session and decision from a WebSocket subscription event', async () => {
    const id = await createSession();
    const ws = createWsClient({ url: endpoint.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${reviewer}` }, retryAttempts: 0 });
    const apollo = new ApolloClient({ link: new GraphQLWsLink(ws), cache: new InMemoryCache({ typePolicies }) });
    const http = new ApolloClient({ link: new HttpLink({ uri: endpoint, headers: { authorization: `Bearer ${reviewer}` } }), cache: apollo.cache });
    await http.query({ query: STATUS, variables: { id } });
    const read = () => (apollo.cache.extract() as Record<string, any>)[apollo.cache.identify({ __typename: 'Session', id })!]?.status;
    expect(read()).toBe('NOT_STARTED');

    const events: unknown[] = [];
    const before = gw.services.events.subscriberCount();
    const subscription = apollo.subscribe({ query: LIVE, variables: { id } }).subscribe({ next: (event) => events.push(event) });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBeGreaterThan(before));
    gw.sandboxInstance.complete(id, 'Approved');
    await vi.waitFor(() => expect(read()).toBe('APPROVED'));
    const decision = (apollo.cache.extract() as Record<string, any>)[apollo.cache.identify({ __typename: 'Decision', id })!];
    expect(decision.status).toBe('APPROVED');
    subscription.unsubscribe();
    await ws.dispose();
  });
});

describe('urql Graphcache with the README keys', () => {
  const urqlClient = (exchanges: ConstructorParameters<typeof Client>[0]['exchanges']) =>
    new Client({ url: endpoint, exchanges, fetchOptions: () => ({ headers: { authorization: `Bearer ${reviewer}` } }) });

  it('normalizes sessions and decisions by id and keeps each session its own hit scores', async () => {
    const warnings = vi.spyOn(console, 'warn');
    const client = urqlClient([cacheExchange({ keys }), fetchExchange]);
    const a = await client.query(DECISION, { id: first }, { requestPolicy: 'network-only' }).toPromise();
    const b = await client.query(DECISION, { id: second }, { requestPolicy: 'network-only' }).toPromise();
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();

    const again = await client.query(DECISION, { id: first }, { requestPolicy: 'cache-only' }).toPromise();
    expect(again.data.session.decision.id).toBe(first);
    expect(again.data.session.decision.aml.hits[0].score).toBe(a.data.session.decision.aml.hits[0].score);
    expect(again.data.session.decision.aml.hits[0].score).not.toBe(b.data.session.decision.aml.hits[0].score);
    // Graphcache warns about types it cannot key: none here.
    expect(warnings).not.toHaveBeenCalled();
    warnings.mockRestore();
  });

  it('updates the cached session from a graphql-sse subscription (single connection mode)', async () => {
    const id = await createSession();
    const sse = createSseClient({ url: `${gw.url}/graphql/stream`, singleConnection: true, headers: { authorization: `Bearer ${reviewer}` }, retryAttempts: 0 });
    const client = urqlClient([
      cacheExchange({ keys }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: sse.subscribe({ ...request, query: request.query ?? '' }, sink as never) }),
        }),
      }),
    ]);
    await client.query(STATUS, { id }).toPromise();
    const read = async () => (await client.query(STATUS, { id }, { requestPolicy: 'cache-only' }).toPromise()).data?.session?.status;
    expect(await read()).toBe('NOT_STARTED');

    const before = gw.services.events.subscriberCount();
    const live = client.subscription(LIVE, { id }).subscribe(() => {});
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBeGreaterThan(before));
    gw.sandboxInstance.complete(id, 'Declined');
    await vi.waitFor(async () => expect(await read()).toBe('DECLINED'));
    live.unsubscribe();
    sse.dispose();
  });
});
