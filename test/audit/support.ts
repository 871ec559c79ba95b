import { spawnSync } from 'node:child_process';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { TEST_AUDIT_KEY } from '../support/postgres.ts';

/** Helpers of the audit trail's tests: a v3 sandbox gateway on a given database, and the operations. */
export function startAuditedGateway(databaseUrl: string, env: Record<string, string> = {}): Promise<TestGateway> {
  return startTestGateway({ SANDBOX_API_VERSION: 'v3', DATABASE_URL: databaseUrl, DECISION_CACHE_TTL_FINAL_MS: '0', DECISION_CACHE_TTL_ACTIVE_MS: '0', ...env });
}

export const CREATE = `mutation ($vendorData: String) { createSession(input: { vendorData: $vendorData }) { session { id status } } }`;
export const UPDATE = `mutation ($id: ID!, $status: ReviewDecision!, $comment: String) {
  updateSessionStatus(input: { sessionId: $id, status: $status, comment: $comment }) { session { status } } }`;
export const REVIEW = `mutation ($id: ID!, $comment: String) { addSessionReview(input: { sessionId: $id, status: DECLINED, comment: $comment }) { session { status } } }`;
export const RESUBMIT = `mutation ($id: ID!, $comment: String) { resubmitSession(input: { sessionId: $id, comment: $comment }) { session { status } } }`;
export const PDF = `mutation ($id: ID!) { generateSessionPdf(sessionId: $id) { url } }`;
export const DELETE = `mutation ($id: ID!) { deleteSession(sessionId: $id) { deleted } }`;
export const READ = `query ($id: ID!) { session(id: $id) { status decision { kyc { fullName } } } }`;
export const EVENTS = `query ($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    edges { cursor node { sequence at action actor roles sessionId statusBefore statusAfter comment commentErased outcome requestId } }
    pageInfo { hasNextPage endCursor }
  } }`;
export const INTEGRITY = `{ auditIntegrity { intact records firstBroken problem } }`;

export async function createFinished(gw: TestGateway, reviewer: string, vendorData = 'user-a', status = 'In Review'): Promise<string> {
  const created = await gw.post(reviewer, CREATE, { vendorData });
  const id = created.data!.createSession.session.id as string;
  const done = await fetch(`${gw.sandbox!.url}/sandbox/sessions/${id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status }) });
  if (!done.ok) throw new Error(`complete: ${done.status}`);
  return id;
}

/** Every record of the trail (as an auditor reads them), oldest first. */
export async function allEvents(gw: TestGateway, filter: Record<string, unknown> = {}): Promise<Array<Record<string, any>>> {
  const auditor = await gw.token('auditor-1', ['auditor']);
  const events: Array<Record<string, any>> = [];
  let after: string | undefined;
  for (;;) {
    const page = await gw.post(auditor, EVENTS, { filter, first: 100, after });
    if (page.errors) throw new Error(JSON.stringify(page.errors));
    events.push(...page.data!.auditEvents.edges.map((e: { node: unknown }) => e.node));
    if (!page.data!.auditEvents.pageInfo.hasNextPage) return events;
    after = page.data!.auditEvents.pageInfo.endCursor;
  }
}

/** `npm run audit:verify` against a database, as an operator runs it. */
export function auditVerify(databaseUrl: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, AUDIT_KEY: TEST_AUDIT_KEY, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}
