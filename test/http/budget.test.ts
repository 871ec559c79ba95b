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

/** Sessions created straight in the sandbox (no budget spent), owned by `vendorData`. */
async function created(count: number, vendorData: string) {
  const ids = [];
  for (let i = 0; i < count; i++) ids.push((await gw.services.didit.createSession({ callback: CALLBACK, vendorData })).id);
  return ids;
}

const READ = `query($id: ID!) { session(id: $id) { id status } }`;
/** No caching: every read below is a real upstream read. */
const UNCACHED = { DECISION_CACHE_TTL_ACTIVE_MS: '0', DECISION_CACHE_TTL_FINAL_MS: '0', NOT_FOUND_TTL_MS: '0', RESPONSE_CACHE_MAX: '0' };

/** The scheduler's counters from /metrics, by level and outcome. */
async function budgetCounts(endpoint = 'decision') {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^gateway_budget_calls_total\{level="(\w+)",endpoint="(\w+)",outcome="(\w+)"\} (\d+)$/gm)) {
    if (match[2] === endpoint) counts[`${match[1]}:${match[3]}`] = Number(match[4]);
  }
  return counts;
}

/** Reads random ids (each a Didit read) in a loop until `until` resolves: a caller flooding Didit. */
function flood(token: string, until: Promise<unknown>) {
  let done = false;
  void until.then(() => (done = true));
  let refused = 0;
  return (async () => {
    while (!done) {
      const answer = await post(token, `query($ids: [ID!]!) { sessions(ids: $ids) { id } }`, { ids: randomIds(10) });
      refused += (answer.errors ?? []).filter((e) => e.extensions?.code === 'RATE_LIMITED').length;
    }
    return refused;
  })();
}

