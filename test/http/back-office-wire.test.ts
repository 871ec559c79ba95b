import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startFakeUpstream } from '../support/fake-upstream.ts';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The back office in v3 mode against a strict fake Didit: every wire request is named here. */
const KEY = 'wire-test-api-key-0123456789';
const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const WORKFLOW = 'a2b4c6d8-1234-4abc-8def-0123456789ab';
const row = (id: string, vendor: string, number: number) => ({
  session_id: id,
  session_number: number,
  session_url: `https://verify.didit.me/session/${number}`,
  status: 'In Review',
  vendor_data: vendor,
  created_at: '2026-11-30T10:00:00.000000Z',
  full_name: 'Ana Lima',
  document_type: 'P',
  country: 'PRT',
  features: [{ feature: 'ID_VERIFICATION', status: 'Approved' }],
});
const decision = (id: string, vendor: string, status = 'In Review') => ({
  session_id: id,
  session_number: 1,
  session_url: 'https://verify.didit.me/session/1',
  status,
  vendor_data: vendor,
  workflow_id: WORKFLOW,
  features: ['ID_VERIFICATION'],
  id_verifications: [{ node_id: 'feature_ocr', status: 'Declined', full_name: 'Ana Lima' }],
  reviews: [],
});

let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
let gw: TestGateway;
let reviewer: string;
let applicant: string;
let statusA = 'In Review';
let deleted = false;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    'GET /v3/sessions/?limit=2&offset=0&country=PRT&status=In+Review%2CApproved': (_, res) =>
      json(res, 200, { count: 3, next: 'x', previous: null, results: [row(A, 'user-a', 3), row(B, 'user-b', 2)] }),
    'GET /v3/sessions/?limit=2&offset=2&country=PRT&status=In+Review%2CApproved': (_, res) =>
      json(res, 200, { count: 3, next: null, previous: 'x', results: [row('33333333-3333-4333-8333-333333333333', 'user-c', 1)] }),
    // An applicant's search always carries their own sub; a foreign row in the answer is dropped.
    'GET /v3/sessions/?limit=20&offset=0&vendor_data=user-a': (_, res) => json(res, 200, { count: 2, results: [row(A, 'user-a', 3), row(B, 'user-b', 2)] }),
    'GET /v3/workflows/': (_, res) => json(res, 200, [{ uuid: 'x', workflow_id: WORKFLOW, workflow_label: 'KYC', workflow_type: 'kyc', is_default: true, features: ['OCR', 'LIVENESS'], version: 3 }]),
    [`PATCH /v3/session/${A}/update-status/`]: (req, res) => {
      statusA = JSON.parse(req.body).new_status;
      json(res, 200, { session_id: A });
    },
    [`POST /v3/sessions/${A}/reviews/`]: (req, res) => {
      statusA = JSON.parse(req.body).new_status;
      json(res, 201, { user: 'API Client', new_status: statusA, comment: JSON.parse(req.body).comment, created_at: '2026-11-30T10:00:00Z' });
    },
    [`GET /v3/sessions/${A}/reviews/?limit=1&offset=0`]: (_, res) =>
      json(res, 200, { count: 2, results: [{ uuid: 'r1', activity_type: 'STATUS_UPDATED', actor_display: 'API Client', actor_type: 'API_KEY', new_status: 'Approved', previous_status: 'In Review', comment: 'ok', created_at: '2026-11-30T10:00:00Z' }] }),
    [`GET /v3/session/${A}/decision/`]: (_, res) => (deleted ? json(res, 404, { detail: 'Not found.' }) : json(res, 200, decision(A, 'user-a', statusA))),
    [`DELETE /v3/session/${A}/delete/`]: (_, res) => {
      const first = !deleted;
      deleted = true;
      if (first) res.writeHead(204).end();
      else json(res, 404, { detail: 'Not found.' });
    },
  });
  gw = await startTestGateway({ DIDIT_API_KEY: KEY, DIDIT_API_URL: upstream.url, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com', DECISION_CACHE_TTL_FINAL_MS: '0', DECISION_CACHE_TTL_ACTIVE_MS: '0' });
  reviewer = await gw.token('rev-1', ['reviewer']);
  applicant = await gw.token('user-a');
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const SEARCH = `query ($filter: SessionSearchFilter, $first: Int, $after: String) {
  searchSessions(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id number status vendorData fullName documentType country createdAt } }
  }
}`;

describe('back office on Didit v3 (wire)', () => {
  it('searches page by page with opaque cursors, and every request carries the API key', async () => {
    const first = await gw.post(reviewer, SEARCH, { filter: { statuses: ['IN_REVIEW', 'APPROVED'], country: 'PRT' }, first: 2 });
    expect(first.errors).toBeUndefined();
    const page = first.data!.searchSessions;
    expect(page.totalCount).toBe(3);
    expect(page.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expect(page.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([A, B]);
    expect(page.edges[0].node).toMatchObject({ number: 3, status: 'IN_REVIEW', fullName: 'Ana Lima', documentType: 'P', country: 'PRT', createdAt: '2026-11-30T10:00:00.000Z' });
    expect(page.pageInfo.endCursor).not.toMatch(/^\d+$/);
    const second = await gw.post(reviewer, SEARCH, { filter: { statuses: ['IN_REVIEW', 'APPROVED'], country: 'PRT' }, first: 2, after: page.pageInfo.endCursor });
    expect(second.data!.searchSessions.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expect(upstream.unexpected).toEqual([]);
    expect(upstream.requests.every((r) => r.headers['x-api-key'] === KEY && r.headers.authorization === undefined)).toBe(true);
  });

  it("narrows an applicant's search to their own sessions, whatever they pass", async () => {
    const own = await gw.post(applicant, SEARCH, {});
    expect(own.data!.searchSessions.edges.map((e: { node: { vendorData: string } }) => e.node.vendorData)).toEqual(['user-a']);
    const foreign = await gw.post(applicant, SEARCH, { filter: { vendorData: 'user-b' } });
    expect(codes(foreign)).toEqual(['FORBIDDEN']);
    expect(codes(await gw.post(reviewer, SEARCH, { first: 101 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gw.post(reviewer, SEARCH, { after: 'bm90LWEtY3Vyc29y' }))).toEqual(['BAD_USER_INPUT']);
    expect(upstream.unexpected).toEqual([]);
  });

  it('lists workflows for reviewers only', async () => {
    const listed = await gw.post(reviewer, '{ workflows { id label type features isDefault version } }');
    expect(listed.data!.workflows).toEqual([{ id: WORKFLOW, label: 'KYC', type: 'kyc', features: ['OCR', 'LIVENESS'], isDefault: true, version: 3 }]);
    expect(codes(await gw.post(applicant, '{ workflows { id } }'))).toEqual(['FORBIDDEN']);
  });

  it('resubmits named steps, adds a signed review, and pages the activity feed', async () => {
    const before = upstream.requests.length;
    const resubmitted = await gw.post(
      reviewer,
      `mutation ($id: ID!) { resubmitSession(input: { sessionId: $id, steps: [{ nodeId: "feature_ocr", feature: "OCR" }], comment: "Blurred", sendEmail: true, emailAddress: "ana@example.com" }) { session { status } } }`,
      { id: A },
    );
    expect(resubmitted.errors).toBeUndefined();
    expect(resubmitted.data!.resubmitSession.session.status).toBe('RESUBMITTED');
    const patch = upstream.requests.slice(before).find((r) => r.method === 'PATCH')!;
    expect(JSON.parse(patch.body)).toEqual({ new_status: 'Resubmitted', comment: 'Blurred', send_email: true, email_address: 'ana@example.com', nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }] });

    const reviewed = await gw.post(reviewer, `mutation ($id: ID!) { addSessionReview(input: { sessionId: $id, status: APPROVED, comment: "Checked" }) { session { status decision { reviews(first: 1) { user newStatus previousStatus activityType comment } } } } }`, { id: A });
    expect(reviewed.errors).toBeUndefined();
    expect(reviewed.data!.addSessionReview.session.status).toBe('APPROVED');
    expect(reviewed.data!.addSessionReview.session.decision.reviews).toEqual([{ user: 'API Client', newStatus: 'APPROVED', previousStatus: 'IN_REVIEW', activityType: 'STATUS_UPDATED', comment: 'ok' }]);
    const post = upstream.requests.find((r) => r.method === 'POST' && r.path.endsWith('/reviews/'))!;
    expect(JSON.parse(post.body)).toEqual({ new_status: 'Approved', comment: 'Checked' });
    expect(gw.logs.text).toContain('session reviewed');
    expect(gw.logs.text).not.toContain('rev-1');
    for (const mutation of ['resubmitSession(input: { sessionId: $id })', 'addSessionReview(input: { sessionId: $id, status: APPROVED })']) {
      expect(codes(await gw.post(applicant, `mutation ($id: ID!) { ${mutation} { session { id } } }`, { id: A }))).toEqual(['FORBIDDEN']);
    }
    expect(upstream.unexpected).toEqual([]);
  });

  it('erases a session: deleting twice is no error, and reads then answer NOT_FOUND', async () => {
    const DELETE = 'mutation ($id: ID!) { deleteSession(sessionId: $id) { sessionId deleted } }';
    expect(codes(await gw.post(applicant, DELETE, { id: A }))).toEqual(['FORBIDDEN']);
    expect((await gw.post(reviewer, DELETE, { id: A })).data!.deleteSession).toEqual({ sessionId: A, deleted: true });
    expect((await gw.post(reviewer, DELETE, { id: A })).data!.deleteSession).toEqual({ sessionId: A, deleted: true });
    expect(codes(await gw.post(reviewer, 'query ($id: ID!) { session(id: $id) { status } }', { id: A }))).toEqual(['NOT_FOUND']);
    expect(upstream.unexpected).toEqual([]);
  });
});

describe('back office with Didit v1', () => {
  let v1: TestGateway;
  beforeAll(async () => {
    v1 = await startTestGateway();
  });
  afterAll(() => v1?.close());

  // searchSessions answers from the gateway's session index with v1 (test/http/session-index.test.ts).
  it.each([
    ['{ workflows { id } }'],
    [`mutation { deleteSession(sessionId: "${A}") { deleted } }`],
    [`mutation { resubmitSession(input: { sessionId: "${A}" }) { session { id } } }`],
    [`mutation { addSessionReview(input: { sessionId: "${A}", status: APPROVED }) { session { id } } }`],
  ])('%s answers REQUIRES_DIDIT_V3, naming v3', async (query) => {
    const token = await v1.token('rev', ['reviewer']);
    const result = await v1.post(token, query);
    expect(codes(result)).toEqual(['REQUIRES_DIDIT_V3']);
    expect(result.errors![0]!.message).toMatch(/v3.*DIDIT_API_KEY/);
    expect(v1.sandboxInstance.requests.filter((r) => r.endpoint !== 'token')).toEqual([]);
  });
});

describe('searches are paced and charged', () => {
  it("are paced under Didit's GET limit: past its burst, a search that may not wait is refused", async () => {
    const upstream = await startFakeUpstream({
      'GET /v3/sessions/?limit=1&offset=0&vendor_data=spammer': (_, res) => json(res, 200, { count: 0, results: [] }),
      'GET /v3/sessions/?limit=1&offset=0': (_, res) => json(res, 200, { count: 0, results: [] }),
    });
    // Didit takes 600 GETs a minute: 150 at once, then one every 134 ms; here a call may not wait.
    const small = await startTestGateway({ DIDIT_API_KEY: KEY, DIDIT_API_URL: upstream.url, DIDIT_QUEUE_WAIT_MS: '0', DIDIT_QUEUE_PER_CALLER: '200', RATE_LIMIT_PER_MINUTE: '1000' });
    try {
      const spammer = await small.token('spammer');
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 200 }, () => small.post(spammer, '{ searchSessions(first: 1) { totalCount } }')));
      const elapsed = Date.now() - started;
      const refused = results.filter((r) => codes(r)[0] === 'RATE_LIMITED');
      expect(refused[0]!.errors![0]!.extensions).toMatchObject({ limit: 'didit' });
      // Didit's burst and what its pace added meanwhile, no more.
      expect(upstream.requests.length).toBe(200 - refused.length);
      expect(upstream.requests.length).toBeLessThanOrEqual(150 + Math.ceil(elapsed / 133) + 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const office = await small.post(await small.token('office', ['reviewer']), '{ searchSessions(first: 1) { totalCount } }');
      expect(office.errors).toBeUndefined();
    } finally {
      await small.close();
      await upstream.close();
    }
  });

  it('counts the rows of a search page that selects decisions toward MAX_SESSIONS_PER_OPERATION', async () => {
    const gw = await startTestGateway({ SANDBOX_API_VERSION: 'v3', MAX_SESSIONS_PER_OPERATION: '10' });
    try {
      const reviewer = await gw.token('office', ['reviewer']);
      const withDecisions = await gw.post(reviewer, '{ searchSessions(first: 20) { nodes { id decision { status } } } }');
      expect(codes(withDecisions)).toEqual(['BAD_USER_INPUT']);
      expect(withDecisions.errors![0]!.message).toMatch(/at most 10 distinct sessions.*this one reads 20/);
      const viaFragment = await gw.post(reviewer, '{ searchSessions(first: 11) { edges { node { ...D } } } } fragment D on Session { decision { status } }');
      expect(codes(viaFragment)).toEqual(['BAD_USER_INPUT']);
      expect(codes(await gw.post(reviewer, '{ searchSessions(first: 10) { nodes { id decision { status } } } }'))).toEqual([]);
      expect(codes(await gw.post(reviewer, '{ searchSessions(first: 20) { nodes { id status } } }'))).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});
