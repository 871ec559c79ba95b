import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Decision as WireDecision } from '../../src/sandbox/wire.ts';
import { personaFor } from '../../src/sandbox/personas.ts';
import {
  ApplicantSessionDocument,
  CreateSessionDocument,
  FullDecisionDocument,
  GenerateSessionPdfDocument,
  SessionStatusDocument,
  UpdateSessionStatusDocument,
} from '../../src/generated/graphql.ts';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { api, getToken } from '../support/sandbox.ts';

const CALLBACK = 'http://localhost:3000/verified';
let gw: TestGateway;
let reviewer: string;
let applicant: string;

beforeAll(async () => {
  gw = await startTestGateway();
  // Webhooks drop cached decisions at moments of their own; these tests count upstream reads.
  gw.sandboxInstance.setWebhook(undefined, undefined);
  reviewer = await gw.token('back-office', ['reviewer']);
  applicant = await gw.token('user-1');
});
afterAll(() => gw.close());
beforeEach(() => gw.sandboxInstance.resetRequests());

async function createSession(token = applicant, features: Array<'OCR' | 'NFC' | 'FACE' | 'AML'> = ['OCR', 'FACE', 'AML']) {
  const { createSession } = await gw.client(token).request(CreateSessionDocument, { input: { callback: CALLBACK, features } });
  return createSession.session;
}

/** What the gateway must answer for a wire decision: every key camelCased, strings mapped. */
function expectedFromWire(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => expectedFromWire(item, key));
  if (value && typeof value === 'object') {
    // JSON-typed fields pass through untouched.
    if (['features', 'properties', 'parsed_address', 'additional_data'].includes(key)) return value;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), expectedFromWire(v, k)]),
    );
  }
  if (typeof value !== 'string') return value;
  if (key === 'features') return value.split(' + ');
  if (key === 'status' || key.endsWith('_status')) return value.toUpperCase().replace(/ /g, '_');
  if (/^(created_at|first_seen|last_seen|last_change)$/.test(key)) return new Date(value.endsWith('Z') ? value : `${value}Z`).toISOString();
  return value;
}