describe("Didit's budget, scheduled", () => {
  it("lets a lone reviewer's 30 uncached reads at once all through, waiting their turns (Didit's pace: 26 at once)", async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', ...UNCACHED });
    const ids = await created(30, 'someone');
    const reviewer = await gw.token('office', ['reviewer']);
    const answer = await post(reviewer, `query($ids: [ID!]!) { sessions(ids: $ids) { id status } }`, { ids });
    expect(answer.errors).toBeUndefined();
    expect(answer.data.sessions.map((s: { id: string }) => s.id)).toEqual(ids);
    expect(gw.upstream('decision')).toBe(30);
    const counts = await budgetCounts();
    expect((counts['reviewers:served'] ?? 0) + (counts['reviewers:waited'] ?? 0)).toBe(30);
    expect(counts['reviewers:waited']).toBeGreaterThan(0);
  });

  it('lets a lone applicant read their 10 sessions one after another, and 10 at once', async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', ...UNCACHED });
    const applicant = await gw.token('applicant-1');
    const ids = await created(20, 'applicant-1');
    for (const id of ids.slice(0, 10)) expect((await post(applicant, READ, { id })).errors).toBeUndefined();
    const batch = await post(applicant, `query($ids: [ID!]!) { sessions(ids: $ids) { id } }`, { ids: ids.slice(10) });
    expect(batch.errors).toBeUndefined();
    expect(batch.data.sessions).toHaveLength(10);
  });

  it('lets a reviewer who has just used Didit\'s burst subscribe and hear events', async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', ...UNCACHED });
    const reviewer = await gw.token('office', ['reviewer']);
    const ids = await created(26, 'someone');
    expect((await post(reviewer, `query($ids: [ID!]!) { sessions(ids: $ids) { id } }`, { ids: ids.slice(0, 25) })).errors).toBeUndefined();
    const sub = subscribeSse(gw.url, reviewer, STATUS_SUBSCRIPTION, { id: ids[25] });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1), { timeout: 5000 });
    gw.sandboxInstance.complete(ids[25]!, 'Approved');
    const events = await sub.next(2);
    for (const event of events) expect(event.errors).toBeUndefined();
    expect(events.at(-1)!.data!.sessionStatusChanged.session).toMatchObject({ id: ids[25], status: 'APPROVED' });
    await sub.close();
    // The reads the events needed were background work.
    const counts = await budgetCounts();
    expect((counts['background:served'] ?? 0) + (counts['background:waited'] ?? 0)).toBeGreaterThan(0);
  });

  it.each([1, 10])('serves four other callers within the queue wait while %i applicant account(s) flood Didit', async (accounts) => {
    // 600 a minute: a turn every 133 ms, so that the test is short; the rules do not depend on it.
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '600', ...UNCACHED });
    const attackers = await Promise.all(Array.from({ length: accounts }, (_, i) => gw.token(`attacker-${i}`)));
    const others = await Promise.all([gw.token('honest-1'), gw.token('honest-2'), gw.token('office-1', ['reviewer']), gw.token('office-2', ['reviewer'])]);
    const own = await Promise.all(['honest-1', 'honest-2', 'x', 'y'].map((owner) => created(5, owner)));
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const floods = attackers.map((token) => flood(token, stopped));
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const waits: number[] = [];
    const results = await Promise.all(
      others.map(async (token, i) => {
        const answers = [];
        for (const id of own[i]!) {
          const started = Date.now();
          answers.push(await post(token, READ, { id }));
          waits.push(Date.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
        return answers;
      }),
    );
    stop();
    await Promise.all(floods);
    for (const answers of results) for (const answer of answers) expect(answer.errors).toBeUndefined();
    expect(Math.max(...waits)).toBeLessThan(5000);
  });

  it("keeps the reviewers' part while ten applicant accounts flood: reviewers get half of Didit's reads", async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '600', ...UNCACHED });
    const attackers = await Promise.all(Array.from({ length: 10 }, (_, i) => gw.token(`attacker-${i}`)));
    const reviewer = await gw.token('office', ['reviewer']);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const floods = [...attackers, reviewer].map((token) => flood(token, stopped));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = await budgetCounts();
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const after = await budgetCounts();
    stop();
    await Promise.all(floods);
    const served = (counts: Record<string, number>, level: string) => (counts[`${level}:served`] ?? 0) + (counts[`${level}:waited`] ?? 0);
    const reviewers = served(after, 'reviewers') - served(before, 'reviewers');
    const applicants = served(after, 'applicants') - served(before, 'applicants');
    // 450 a minute once the burst is spent: 45 in 6 s, half of them the reviewer's.
    expect(reviewers + applicants).toBeGreaterThanOrEqual(40);
    expect(reviewers / (reviewers + applicants)).toBeGreaterThanOrEqual(0.45);
  });

  it('answers a call whose turn would come after DIDIT_QUEUE_WAIT_MS at once, with an honest Retry-After', async () => {
    // 20 a minute: 6 at once, then one every 4 s; a call may wait 1 s.
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '20', DIDIT_QUEUE_WAIT_MS: '1000', ...UNCACHED });
    const applicant = await gw.token('applicant-1');
    const ids = await created(8, 'applicant-1');
    for (const id of ids.slice(0, 6)) expect((await post(applicant, READ, { id })).errors).toBeUndefined();
    const started = Date.now();
    const refused = await post(applicant, READ, { id: ids[6] });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'didit' });
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(3);
    expect(retryAfter).toBeLessThanOrEqual(5);
    // Nothing else changed: a retry after that long succeeds.
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    expect((await post(applicant, READ, { id: ids[6] })).errors).toBeUndefined();
  });

  it("bounds each caller's queue (DIDIT_QUEUE_PER_CALLER): more is refused with limit: caller", async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '600', DIDIT_QUEUE_PER_CALLER: '8', ...UNCACHED });
    const reviewer = await gw.token('office', ['reviewer']);
    const answer = await post(reviewer, `query($ids: [ID!]!) { sessions(ids: $ids) { id } }`, { ids: randomIds(10) });
    const limits = (answer.errors ?? []).filter((e) => e.extensions?.code === 'RATE_LIMITED').map((e) => e.extensions!.limit);
    expect(limits).toEqual(['caller', 'caller']);
  });

  it('makes one read and one charge of concurrent misses of one session by several callers', async () => {
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '100', ...UNCACHED });
    const [id] = await created(1, 'someone');
    const reviewers = await Promise.all(Array.from({ length: 6 }, (_, i) => gw.token(`office-${i}`, ['reviewer'])));
    gw.sandboxInstance.injectFault({ kind: 'latency', endpoint: 'decision', latencyMs: 300 });
    const answers = await Promise.all(reviewers.map((token) => post(token, READ, { id })));
    for (const answer of answers) expect(answer.errors).toBeUndefined();
    expect(gw.upstream('decision')).toBe(1);
    const counts = await budgetCounts();
    expect((counts['reviewers:served'] ?? 0) + (counts['reviewers:waited'] ?? 0)).toBe(1);
  });

  it("charges each PDF download to whoever made the link, and a link serves PDF_LINK_MAX_DOWNLOADS downloads", async () => {
    gw = await startTestGateway({ PDF_LINK_MAX_DOWNLOADS: '2' });
    const [first, second] = await Promise.all([gw.token('office-1', ['reviewer']), gw.token('office-2', ['reviewer'])]);
    const id = await createSession(await gw.token('someone'));
    gw.sandboxInstance.complete(id, 'Approved');
    const link = async (token: string) => new URL((await gw.client(token).request(GenerateSessionPdfDocument, { sessionId: id })).generateSessionPdf.url);
    const download = (url: URL) => fetch(`${gw.url}${url.pathname}${url.search}`);

    const mine = await link(first);
    expect(mine.searchParams.get('by')).not.toContain('office');
    expect((await download(mine)).status).toBe(200);
    expect((await download(mine)).status).toBe(200);
    // A leaked link cannot spend its maker's part of Didit's PDFs: used up, without a Didit call.
    const used = await download(mine);
    expect(used.status).toBe(410);
    expect(gw.upstream('pdf')).toBe(2);
    // Its maker is not held back by it.
    expect((await download(await link(first))).status).toBe(200);

    const theirs = await link(second);
    // Who pays is signed: a link cannot be charged to someone else.
    const moved = new URL(mine);
    moved.searchParams.set('by', theirs.searchParams.get('by')!);
    expect((await download(moved)).status).toBe(403);
    expect((await download(theirs)).status).toBe(200);
    expect(gw.upstream('pdf')).toBe(4);
    const pdfs = await budgetCounts('pdf');
    expect((pdfs['reviewers:served'] ?? 0) + (pdfs['reviewers:waited'] ?? 0)).toBe(4);
  });
  it("answers a reviewer's change as made when Didit's budget is spent: the read after it waits for its turn", async () => {
    // 12 a minute: 3 at once, then one every 6.8 s; a read waits 200 ms at most.
    gw = await startTestGateway({ DIDIT_DECISIONS_PER_MINUTE: '12', DIDIT_QUEUE_WAIT_MS: '200' });
    const reviewer = await gw.token('office', ['reviewer']);
    const [id] = await created(1, 'applicant-x');
    gw.sandboxInstance.complete(id!, 'In Review');
    expect((await post(reviewer, READ, { id })).data.session.status).toBe('IN_REVIEW');
    // The window spent on ids nobody created, until reads are refused.
    for (let i = 0; i < 10 && !codes(await post(reviewer, READ, { id: randomUUID() })).includes('RATE_LIMITED'); i++);
    expect(codes(await post(reviewer, READ, { id: randomUUID() }))).toEqual(['RATE_LIMITED']);
    const approved = await post(reviewer, 'mutation($id: ID!) { updateSessionStatus(input: { sessionId: $id, status: APPROVED }) { session { status } } }', { id });
    expect(approved.errors).toBeUndefined();
    expect(approved.data.updateSessionStatus.session.status).toBe('APPROVED');
  });

  it('takes no turn for a read the open circuit breaker refuses at once: an outage spends none of Didit’s window', async () => {
    gw = await startTestGateway(UNCACHED);
    const reviewer = await gw.token('office', ['reviewer']);
    const breakerOpen = async () => /^gateway_didit_circuit_open 1$/m.test(await (await fetch(`${gw.url}/metrics`)).text());
    gw.sandboxInstance.setFaultRates({ errorRate: 1 });
    try {
      for (let i = 0; i < 20 && !(await breakerOpen()); i++) await post(reviewer, READ, { id: randomUUID() });
      expect(await breakerOpen()).toBe(true);
      const before = await budgetCounts();
      const answers = await Promise.all(Array.from({ length: 10 }, () => post(reviewer, READ, { id: randomUUID() })));
      expect(answers.flatMap(codes)).toEqual(Array(10).fill('UPSTREAM_UNAVAILABLE'));
      const after = await budgetCounts();
      // (One read may be the half-open probe, if the break ends meanwhile: that one is a real call.)
      const turns = (c: Record<string, number>) => (c['reviewers:served'] ?? 0) + (c['reviewers:waited'] ?? 0);
      expect(turns(after) - turns(before)).toBeLessThanOrEqual(1);
    } finally {
      gw.sandboxInstance.clearFaults();
    }
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
    // Nobody calls Didit before it said: another caller is told so at once, not after the queue wait.
    const started = Date.now();
    const held = await post(await gw.token('office-2', ['reviewer']), `{ session(id: "${randomUUID()}") { id } }`);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(held.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'didit' });
    expect(Number(held.retryAfter)).toBeGreaterThanOrEqual(38);
    expect(gw.upstream('decision')).toBe(1);
  });
});
