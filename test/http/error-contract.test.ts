/**
 * The error contract as a client meets it: every refusal, down to the HTTP framing, is a GraphQL
 * error body with a code; Didit's refusals a reviewer can act on are FAILED_PRECONDITION in our
 * words; and the README lists every code the source can produce.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { README } from '../support/readme.ts';

/** A v3 session on the sandbox's "KYC basic" workflow. */
const CREATE = 'mutation { createSession(input: { callback: "http://localhost:3000/verified", workflowId: "11111111-1111-4111-8111-111111111111" }) { session { id } } }';
const APPROVE = 'mutation ($id: ID!) { updateSessionStatus(input: { sessionId: $id, status: APPROVED }) { session { status } } }';
const PDF = 'mutation ($id: ID!) { generateSessionPdf(sessionId: $id) { url } }';

/** What Didit's sandbox says when it refuses, which must never reach a client. */
const DIDIT_WORDS = /only finished sessions|Wrong current status|Nothing needs resubmission|current status|nodes_to_resubmit|detail/i;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? (entry.name === 'sandbox' || entry.name === 'generated' ? [] : sourceFiles(join(dir, entry.name))) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

it('the README lists every extensions.code the gateway can send, and no other', () => {
  const source = sourceFiles(new URL('../../src', import.meta.url).pathname)
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const found = new Set<string>();
  for (const pattern of [/code: '([A-Z_]+)'/g, /coded\('([A-Z_]+)'/g, /(?:refuse|sendErrors)\([^)]*?'([A-Z][A-Z_]+)'/g]) {
    for (const match of source.matchAll(pattern)) found.add(match[1]!);
  }
  const publicCodes = /const PUBLIC_CODES = new Set\(\[([\s\S]*?)\]\)/.exec(source)![1]!;
  for (const match of publicCodes.matchAll(/'([A-Z_]+)'/g)) found.add(match[1]!);
  // Yoga's own request errors (invalid JSON, batching, methods) carry BAD_REQUEST; an
  // operationName that names no operation, OPERATION_RESOLUTION_FAILURE.
  found.add('BAD_REQUEST');
  found.add('OPERATION_RESOLUTION_FAILURE');

  const errorsSection = README.slice(README.indexOf('## Errors'), README.indexOf('\n## ', README.indexOf('## Errors') + 1));
  const documented = new Set([...errorsSection.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]!));
  expect([...documented].sort()).toEqual([...found].sort());
});

describe('request-level refusals', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ MAX_BODY_BYTES: '2000' });
  });
  afterAll(() => gw?.close());

  const body = async (response: Response) => ({ status: response.status, json: await response.json() });
  const coded = (status: number, code: string) => ({ status, json: { errors: [{ message: expect.any(String), extensions: { code } }] } });

  it('answers every one as a GraphQL error body with a code', async () => {
    const url = `${gw.url}/graphql`;
    const json = { 'content-type': 'application/json' };
    expect(await body(await fetch(url, { method: 'POST', headers: json, body: '{"query": "{ __typename }"'.padEnd(2500) }))).toEqual(coded(413, 'PAYLOAD_TOO_LARGE'));
    const chunked = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"query":"{ __typename }"}'));
        controller.close();
      },
    });
    expect(await body(await fetch(url, { method: 'POST', headers: json, body: chunked, duplex: 'half' } as RequestInit))).toEqual(coded(411, 'BAD_REQUEST'));
    expect(await body(await fetch(url, { method: 'POST', headers: json, body: '[{"query":"{ __typename }"}]' }))).toEqual(coded(400, 'BAD_REQUEST'));
    expect(await body(await fetch(`${gw.url}/nowhere`))).toEqual(coded(404, 'ROUTE_NOT_FOUND'));
    expect(await body(await fetch(url, { method: 'DELETE', headers: json }))).toEqual(coded(405, 'BAD_REQUEST'));
  });

  it('does not quote a body that is not JSON back to the client', async () => {
    const response = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"secret-ish": ' });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(JSON.parse(text)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'BAD_REQUEST' } }] });
    expect(text).not.toContain('secret-ish');
  });

  it('lets a page read the code (CORS headers on refusals made before Yoga)', async () => {
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' },
      body: ''.padEnd(2500),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
  });
});

describe('Didit refusals a reviewer can act on: FAILED_PRECONDITION, in our words', () => {
  let gw: TestGateway;
  let reviewer: string;
  beforeAll(async () => {
    gw = await startTestGateway({ SANDBOX_API_VERSION: 'v3' });
    reviewer = await gw.token('reviewer-1', ['reviewer']);
  });
  afterAll(() => gw?.close());
  const create = async () => (await gw.post(reviewer, CREATE)).data!.createSession.session.id as string;

  it('approving a session the applicant has not finished', async () => {
    const id = await create();
    const result = await gw.post(reviewer, APPROVE, { id });
    expect(codes(result)).toEqual(['FAILED_PRECONDITION']);
    expect(result.errors![0]!.extensions).toEqual({ code: 'FAILED_PRECONDITION', status: 'NOT_STARTED' });
    expect(result.errors![0]!.message).toMatch(/once the applicant has finished it; this session is NOT_STARTED/);
    expect(JSON.stringify(result)).not.toMatch(DIDIT_WORDS);
  });

  it('the PDF report of an unfinished session', async () => {
    const id = await create();
    const result = await gw.post(reviewer, PDF, { id });
    expect(result.errors![0]!.extensions).toEqual({ code: 'FAILED_PRECONDITION', status: 'NOT_STARTED' });
    expect(gw.upstream('pdf')).toBe(0);
  });

  it('resubmitting with nothing to resubmit, or an unfinished session; a step that does not exist is the input', async () => {
    const resubmit = (id: string, steps?: unknown) =>
      gw.post(reviewer, 'mutation ($id: ID!, $steps: [ResubmitStepInput!]) { resubmitSession(input: { sessionId: $id, steps: $steps }) { session { status } } }', { id, steps });
    const unfinished = await create();
    const early = await resubmit(unfinished);
    expect(early.errors![0]!.extensions).toEqual({ code: 'FAILED_PRECONDITION', status: 'NOT_STARTED' });

    const approved = await create();
    gw.sandboxInstance.complete(approved, 'Approved');
    const nothing = await resubmit(approved);
    expect(nothing.errors![0]!.extensions).toEqual({ code: 'FAILED_PRECONDITION', status: 'APPROVED' });
    expect(nothing.errors![0]!.message).toMatch(/^Nothing to resubmit/);
    expect(JSON.stringify([early, nothing])).not.toMatch(DIDIT_WORDS);

    const unknownStep = await resubmit(approved, [{ nodeId: 'no_such_step' }]);
    expect(unknownStep.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'input.steps' });
    expect(unknownStep.errors![0]!.message).toBe('Didit refused input.steps');
  });

  it('a review of a session the applicant has not finished', async () => {
    const id = await create();
    const result = await gw.post(reviewer, 'mutation ($id: ID!) { addSessionReview(input: { sessionId: $id, status: APPROVED }) { session { status } } }', { id });
    expect(result.errors![0]!.extensions).toEqual({ code: 'FAILED_PRECONDITION', status: 'NOT_STARTED' });
  });
});
