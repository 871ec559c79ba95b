import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CreateSessionDocument, GenerateSessionPdfDocument } from '../../src/generated/graphql.ts';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { STATUS_SUBSCRIPTION, subscribeSse } from '../support/subscriptions.ts';

const CALLBACK = 'http://localhost:3000/done';
const GRAPHQL_RESPONSE = 'application/graphql-response+json';
const randomIds = (n: number) => Array.from({ length: n }, () => randomUUID());

let gw: TestGateway;
afterEach(() => gw?.close());

async function createSession(token: string) {
  return (await gw.client(token).request(CreateSessionDocument, { input: { callback: CALLBACK } })).createSession.session.id;
}

/** A raw POST /graphql (the JSON fast path), with the answer's status and headers. */
async function post(token: string, query: string, variables: Record<string, unknown> = {}, accept = 'application/json') {
  const response = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  return { ...body, status: response.status, retryAfter: response.headers.get('retry-after') };
}

describe('what one operation may ask of Didit', () => {
  it('refuses 15 aliases of sessions(ids:) with 100 ids each (1,500 reads) before any upstream call', async () => {
    gw = await startTestGateway();
    const reviewer = await gw.token('office', ['reviewer']);
    const aliases = Array.from({ length: 15 }, (_, i) => i);
    const query = `query Spend(${aliases.map((i) => `$i${i}: [ID!]!`).join(', ')}) { ${aliases.map((i) => `a${i}: sessions(ids: $i${i}) { id status }`).join(' ')} }`;
    const variables = Object.fromEntries(aliases.map((i) => [`i${i}`, randomIds(100)]));

    const refused = await post(reviewer, query, variables);
    expect(refused.data).toBeUndefined();
    expect(refused.errors).toMatchObject([{ extensions: { code: 'BAD_USER_INPUT' } }]);
    expect(refused.errors![0]!.message).toMatch(/at most 100 distinct sessions.*this one reads 1500/);
    // A request error, before execution: 400 where the client speaks graphql-response+json.
    expect((await post(reviewer, query, variables, GRAPHQL_RESPONSE)).status).toBe(400);
    expect(gw.upstream('decision')).toBe(0);

    // The same ids spread so that at most 100 are distinct pass the count (and sessions' own check).
    const shared = randomIds(100);
    const allowed = await post(reviewer, query, Object.fromEntries(aliases.map((i) => [`i${i}`, shared])));
    expect(new Set(codes(allowed))).toEqual(new Set(['NOT_FOUND']));
  });

  it('follows MAX_SESSIONS_PER_OPERATION', async () => {
    gw = await startTestGateway({ MAX_SESSIONS_PER_OPERATION: '3' });
    const reviewer = await gw.token('office', ['reviewer']);
    const query = `query($ids: [ID!]!, $one: ID!) { sessions(ids: $ids) { id } session(id: $one) { id } }`;
    const [a, b, c, d] = randomIds(4);
    expect(codes(await post(reviewer, query, { ids: [a, b], one: c }))).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
    const refused = await post(reviewer, query, { ids: [a, b, c], one: d });
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    expect(refused.errors![0]!.message).toContain('at most 3 distinct sessions');
    expect(gw.upstream('decision')).toBe(3);
  });
});

