import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeleteSessionDocument, SearchSessionsDocument } from '../../src/generated/graphql.ts';
import { FULL_WORKFLOW_ID, KYC_AML_WORKFLOW_ID } from '../../src/sandbox/server.ts';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { subscribeSse, subscribeWs } from '../support/subscriptions.ts';

/** The whole flow with the gateway speaking Didit v3 to the sandbox (`SANDBOX_API_VERSION=v3`). */
let gw: TestGateway;
let reviewer: string;
let applicant: string;
const APPLICANT = 'applicant-v3';
const CALLBACK = 'http://localhost:3000/verified';

beforeAll(async () => {
  gw = await startTestGateway({ SANDBOX_API_VERSION: 'v3', DIDIT_WORKFLOW_ID: KYC_AML_WORKFLOW_ID });
  reviewer = await gw.token('office', ['reviewer']);
  applicant = await gw.token(APPLICANT);
});
afterAll(() => gw?.close());

const finish = (id: string, status: string) =>
  fetch(`${gw.sandbox!.url}/sandbox/sessions/${id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status }) });

async function create(token: string, input: Record<string, unknown> = {}): Promise<{ id: string; url: string; workflowId: string }> {
  const result = await gw.post(token, 'mutation ($input: CreateSessionInput!) { createSession(input: $input) { session { id url status workflowId } } }', {
    input: { callback: CALLBACK, ...input },
  });
  expect(result.errors).toBeUndefined();
  return result.data!.createSession.session;
}

describe('Didit v3 through the gateway, against the sandbox', () => {
  it('creates on the default workflow, hears the outcome live, reads every step, downloads the PDF and reviews', async () => {
    const session = await create(applicant);
    expect(session.workflowId).toBe(KYC_AML_WORKFLOW_ID);
    const live = subscribeSse(gw.url, applicant, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id, includeCurrent: true) { status session { status } } }', { id: session.id });
    const [current] = await live.next(1);
    expect(current!.data!.sessionStatusChanged.status).toBe('NOT_STARTED');

    expect((await finish(session.id, 'In Review')).status).toBe(200);
    await vi.waitFor(() => expect(live.results.map((r) => r.data?.sessionStatusChanged.status)).toContain('IN_REVIEW'), { timeout: 10_000 });
    await live.close();

    const read = await gw.post(
      reviewer,
      `query ($id: ID!) { session(id: $id) { status workflowId fullName decision {
        status features kyc { nodeId fullName } face { faceMatchSimilarity livenessConfidence }
        idVerifications { nodeId status documentType } livenessChecks { nodeId score method } faceMatches { score }
        amlScreenings { nodeId totalHits } ipAnalyses { nodeId ipCountry } warnings { risk } } } }`,
      { id: session.id },
    );
    expect(read.errors).toBeUndefined();
    const decision = read.data!.session.decision;
    expect(read.data!.session).toMatchObject({ status: 'IN_REVIEW', workflowId: KYC_AML_WORKFLOW_ID });
    expect(decision.features).toEqual(['OCR', 'FACE', 'AML']);
    expect(decision.idVerifications[0].nodeId).toBe(decision.kyc.nodeId);
    expect(decision.livenessChecks[0].score).toBe(decision.face.livenessConfidence);
    expect(decision.faceMatches[0].score).toBe(decision.face.faceMatchSimilarity);
    expect(decision.amlScreenings).toHaveLength(1);
    expect(decision.ipAnalyses).toHaveLength(1);

    // The applicant sees their own steps and none of the reviewer-only ones.
    const own = await gw.post(applicant, 'query ($id: ID!) { session(id: $id) { decision { idVerifications { nodeId } amlScreenings { nodeId } ipAnalyses { nodeId } warnings { risk } } } }', { id: session.id });
    expect(own.data!.session.decision).toEqual({ idVerifications: decision.idVerifications.map((v: { nodeId: string }) => ({ nodeId: v.nodeId })), amlScreenings: null, ipAnalyses: null, warnings: [] });

    const pdf = await gw.post(reviewer, 'mutation ($id: ID!) { generateSessionPdf(sessionId: $id) { url } }', { id: session.id });
    const download = await fetch(pdf.data!.generateSessionPdf.url.replace(/^https?:\/\/[^/]+/, gw.url));
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await download.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');

    const reviewed = await gw.post(reviewer, 'mutation ($id: ID!) { addSessionReview(input: { sessionId: $id, status: APPROVED, comment: "ok" }) { session { status decision { reviews { newStatus comment activityType } } } } }', { id: session.id });
    expect(reviewed.errors).toBeUndefined();
    expect(reviewed.data!.addSessionReview.session.status).toBe('APPROVED');
    expect(reviewed.data!.addSessionReview.session.decision.reviews[0]).toMatchObject({ newStatus: 'APPROVED', comment: 'ok' });
  });

  it('refuses v1-only input in v3 mode, and what applicants may not choose', async () => {
    const features = await gw.post(applicant, 'mutation { createSession(input: { callback: "http://localhost:3000/x", features: [OCR] }) { session { id } } }');
    expect(codes(features)).toEqual(['BAD_USER_INPUT']);
    expect(features.errors![0]!.message).toMatch(/workflowId/);
    const workflow = await gw.post(applicant, `mutation { createSession(input: { workflowId: "${FULL_WORKFLOW_ID}" }) { session { id } } }`);
    expect(codes(workflow)).toEqual(['FORBIDDEN']);
    // Nor may an applicant have Didit write to an address of their choosing.
    const contact = await gw.post(applicant, 'mutation { createSession(input: { contactDetails: { email: "someone@example.com", sendNotificationEmails: true } }) { session { id } } }');
    expect(codes(contact)).toEqual(['FORBIDDEN']);
  });

  it('resubmits: the same URL opens again, subscribers hear the steps, and the applicant finishes again', async () => {
    const session = await create(reviewer, { workflowId: FULL_WORKFLOW_ID, vendorData: APPLICANT });
    await finish(session.id, 'Declined');
    await vi.waitFor(async () => expect((await gw.post(reviewer, 'query ($id: ID!) { session(id: $id) { status } }', { id: session.id })).data!.session.status).toBe('DECLINED'));
    const queue = subscribeWs(gw.url, reviewer, 'subscription { reviewQueue(statuses: [RESUBMITTED, APPROVED]) { sessionId status resubmittedSteps { nodeId feature reason } } }', {});
    const own = subscribeWs(gw.url, applicant, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status resubmittedSteps { nodeId feature reason } } }', { id: session.id });
    await Promise.all([queue.opened, own.opened]);
    const resubmitted = await gw.post(
      reviewer,
      'mutation ($id: ID!) { resubmitSession(input: { sessionId: $id, steps: [{ nodeId: "feature_ocr", feature: "OCR" }, { nodeId: "feature_aml", feature: "AML" }], comment: "Blurred photo" }) { session { status url } } }',
      { id: session.id },
    );
    expect(resubmitted.errors).toBeUndefined();
    expect(resubmitted.data!.resubmitSession.session).toEqual({ status: 'RESUBMITTED', url: session.url });
    const [event] = await queue.next(1);
    expect(event!.data!.reviewQueue).toEqual({
      sessionId: session.id,
      status: 'RESUBMITTED',
      resubmittedSteps: [
        { nodeId: 'feature_ocr', feature: 'OCR', reason: 'Blurred photo' },
        { nodeId: 'feature_aml', feature: 'AML', reason: 'Blurred photo' },
      ],
    });
    // The applicant hears only the step they can redo: nothing tells them they were screened.
    const [mine] = await own.next(1);
    expect(mine!.data!.sessionStatusChanged).toEqual({ status: 'RESUBMITTED', resubmittedSteps: [{ nodeId: 'feature_ocr', feature: 'OCR', reason: 'Blurred photo' }] });
    await own.close();
    expect((await fetch(session.url.replace(/^https?:\/\/[^/]+/, gw.sandbox!.url))).status).toBe(200);
    await finish(session.id, 'Approved');
    const [, approved] = await queue.next(2);
    expect(approved!.data!.reviewQueue).toMatchObject({ sessionId: session.id, status: 'APPROVED' });
    await queue.close();
  });

  it("searches: a reviewer finds the applicant's sessions, the applicant only their own", async () => {
    const mine = await create(applicant);
    const other = await create(await gw.token('someone-else'));
    const SEARCH = 'query ($filter: SessionSearchFilter) { searchSessions(filter: $filter, first: 50) { totalCount nodes { id vendorData } } }';
    const asApplicant = await gw.post(applicant, SEARCH, { filter: { vendorData: APPLICANT } });
    const ids = asApplicant.data!.searchSessions.nodes.map((n: { id: string }) => n.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(other.id);
    expect(asApplicant.data!.searchSessions.nodes.every((n: { vendorData: string }) => n.vendorData === APPLICANT)).toBe(true);
    const all = await gw.post(reviewer, SEARCH, { filter: { statuses: ['NOT_STARTED'] } });
    expect(all.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toEqual(expect.arrayContaining([mine.id, other.id]));
    // The repository's own typed documents (codegen), as a client team would use them.
    const typed = await gw.run(reviewer, SearchSessionsDocument, { filter: { vendorData: APPLICANT }, first: 1 });
    expect(typed.data!.searchSessions.nodes[0]!.vendorData).toBe(APPLICANT);
    expect(typed.data!.searchSessions.pageInfo.hasNextPage).toBe(true);
    const workflows = await gw.post(reviewer, '{ workflows { id label isDefault } }');
    expect(workflows.data!.workflows.map((w: { id: string }) => w.id)).toContain(KYC_AML_WORKFLOW_ID);
  });

  it('erases a session: subscribers hear DELETED last, reads answer NOT_FOUND, deleting again is no error', async () => {
    const session = await create(applicant);
    const live = subscribeWs(gw.url, applicant, 'subscription ($id: ID!) { sessionStatusChanged(sessionId: $id) { status session { id } } }', { id: session.id });
    await live.opened;
    const DELETE = 'mutation ($id: ID!) { deleteSession(sessionId: $id) { deleted } }';
    expect((await gw.post(reviewer, DELETE, { id: session.id })).data!.deleteSession.deleted).toBe(true);
    const [deleted] = await live.next(1);
    expect(deleted!.data!.sessionStatusChanged).toEqual({ status: 'DELETED', session: null });
    await vi.waitFor(() => expect(live.ended()).toBe(true));
    expect(codes(await gw.post(applicant, 'query ($id: ID!) { session(id: $id) { id } }', { id: session.id }))).toEqual(['NOT_FOUND']);
    expect((await gw.run(reviewer, DeleteSessionDocument, { sessionId: session.id })).data!.deleteSession.deleted).toBe(true);
  });
});
