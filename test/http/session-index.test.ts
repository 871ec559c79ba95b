import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signWebhookBody } from '../../src/didit/webhook-signature.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { runDatabaseUrl } from '../support/postgres.ts';

/** v1 has no session list at Didit: searchSessions answers from the gateway's own index (real PostgreSQL). */
const SECRET = 'index-webhook-secret';
let gw: TestGateway;
let reviewer: string;
// Subjects of their own: the run's database is shared with other test files.
const alice = `alice-${randomUUID()}`;
const bob = `bob-${randomUUID()}`;

const SEARCH = `query ($filter: SessionSearchFilter, $first: Int, $after: String) {
  searchSessions(filter: $filter, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id status vendorData } }
}`;

async function create(token: string, vendorData?: string): Promise<string> {
  const result = await gw.post(token, 'mutation ($input: CreateSessionInput!) { createSession(input: $input) { session { id } } }', { input: { vendorData, callback: 'http://localhost:3000/verified', features: ['OCR', 'FACE'] } });
  expect(result.errors).toBeUndefined();
  return result.data!.createSession.session.id;
}

async function search(token: string, variables: Record<string, unknown> = {}) {
  return gw.post(token, SEARCH, variables);
}

async function indexRow(id: string) {
  const client = new pg.Client({ connectionString: runDatabaseUrl() });
  await client.connect();
  try {
    return (await client.query('select * from session_index where id = $1', [id])).rows[0];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  gw = await startTestGateway({ SANDBOX_API_VERSION: 'v1', DIDIT_WEBHOOK_SECRET: SECRET });
  reviewer = await gw.token('rev-1', ['reviewer']);
});
afterAll(() => gw.close());

describe('searchSessions in v1 mode (the session index)', () => {
  it('finds the sessions created through the gateway, newest first, page by page', async () => {
    const aliceToken = await gw.token(alice);
    const first = await create(aliceToken);
    const second = await create(aliceToken);
    const third = await create(reviewer, bob);
    const mine = await search(reviewer, { filter: { vendorData: alice } });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.searchSessions.totalCount).toBe(2);
    expect(mine.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toEqual([second, first]);
    const page1 = await search(reviewer, { filter: { vendorData: alice }, first: 1 });
    expect(page1.data!.searchSessions.pageInfo.hasNextPage).toBe(true);
    const page2 = await search(reviewer, { filter: { vendorData: alice }, first: 1, after: page1.data!.searchSessions.pageInfo.endCursor });
    expect(page2.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toEqual([first]);
    expect(page2.data!.searchSessions.pageInfo.hasNextPage).toBe(false);
    const today = new Date().toISOString().slice(0, 10);
    const dated = await search(reviewer, { filter: { vendorData: alice, createdAfter: today, createdBefore: today } });
    expect(dated.data!.searchSessions.totalCount).toBe(2);
    const past = await search(reviewer, { filter: { vendorData: alice, createdBefore: '2020-01-01' } });
    expect(past.data!.searchSessions.totalCount).toBe(0);
    const all = await search(reviewer, { first: 100 });
    expect(all.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toEqual(expect.arrayContaining([first, second, third]));
  });

  it('narrows an applicant to their own sessions, and refuses their asking for another', async () => {
    const bobToken = await gw.token(bob);
    const own = await create(bobToken);
    const result = await search(bobToken, { first: 100 });
    expect(result.errors).toBeUndefined();
    const owners = new Set(result.data!.searchSessions.nodes.map((n: { vendorData: string }) => n.vendorData));
    expect([...owners]).toEqual([bob]);
    expect(result.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toContain(own);
    const other = await search(bobToken, { filter: { vendorData: alice } });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('refuses the filters the index cannot answer without personal data', async () => {
    const result = await search(reviewer, { filter: { text: 'Smith' } });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('keeps the status a webhook tells, and filters by it', async () => {
    const vendor = `carol-${randomUUID()}`;
    const id = await create(reviewer, vendor);
    const before = await search(reviewer, { filter: { vendorData: vendor } });
    expect(before.data!.searchSessions.nodes[0].status).toBe('NOT_STARTED');
    const raw = JSON.stringify({ session_id: id, status: 'Approved', created_at: Math.floor(Date.now() / 1000) - 60, timestamp: Math.floor(Date.now() / 1000), vendor_data: vendor });
    const response = await fetch(`${gw.url}/webhooks/didit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': signWebhookBody(raw, SECRET), 'x-timestamp': String(Math.floor(Date.now() / 1000)) },
      body: raw,
    });
    expect(response.status).toBe(200);
    await vi.waitFor(async () => {
      const approved = await search(reviewer, { filter: { vendorData: vendor, statuses: ['APPROVED'] } });
      expect(approved.data!.searchSessions.nodes.map((n: { id: string }) => n.id)).toEqual([id]);
    });
  });

  it('removes the row when the session is erased', async () => {
    const vendor = `dave-${randomUUID()}`;
    const id = await create(reviewer, vendor);
    expect(await indexRow(id)).toMatchObject({ id, vendor_data: vendor });
    await gw.services.erase(id);
    await vi.waitFor(async () => expect(await indexRow(id)).toBeUndefined());
    const result = await search(reviewer, { filter: { vendorData: vendor } });
    expect(result.data!.searchSessions.totalCount).toBe(0);
  });
});