describe('the whole flow, end to end over HTTP', () => {
  it('creates, finishes on the sandbox, reads every field, approves, and downloads the PDF', async () => {
    const created = await createSession();
    expect(created).toMatchObject({ status: 'NOT_STARTED', vendorData: 'user-1', callback: CALLBACK, features: ['OCR', 'FACE', 'AML'] });
    expect(created.url).toMatch(new RegExp(`^${gw.sandbox!.url}/session/`));
    expect(gw.upstream('create')).toBe(1);

    // The applicant finishes on the sandbox, as a script would.
    const finished = await fetch(`${gw.sandbox!.url}/sandbox/sessions/${created.id}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'In Review' }),
    });
    expect(finished.status).toBe(200);
    // Didit's own answer (here the sandbox's), read past the gateway's client and its model.
    const sandboxUrl = gw.sandbox!.url;
    const wire = (await (await api(sandboxUrl, await getToken(sandboxUrl), 'GET', `/v1/session/${created.id}/decision/`)).json()) as WireDecision;

    const { data, errors } = await gw.run(reviewer, FullDecisionDocument, { id: created.id });
    expect(errors).toBeUndefined();
    const { decision, ...session } = data!.session!;
    expect(session).toEqual({
      id: created.id,
      number: wire.session_number,
      url: wire.session_url,
      status: 'IN_REVIEW',
      vendorData: 'user-1',
      callback: CALLBACK,
      features: ['OCR', 'FACE', 'AML'],
    });
    const expected = expectedFromWire(wire) as { aml?: { hits: Array<{ id: string }> } | null };
    // A hit's id is its identity in this session (the watch-list entry's own is not unique across sessions).
    for (const hit of expected.aml?.hits ?? []) hit.id = `${created.id}:${hit.id}`;
    expect(decision).toEqual(expected);
    // Not an empty comparison: the parts are there, with the session's persona in them.
    const { first_name, last_name } = personaFor(created.id).kyc;
    expect(decision!.kyc!.fullName).toBe(`${first_name} ${last_name}`);
    expect(decision!.face!.livenessStatus).toBe('APPROVED'); // an In Review face is a doubtful match, not a failed liveness

    const updated = await gw.client(reviewer).request(UpdateSessionStatusDocument, {
      input: { sessionId: created.id, status: 'APPROVED', comment: 'Looks right' },
    });
    expect(updated.updateSessionStatus.session.status).toBe('APPROVED');
    expect(updated.updateSessionStatus.session.decision!.reviews.at(-1)).toMatchObject({ newStatus: 'APPROVED', comment: 'Looks right' });

    const { generateSessionPdf: link } = await gw.client(reviewer).request(GenerateSessionPdfDocument, { sessionId: created.id });
    expect(link.filename).toBe(`session_${created.id}.pdf`);
    expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
    const { pathname, search } = new URL(link.url);
    const download = await fetch(`${gw.url}${pathname}${search}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="session_${created.id}.pdf"`);
    expect(download.headers.get('cache-control')).toBe('no-store');
    const viaGateway = Buffer.from(await download.arrayBuffer());
    const direct = await gw.services.didit.streamPdf(created.id);
    const chunks: Buffer[] = [];
    for await (const chunk of direct.body) chunks.push(chunk as Buffer);
    expect(viaGateway.equals(Buffer.concat(chunks))).toBe(true);
    expect(viaGateway.subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('shows a session that is not finished yet with null parts', async () => {
    const created = await createSession();
    const { data, errors } = await gw.run(applicant, ApplicantSessionDocument, { id: created.id });
    expect(errors).toBeUndefined();
    expect(data!.session).toEqual({ id: created.id, status: 'NOT_STARTED', decision: { status: 'NOT_STARTED', kyc: null, face: null } });
  });
});

describe('PDF links', () => {
  let id: string;
  let link: URL;
  beforeAll(async () => {
    id = (await createSession()).id;
    gw.sandboxInstance.complete(id, 'Approved');
    const { generateSessionPdf } = await gw.client(reviewer).request(GenerateSessionPdfDocument, { sessionId: id });
    link = new URL(generateSessionPdf.url);
  });

  const get = (path: string) => fetch(`${gw.url}${path}`);

  it('refuses tampered, expired and foreign links with 403 and no upstream call', async () => {
    const signature = link.searchParams.get('signature')!;
    const expires = link.searchParams.get('expires')!;
    const other = (await createSession()).id;
    gw.sandboxInstance.resetRequests();
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const path of [
      `/reports/${id}.pdf?expires=${expires}&signature=${flipped}`,
      `/reports/${id}.pdf?expires=${Number(expires) + 60}&signature=${signature}`,
      `/reports/${id}.pdf?expires=${Math.floor(Date.now() / 1000) - 1}&signature=${signature}`,
      `/reports/${other}.pdf?expires=${expires}&signature=${signature}`,
      `/reports/${id}.pdf?expires=${expires}`,
      `/reports/${id}.pdf`,
      `/reports/..%2f${id}.pdf?expires=${expires}&signature=${signature}`,
    ]) {
      expect((await get(path)).status, path).toBe(403);
    }
    expect(gw.upstream('pdf')).toBe(0);
  });

  it('refuses a link for a session that is not finished at creation time', async () => {
    const fresh = await createSession();
    const result = await gw.run(reviewer, GenerateSessionPdfDocument, { sessionId: fresh.id });
    expect(codes(result)).toEqual(['FAILED_PRECONDITION']);
  });
});

describe('batching', () => {
  it('makes one upstream decision call per distinct session, however the query is shaped', async () => {
    const a = (await createSession()).id;
    const b = (await createSession()).id;
    gw.services.decisionCache.delete(a);
    gw.services.decisionCache.delete(b);
    gw.sandboxInstance.resetRequests();
    const result = await gw.post(
      reviewer,
      `query($a: ID!, $b: ID!) {
        one: session(id: $a) { status decision { status kyc { fullName } } }
        two: session(id: $a) { id decision { face { status } } }
        many: sessions(ids: [$a, $b, $a, $b]) { status decision { status } }
      }`,
      { a, b },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.many).toHaveLength(4);
    expect(gw.upstream('decision')).toBe(2);
  });

  it('serves a repeated read from the shared cache until the session changes', async () => {
    const id = (await createSession()).id;
    gw.sandboxInstance.complete(id, 'Approved');
    gw.services.decisionCache.delete(id);
    gw.sandboxInstance.resetRequests();
    await gw.run(reviewer, SessionStatusDocument, { id });
    await gw.run(applicant, SessionStatusDocument, { id });
    expect(gw.upstream('decision')).toBe(1);
    await gw.client(reviewer).request(UpdateSessionStatusDocument, { input: { sessionId: id, status: 'DECLINED' } });
    const after = await gw.run(applicant, SessionStatusDocument, { id });
    expect(after.data!.session!.status).toBe('DECLINED');
    expect(gw.upstream('decision')).toBe(2);
  });
});

describe('errors', () => {
  it('answers bad input before any upstream call', async () => {
    gw.sandboxInstance.resetRequests();
    const cases: Array<[string, Record<string, unknown>]> = [
      ['query($id: ID!) { session(id: $id) { id } }', { id: '../x' }],
      ['query($ids: [ID!]!) { sessions(ids: $ids) { id } }', { ids: ['00000000-0000-4000-8000-000000000000', 'a/b'] }],
      ['query($ids: [ID!]!) { sessions(ids: $ids) { id } }', { ids: Array.from({ length: 101 }, () => '00000000-0000-4000-8000-000000000000') }],
      ['mutation($i: CreateSessionInput!) { createSession(input: $i) { session { id } } }', { i: { callback: CALLBACK, features: ['NFC'] } }],
      ['mutation($i: CreateSessionInput!) { createSession(input: $i) { session { id } } }', { i: { callback: CALLBACK, features: ['SELFIE'] } }],
      ['mutation($i: CreateSessionInput!) { createSession(input: $i) { session { id } } }', { i: { callback: 'not a url' } }],
      ['mutation($i: CreateSessionInput!) { createSession(input: $i) { session { id } } }', { i: { callback: 'https://evil.example/cb' } }],
      ['mutation($i: UpdateSessionStatusInput!) { updateSessionStatus(input: $i) { session { id } } }', { i: { sessionId: '00000000-0000-4000-8000-000000000000', status: 'APPROVED', comment: 'x'.repeat(1001) } }],
      ['mutation($i: UpdateSessionStatusInput!) { updateSessionStatus(input: $i) { session { id } } }', { i: { sessionId: '00000000-0000-4000-8000-000000000000', status: 'IN_REVIEW' } }],
    ];
    for (const [query, variables] of cases) {
      const result = await gw.post(reviewer, query, variables);
      expect(codes(result), JSON.stringify(variables).slice(0, 80)).toEqual(['BAD_USER_INPUT']);
    }
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it('answers NOT_FOUND for a missing session, alone and in a list', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const one = await gw.run(reviewer, SessionStatusDocument, { id: missing });
    expect(one.data).toEqual({ session: null });
    expect(codes(one)).toEqual(['NOT_FOUND']);
    const id = (await createSession()).id;
    const many = await gw.post(reviewer, 'query($ids: [ID!]!) { sessions(ids: $ids) { id } }', { ids: [id, missing] });
    expect(many.data).toEqual({ sessions: [{ id }, null] });
    expect(many.errors).toMatchObject([{ path: ['sessions', 1], extensions: { code: 'NOT_FOUND' } }]);
  });

  it('maps Didit trouble to RATE_LIMITED, UPSTREAM_UNAVAILABLE and UPSTREAM_ERROR', async () => {
    const id = (await createSession()).id;
    const read = async () => {
      gw.services.decisionCache.delete(id);
      return gw.run(reviewer, SessionStatusDocument, { id });
    };
    gw.sandboxInstance.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 5 });
    expect(codes(await read())).toEqual(['UPSTREAM_UNAVAILABLE']);

    gw.sandboxInstance.injectFault({ kind: 'malformed', endpoint: 'decision' });
    const broken = await read();
    expect(codes(broken)).toEqual(['UPSTREAM_ERROR']);
    expect(JSON.stringify(broken)).not.toMatch(/JSON|parse|Unexpected token/i);

    gw.sandboxInstance.injectFault({ kind: 'status', status: 503, endpoint: 'create' });
    const create = await gw.post(applicant, 'mutation { createSession(input: { callback: "http://localhost:1/x" }) { session { id } } }');
    expect(codes(create)).toEqual(['UPSTREAM_UNAVAILABLE']);

    // Last: a 429 also holds the endpoint off for what Didit said, without calling it again.
    gw.sandboxInstance.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 120 });
    const limited = await read();
    expect(limited.errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED', retryAfter: 120 } }]);
    gw.sandboxInstance.resetRequests();
    const held = await read();
    expect(held.errors).toMatchObject([{ extensions: { code: 'RATE_LIMITED' } }]);
    expect((held.errors![0]!.extensions!.retryAfter as number)).toBeGreaterThan(100);
    expect(gw.upstream('decision')).toBe(0);
  });
});
