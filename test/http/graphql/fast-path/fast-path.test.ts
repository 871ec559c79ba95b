import { GraphQLError } from 'graphql';
import { processRegularResult, type Plugin } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import persisted from '../../../../src/generated/persisted-documents.json' with { type: 'json' };
import { jsonMediaType } from '../../../../src/http/graphql/fast-path/handler.ts';
import { resultProcessorMismatch } from '../../../../src/http/graphql/fast-path/yoga-contract.ts';
import { startTestGateway, type TestGateway } from '../../../support/gateway.ts';

/**
 * POST /graphql with a JSON body skips Yoga's fetch layer (src/http/graphql/fast-path/). Every request
 * here is answered twice, over HTTP (the fast path) and by Yoga itself in-process, and the two
 * answers must be the same: status, content type, CORS headers and body.
 */

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

const COMPARED_HEADERS = ['content-type', 'access-control-allow-origin', 'access-control-allow-credentials', 'vary', 'accept'];

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  return { status: response.status, headers: Object.fromEntries(COMPARED_HEADERS.map((name) => [name, response.headers.get(name)])), body };
}

async function bothWays(gw: TestGateway, body: string, headers: Record<string, string>) {
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body };
  // Handing a request over to Yoga builds a fetch Request; answering it directly does not.
  const fetchAPI = gw.yoga.fetchAPI as { Request: typeof Request };
  const original = fetchAPI.Request;
  let built = 0;
  fetchAPI.Request = class extends original {
    constructor(...args: ConstructorParameters<typeof Request>) {
      super(...args);
      built += 1;
    }
  };
  const fast = await answer(await fetch(`${gw.url}/graphql`, init)).finally(() => {
    fetchAPI.Request = original;
  });
  const handledByYoga = built > 0;
  const yoga = await answer(await gw.yoga.fetch('http://gateway.invalid/graphql', init));
  return { fast, yoga, handledByYoga };
}