describe("each caller's share of Didit", () => {
  it('answers an applicant spamming random ids RATE_LIMITED (limit: caller), while other callers keep reading', async () => {
    // Didit's own limits, and no caching: every read below is a real upstream read.
    gw = await startTestGateway({
      DIDIT_DECISIONS_PER_MINUTE: '100',
      DECISION_CACHE_TTL_ACTIVE_MS: '0',
      DECISION_CACHE_TTL_FINAL_MS: '0',
      RESPONSE_CACHE_MAX: '0',
    });
    const [spammer, honest, other, reviewer] = await Promise.all([gw.token('spammer'), gw.token('honest'), gw.token('other'), gw.token('office', ['reviewer'])]);
    const own = await createSession(honest);
    const theirs = await createSession(other);
    const read = `query($id: ID!) { session(id: $id) { id status } }`;

    for (let round = 0; round < 3; round++) {
      const spam = await post(spammer, `query($ids: [ID!]!) { sessions(ids: $ids) { id } }`, { ids: randomIds(100) });
      const limited = spam.errors!.filter((e) => e.extensions?.code === 'RATE_LIMITED');
      // 20 % of 100 a minute, 5 of them at once: the rest of the first 100, and every later one, refused.
      expect(limited.length).toBeGreaterThanOrEqual(95);
      for (const error of limited) expect(error.extensions).toMatchObject({ limit: 'caller', retryAfter: expect.any(Number) });
      expect(Number(spam.retryAfter)).toBeGreaterThanOrEqual(1);

      const mine = await post(honest, read, { id: own });
      expect(mine.errors).toBeUndefined();
      expect(mine.data.session.id).toBe(own);
      const reviewed = await post(reviewer, read, { id: theirs });
      expect(reviewed.errors).toBeUndefined();
      expect(reviewed.data.session.id).toBe(theirs);
    }
    // The spammer's reads that reached Didit: its share's burst, no more.
    expect(gw.upstream('decision')).toBeLessThanOrEqual(5 + 1 + 2 * 3);
  });

  it('keeps the reviewers’ reserve: applicants together cannot use it', async () => {
    // 40 a minute; each caller 50 % (20: 5 at once), applicants together 25 % (10: 2 at once).
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '40', DIDIT_CALLER_SHARE: '50', DIDIT_REVIEWER_RESERVE: '75%' });
    const applicants = await Promise.all([gw.token('a1'), gw.token('a2'), gw.token('a3')]);
    const reviewer = await gw.token('office', ['reviewer']);
    const results = [];
    for (const applicant of applicants) results.push(await post(applicant, `{ session(id: "${randomUUID()}") { id } }`));
    expect(results.map(codes)).toEqual([['NOT_FOUND'], ['NOT_FOUND'], ['RATE_LIMITED']]);
    expect(results[2]!.errors![0]!.extensions).toMatchObject({ limit: 'didit' });
    expect(codes(await post(reviewer, `{ session(id: "${randomUUID()}") { id } }`))).toEqual(['NOT_FOUND']);
    expect(gw.upstream('decision')).toBe(3);
  });

  it('does not charge a subscriber for the reads its events need: Didit caused them', async () => {
    // 4 % of 100: 4 reads a minute per caller, one at once. No caching: each read is upstream.
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', DIDIT_CALLER_SHARE: '4', DECISION_CACHE_TTL_ACTIVE_MS: '0', DECISION_CACHE_TTL_FINAL_MS: '0' });
    const owner = await gw.token('owner');
    const id = await createSession(owner);
    const sub = subscribeSse(gw.url, owner, STATUS_SUBSCRIPTION, { id });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));
    // Subscribing read the session: the owner's share is used up for now.
    expect(codes(await post(owner, `{ session(id: "${id}") { id } }`))).toEqual(['RATE_LIMITED']);

    const reads = gw.upstream('decision');
    gw.sandboxInstance.complete(id, 'Approved');
    const events = await sub.next(2);
    for (const event of events) {
      expect(event.errors).toBeUndefined();
      expect(event.data!.sessionStatusChanged.session).toMatchObject({ id });
    }
    expect(gw.upstream('decision')).toBeGreaterThan(reads);
    await sub.close();
  });

  it("charges each PDF download to whoever made the link, and only them", async () => {
    // 50 PDFs a minute: 10 per caller, 2 of them at once.
    gw = await startTestGateway({ DIDIT_PDFS_PER_MINUTE: '50' });
    const [first, second] = await Promise.all([gw.token('office-1', ['reviewer']), gw.token('office-2', ['reviewer'])]);
    const id = await createSession(await gw.token('someone'));
    gw.sandboxInstance.complete(id, 'Approved');
    const link = async (token: string) => new URL((await gw.client(token).request(GenerateSessionPdfDocument, { sessionId: id })).generateSessionPdf.url);
    const download = (url: URL) => fetch(`${gw.url}${url.pathname}${url.search}`);

    const mine = await link(first);
    expect(mine.searchParams.get('by')).not.toContain('office');
    expect((await download(mine)).status).toBe(200);
    expect((await download(mine)).status).toBe(200);
    const refused = await download(mine);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ limit: 'caller' });
    expect(gw.upstream('pdf')).toBe(2);

    const theirs = await link(second);
    expect((await download(theirs)).status).toBe(200);
    // Who pays is signed: a link cannot be charged to someone else.
    const moved = new URL(mine);
    moved.searchParams.set('by', theirs.searchParams.get('by')!);
    expect((await download(moved)).status).toBe(403);
    expect(gw.upstream('pdf')).toBe(3);
  });
});

describe('RATE_LIMITED over HTTP', () => {
  it('says Retry-After, and 429 to graphql-response+json clients, on the fast path and through Yoga', async () => {
    gw = await startTestGateway({ RATE_LIMIT_PER_MINUTE: '2' });
    const caller = await gw.token('busy');
    expect((await post(caller, '{ __typename }')).status).toBe(200);
    expect((await post(caller, '{ __typename }')).status).toBe(200);

    const fast = await post(caller, '{ __typename }', {}, GRAPHQL_RESPONSE);
    expect(fast.status).toBe(429);
    expect(Number(fast.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(fast.errors![0]!.extensions).toEqual({ code: 'RATE_LIMITED', limit: 'caller', retryAfter: Number(fast.retryAfter) });

    const plain = await post(caller, '{ __typename }');
    expect(plain.status).toBe(200);
    expect(Number(plain.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(codes(plain)).toEqual(['RATE_LIMITED']);

    // GET is Yoga's own path.
    const viaYoga = await fetch(`${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: GRAPHQL_RESPONSE, authorization: `Bearer ${caller}`, 'x-graphql-csrf': '1' },
    });
    expect(viaYoga.status).toBe(429);
    expect(Number(viaYoga.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await viaYoga.json()) as { errors: unknown[] }).errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED', limit: 'caller' } }]);
  });

  it("marks Didit's own 429 as limit: didit, with its Retry-After", async () => {
    gw = await startTestGateway({}, { didit: { maxRetryAfterSeconds: 0 } });
    const reviewer = await gw.token('office', ['reviewer']);
    gw.sandboxInstance.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 40 });
    const answer = await post(reviewer, `{ session(id: "${randomUUID()}") { id } }`, {}, GRAPHQL_RESPONSE);
    // Refused while running, not before: a GraphQL answer (200) that says how long to wait.
    expect(answer.status).toBe(200);
    expect(answer.retryAfter).toBe('40');
    expect(answer.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'didit', retryAfter: 40 });
  });
});
