import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, type TestGateway } from '../support/gateway.ts';
import { TEST_PSEUDONYM_KEY, createDatabase } from '../support/postgres.ts';
import { CREATE, DELETE, EVENTS, INTEGRITY, PDF, READ, RESUBMIT, REVIEW, UPDATE, allEvents, createFinished, startAuditedGateway } from './support.ts';

/** Records for each action, and who may read them, against the machine's PostgreSQL. */
let database: Awaited<ReturnType<typeof createDatabase>>;
let gw: TestGateway;
let reviewer: string;
let applicant: string;
let auditor: string;

beforeAll(async () => {
  database = await createDatabase('trail');
  gw = await startAuditedGateway(database.url);
  reviewer = await gw.token('rev-1@example.com', ['reviewer']);
  applicant = await gw.token('user-a');
  auditor = await gw.token('auditor-1', ['auditor']);
});

afterAll(async () => {
  await gw?.close();
  await database?.drop();
});

describe('the audit trail', () => {
  it("records each reviewer action twice (STARTED before Didit, then its outcome), with who, roles, statuses, comment and the request's id", async () => {
    const id = await createFinished(gw, reviewer);
    const review = await gw.post(reviewer, REVIEW, { id, comment: 'document blurry' }, { 'x-request-id': 'req-review-1' });
    expect(review.errors).toBeUndefined();
    const update = await gw.post(reviewer, UPDATE, { id, status: 'APPROVED', comment: 'checked by hand' }, { 'x-request-id': 'req-update-1' });
    expect(update.errors).toBeUndefined();
    expect((await gw.post(reviewer, PDF, { id })).errors).toBeUndefined();
    await gw.post(reviewer, RESUBMIT, { id, comment: 'again please' });

    const events = await allEvents(gw, { sessionId: id });
    const actions = events.filter((e) => e.action !== 'READ_PERSONAL_DATA');
    expect(actions.map((e) => [e.action, e.outcome])).toEqual([
      ['CREATE_SESSION', 'DONE'],
      ['ADD_SESSION_REVIEW', 'STARTED'],
      ['ADD_SESSION_REVIEW', 'DONE'],
      ['UPDATE_SESSION_STATUS', 'STARTED'],
      ['UPDATE_SESSION_STATUS', 'DONE'],
      ['GENERATE_SESSION_PDF', 'STARTED'],
      ['GENERATE_SESSION_PDF', 'DONE'],
      ['RESUBMIT_SESSION', 'STARTED'],
      expect.arrayContaining(['RESUBMIT_SESSION']),
    ]);
    const started = events.find((e) => e.action === 'UPDATE_SESSION_STATUS' && e.outcome === 'STARTED')!;
    expect(started).toMatchObject({ actor: 'rev-1@example.com', roles: ['reviewer'], sessionId: id, comment: 'checked by hand', requestId: 'req-update-1' });
    const done = events.find((e) => e.action === 'UPDATE_SESSION_STATUS' && e.outcome === 'DONE')!;
    expect(done).toMatchObject({ statusBefore: 'DECLINED', statusAfter: 'APPROVED', requestId: 'req-update-1' });
    expect(events.find((e) => e.action === 'ADD_SESSION_REVIEW' && e.outcome === 'DONE')).toMatchObject({ statusBefore: 'IN_REVIEW', statusAfter: 'DECLINED' });
    // Reads of the session's personal data: one record per reviewer, session and hour.
    await gw.post(reviewer, READ, { id });
    await gw.post(reviewer, READ, { id });
    const reads = (await allEvents(gw, { sessionId: id, action: 'READ_PERSONAL_DATA' })).filter((e) => e.actor === 'rev-1@example.com');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ outcome: 'READ', roles: ['reviewer'] });
    expect((await gw.post(auditor, INTEGRITY)).data!.auditIntegrity).toMatchObject({ intact: true, firstBroken: null });
  });

  it('records refusals with their code, and a comment sent to Didit without the reviewer id', async () => {
    const id = await createFinished(gw, reviewer, 'user-refusals', 'Approved');
    // A session not finished cannot be approved: refused by Didit, on record with its code.
    const fresh = (await gw.post(reviewer, CREATE, { vendorData: 'user-b' })).data!.createSession.session.id;
    expect(codes(await gw.post(reviewer, UPDATE, { id: fresh, status: 'APPROVED', comment: 'too early' }))).toEqual(['FAILED_PRECONDITION']);
    expect(codes(await gw.post(applicant, UPDATE, { id, status: 'APPROVED', comment: 'my own approval' }))).toEqual(['FORBIDDEN']);
    const refused = await allEvents(gw, { action: 'UPDATE_SESSION_STATUS' });
    expect(refused.filter((e) => e.sessionId === fresh).map((e) => e.outcome)).toEqual(['STARTED', 'FAILED_PRECONDITION']);
    const byApplicant = refused.filter((e) => e.sessionId === id);
    expect(byApplicant.map((e) => e.outcome)).toEqual(['STARTED', 'FORBIDDEN']);
    // An applicant's records hold no personal data: no comment, the caller by keyed pseudonym.
    // Keyed with PSEUDONYM_KEY: a list of subs hashed without the key finds nobody.
    const keyed = createHmac('sha256', Buffer.from(TEST_PSEUDONYM_KEY, 'hex')).update('didit-gateway\0sub:user-a').digest('base64url').slice(0, 22);
    expect(byApplicant[0]).toMatchObject({ comment: null, roles: [], actor: `pseudonym:${keyed}` });
    expect(JSON.stringify(byApplicant)).not.toContain('user-a');

    // Didit records what the gateway sends: the comment alone, not the reviewer's id.
    const review = await gw.post(reviewer, REVIEW, { id, comment: 'second look' });
    expect(review.errors).toBeUndefined();
    const reviews = await gw.post(reviewer, `query ($id: ID!) { session(id: $id) { decision { reviews { comment } } } }`, { id });
    expect(reviews.data!.session.decision.reviews.map((r: { comment: string }) => r.comment)).toContain('second look');
  });

  it("records an applicant's own session creation without personal data, and finds it by their sub", async () => {
    const created = await gw.post(applicant, CREATE, {});
    const id = created.data!.createSession.session.id;
    const mine = await allEvents(gw, { actor: 'user-a', action: 'CREATE_SESSION' });
    expect(mine.filter((e) => e.sessionId === id).map((e) => e.outcome)).toEqual(['DONE']);
    expect(mine[0]!.actor).not.toContain('user-a');
  });

  it('lets auditors read everything, a reviewer one session, applicants nothing; filters are checked', async () => {
    expect(codes(await gw.post(applicant, EVENTS, {}))).toEqual(['FORBIDDEN']);
    expect(codes(await gw.post(applicant, EVENTS, { filter: { sessionId: '11111111-1111-4111-8111-111111111111' } }))).toEqual(['FORBIDDEN']);
    expect(codes(await gw.post(reviewer, EVENTS, {}))).toEqual(['FORBIDDEN']);
    expect(codes(await gw.post(undefined, EVENTS, {}))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gw.post(applicant, INTEGRITY))).toEqual(['FORBIDDEN']);
    expect((await gw.post(reviewer, EVENTS, { filter: { sessionId: '11111111-1111-4111-8111-111111111111' } })).data!.auditEvents.edges).toEqual([]);
    for (const [variables, argument] of [
      [{ filter: { sessionId: 'not-a-session' } }, 'filter.sessionId'],
      [{ filter: { actor: 'x'.repeat(257) } }, 'filter.actor'],
      [{ filter: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, 'filter.from'],
      [{ first: 0 }, 'first'],
      [{ first: 101 }, 'first'],
      [{ after: 'bm90LWEtY3Vyc29y' }, 'after'],
    ] as const) {
      const result = await gw.post(auditor, EVENTS, variables);
      expect(codes(result), JSON.stringify(variables)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.extensions!.argument).toBe(argument);
    }
    expect(codes(await gw.post(auditor, EVENTS, { filter: { from: 'yesterday' } }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gw.post(auditor, EVENTS, { filter: { action: 'DROP_TABLE' } }))).toEqual(['BAD_USER_INPUT']);
    // Pages follow one another without repeats.
    const first = await gw.post(auditor, EVENTS, { first: 2 });
    const second = await gw.post(auditor, EVENTS, { first: 2, after: first.data!.auditEvents.pageInfo.endCursor });
    const sequences = [...first.data!.auditEvents.edges, ...second.data!.auditEvents.edges].map((e: { node: { sequence: number } }) => e.node.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(4);
  });

  it('after deleteSession the comment is unreadable, the erasure and who asked stay, and the chain verifies', async () => {
    const id = await createFinished(gw, reviewer, 'user-erased');
    expect((await gw.post(reviewer, UPDATE, { id, status: 'DECLINED', comment: 'Ana Lima, passport forged' })).errors).toBeUndefined();
    expect((await allEvents(gw, { sessionId: id })).some((e) => e.comment === 'Ana Lima, passport forged')).toBe(true);
    expect((await gw.post(reviewer, DELETE, { id })).errors).toBeUndefined();

    const events = await allEvents(gw, { sessionId: id });
    expect(JSON.stringify(events)).not.toContain('passport forged');
    expect(events.find((e) => e.action === 'UPDATE_SESSION_STATUS' && e.outcome === 'STARTED')).toMatchObject({ comment: null, commentErased: true });
    expect(events.filter((e) => e.action === 'DELETE_SESSION').map((e) => [e.outcome, e.actor, e.statusAfter])).toEqual([
      ['STARTED', 'rev-1@example.com', null],
      ['DONE', 'rev-1@example.com', 'DELETED'],
    ]);
    expect((await gw.post(reviewer, INTEGRITY)).data!.auditIntegrity).toMatchObject({ intact: true });
  });

  it('exports the trail as CSV under the same rules, formulas neutralised', async () => {
    const id = await createFinished(gw, reviewer, 'user-export');
    await gw.post(reviewer, UPDATE, { id, status: 'APPROVED', comment: '=HYPERLINK("https://evil.example","click")' });
    const get = (token: string | undefined, query: string) => fetch(`${gw.url}/audit/export?${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    const csv = await get(auditor, `sessionId=${id}&action=updateSessionStatus`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('"sequence","at","action","actor","roles","session_id","status_before","status_after","comment","comment_erased","outcome","request_id"');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(`"'=HYPERLINK(""https://evil.example"",""click"")"`);
    expect((await get(reviewer, `sessionId=${id}`)).status).toBe(200);
    expect((await get(reviewer, '')).status).toBe(403);
    expect((await get(applicant, `sessionId=${id}`)).status).toBe(403);
    expect((await get(undefined, `sessionId=${id}`)).status).toBe(401);
    expect((await get(auditor, 'from=yesterday')).status).toBe(400);
    expect((await get(auditor, 'sessionId=1&sessionId=2')).status).toBe(400);
    expect((await get(auditor, 'where=1')).status).toBe(400);
  });
});