describe('the JSON fast path answers as Yoga does', () => {
  let gw: TestGateway;
  let owner: string;
  let stranger: string;
  let reviewer: string;
  let sessionId: string;

  beforeAll(async () => {
    gw = await startTestGateway({ CORS_ORIGINS: 'https://app.example.com,https://office.example.com' });
    owner = await gw.token('user-1');
    stranger = await gw.token('user-2');
    reviewer = await gw.token('office', ['reviewer']);
    const created = await gw.post(owner, 'mutation { createSession(input: { callback: "http://localhost:3000/done" }) { session { id } } }');
    sessionId = created.data!.createSession.session.id;
  });
  afterAll(() => gw.close());

  const frontend = (id: string) => JSON.stringify({ query: 'query S($id: ID!) { session(id: $id) { id status decision { status } } }', variables: { id } });

  // [name, body, caller, extra headers, whether the fast path itself answers]
  const cases: Array<[string, (id: string) => string, 'owner' | 'stranger' | 'reviewer' | 'none' | 'bad', Record<string, string>, boolean]> = [
    ['a read by the owner', frontend, 'owner', {}, true],
    ['a read by someone else (NOT_FOUND)', frontend, 'stranger', {}, true],
    ['a read without a token', frontend, 'none', {}, true],
    ['a reviewer-only field asked by the owner', (id) => JSON.stringify({ query: `{ session(id: "${id}") { decision { aml { status } } } }` }), 'owner', {}, true],
    ['a reviewer-only mutation by the owner', (id) => JSON.stringify({ query: `mutation { updateSessionStatus(input: { sessionId: "${id}", status: APPROVED, comment: "fast path" }) { session { id status } } }` }), 'owner', {}, true],
    ['a variable of the wrong type', () => JSON.stringify({ query: 'query S($id: ID!) { session(id: $id) { id } }', variables: { id: 42.5 } }), 'owner', {}, true],
    ['a missing variable', () => JSON.stringify({ query: 'query S($id: ID!) { session(id: $id) { id } }' }), 'owner', {}, true],
    ['a syntax error', () => JSON.stringify({ query: '{ session(' }), 'owner', {}, true],
    ['an unknown field', () => JSON.stringify({ query: '{ nope }' }), 'owner', {}, true],
    ['a validation error asked as graphql-response+json', () => JSON.stringify({ query: '{ nope }' }), 'owner', { accept: 'application/graphql-response+json' }, true],
    ['a read asked as graphql-response+json then json', frontend, 'owner', { accept: 'application/graphql-response+json, application/json' }, true],
    ['a read asked as */*', frontend, 'owner', { accept: '*/*' }, true],
    ['an operation name that is not in the document', () => JSON.stringify({ query: '{ __typename }', operationName: 'Other' }), 'owner', {}, true],
    ['two operations and no name', () => JSON.stringify({ query: 'query A { __typename } query B { __typename }' }), 'owner', {}, true],
    ['a subscription asked as JSON', (id) => JSON.stringify({ query: `subscription { sessionStatusChanged(sessionId: "${id}") { status } }` }), 'owner', { accept: 'application/json' }, false],
    ['a read from an allowed origin', frontend, 'owner', { origin: 'https://office.example.com' }, true],
    ['a read from another origin', frontend, 'owner', { origin: 'https://evil.example.com' }, true],
    ['an invalid token', frontend, 'bad', {}, true],
    ['no query at all', () => JSON.stringify({ variables: {} }), 'owner', {}, false],
    ['a query that is not a string', () => JSON.stringify({ query: 42 }), 'owner', {}, false],
    ['variables that are not an object', () => JSON.stringify({ query: '{ __typename }', variables: [1] }), 'owner', {}, false],
    ['an unknown parameter', () => JSON.stringify({ query: '{ __typename }', extra: 1 }), 'owner', {}, false],
    ['a batch', () => JSON.stringify([{ query: '{ __typename }' }]), 'owner', {}, false],
    ['a body that is not JSON', () => '{ "query": ', 'owner', {}, false],
  ];

  it.each(cases)('%s', async (_name, body, caller, extra, fastAnswers) => {
    const token = { owner, stranger, reviewer, none: undefined, bad: 'not.a.jwt' }[caller];
    const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
    const { fast, yoga, handledByYoga } = await bothWays(gw, body(sessionId), headers);
    expect(fast).toEqual(yoga);
    expect(handledByYoga).toBe(!fastAnswers);
  });

  // The comparison above passes just as well when both sides refuse a document that does not
  // validate, so the reviewer-only mutation is checked to reach the access check itself.
  it('refuses the reviewer-only mutation as FORBIDDEN, after validation', async () => {
    const [, body] = cases.find(([name]) => name === 'a reviewer-only mutation by the owner')!;
    const { fast } = await bothWays(gw, body(sessionId), { authorization: `Bearer ${owner}` });
    expect(fast.body).toEqual({
      data: null,
      errors: [{ message: 'Only reviewers may do this', path: ['updateSessionStatus'], extensions: { code: 'FORBIDDEN' } }],
    });
  });

  it('answers CORS preflights for the configured origins only, without credentials', async () => {
    const preflight = (origin: string) =>
      fetch(`${gw.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    expect((await preflight('https://evil.example.com')).headers.get('access-control-allow-origin')).toBe('null');
  });

  it('sends requests for other response types to Yoga', () => {
    expect(jsonMediaType(undefined)).toBe('application/json');
    expect(jsonMediaType('application/json; charset=utf-8')).toBe('application/json');
    expect(jsonMediaType('application/graphql-response+json')).toBe('application/graphql-response+json');
    expect(jsonMediaType('text/event-stream')).toBeNull();
    expect(jsonMediaType('multipart/mixed, application/json')).toBeNull();
    expect(jsonMediaType('application/json; charset=iso-8859-1')).toBeNull();
  });
});

describe('the JSON fast path in production, with trusted documents', () => {
  let gw: TestGateway;
  let reviewer: string;
  beforeAll(async () => {
    gw = await startTestGateway({ NODE_ENV: 'production', TRUSTED_DOCUMENTS: 'true', CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com' });
    reviewer = await gw.token('office', ['reviewer']);
  });
  afterAll(() => gw.close());

  // A query of the manifest (a subscription's answer would be a stream).
  const [hash] = Object.entries(persisted).find(([, text]) => text.startsWith('query SessionStatus('))!;
  const persistedQuery = (sha256Hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash } } });

  it.each([
    ['a trusted document', JSON.stringify({ ...persistedQuery(hash!.replace(/^sha256:/, '')), variables: { id: '00000000-0000-4000-8000-000000000000' } }), true],
    ['an unknown document id', JSON.stringify(persistedQuery('0'.repeat(64))), false],
    ['document text instead of an id', JSON.stringify({ query: '{ __typename }' }), false],
    ['introspection', JSON.stringify({ query: '{ __schema { types { name } } }' }), false],
    ['a cross-origin page (none allowed by default)', JSON.stringify(persistedQuery('0'.repeat(64))), false],
  ])('%s', async (name, body, fastAnswers) => {
    const headers: Record<string, string> = { authorization: `Bearer ${reviewer}` };
    if (name.startsWith('a cross-origin')) headers.origin = 'https://app.example.com';
    const { fast, yoga, handledByYoga } = await bothWays(gw, body, headers);
    expect(fast).toEqual(yoga);
    expect(fast.headers['access-control-allow-origin']).toBeNull();
    expect(handledByYoga).toBe(!fastAnswers);
  });
});

describe('an operation that fails after it ran', () => {
  // A hook failing once a mutation has run (the mutation reached Didit): Yoga's own result hook.
  const failAfterMutations: Plugin = {
    onExecutionResult({ result }) {
      if ((result as { data?: Record<string, unknown> }).data?.createSession) throw new Error('hook failed after execution');
    },
  };
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({}, { plugins: [failAfterMutations] });
  });
  afterAll(() => gw.close());

  it('is answered a masked error by the fast path, not run a second time by Yoga', async () => {
    const body = JSON.stringify({ query: 'mutation { createSession(input: { callback: "http://localhost:3000/x" }) { session { id } } }' });
    const { fast, yoga, handledByYoga } = await bothWays(gw, body, { authorization: `Bearer ${await gw.token('user-1')}` });
    // Once through the fast path, once through Yoga itself.
    expect(gw.upstream('create')).toBe(2);
    expect(handledByYoga).toBe(false);
    expect(fast.body).toEqual({ errors: [{ message: 'Unexpected error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    expect(fast).toEqual(yoga);
    expect(gw.logs.lines.filter((line) => line.includes('unexpected error while executing an operation'))).toHaveLength(2);
  });
});

describe('what the fast path relies on from Yoga (checked at every start)', () => {
  type Processor = NonNullable<Parameters<typeof resultProcessorMismatch>[0]>;
  type Built = { body: string; init: { status: number; headers: Record<string, string> } };
  const real = processRegularResult as unknown as Processor;
  const rebuilt = (fetchAPI: never, body: string, init: object) => new (fetchAPI as { Response: new (body: string, init: object) => unknown }).Response(body, init);

  it('holds for the installed graphql-yoga: an upgrade must keep it (versions pinned in package.json)', () => {
    expect(resultProcessorMismatch()).toBeNull();
  });

  it.each<[string, Processor]>([
    ['the answer comes as a promise', (result, fetchAPI, mediaType) => Promise.resolve(real(result, fetchAPI, mediaType))],
    [
      'the headers come as a Headers object',
      (result, fetchAPI, mediaType) => {
        const { body, init } = real(result, fetchAPI, mediaType) as Built;
        return rebuilt(fetchAPI, body, { ...init, headers: new Headers(init.headers) });
      },
    ],
    [
      "an error's HTTP status and headers are left out",
      (result, fetchAPI, mediaType) =>
        real({ ...result, errors: result.errors?.map((error) => new GraphQLError(error.message, { extensions: { code: error.extensions.code } })) }, fetchAPI, mediaType),
    ],
    [
      'the body keeps the internal http extension',
      (result, fetchAPI, mediaType) => rebuilt(fetchAPI, JSON.stringify(result), (real(result, fetchAPI, mediaType) as Built).init),
    ],
    [
      'it throws',
      () => {
        throw new Error('boom');
      },
    ],
  ])('is found broken when %s', (_name, processor) => {
    expect(resultProcessorMismatch(processor)).toEqual(expect.any(String));
  });
});
