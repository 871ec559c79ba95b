import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import type { DiditV1Client as DiditClient, DiditV1Options as DiditClientOptions } from '../../src/didit/v1.ts';
import {
  DiditBadRequestError,
  DiditBadResponseError,
  DiditForbiddenError,
  DiditInvalidInputError,
  DiditNotFoundError,
  DiditRateLimitedError,
  DiditUnauthorizedError,
  DiditUnavailableError,
} from '../../src/didit/errors.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { TOKEN_ROUTE, json, startFakeUpstream, tokenAnswer } from '../support/fake-upstream.ts';

const CALLBACK = 'https://app.example.com/verified';
const count = (sandbox: Sandbox, endpoint: string) => sandbox.requests.filter((r) => r.endpoint === endpoint).length;

describe('Didit client against the sandbox', () => {
  let sandbox: Sandbox;
  let client: DiditClient;
  let url: string;

  const makeClient = (overrides: Partial<DiditClientOptions> = {}) =>
    createDiditClient({
      clientId: 'sandbox-client',
      clientSecret: 'sandbox-secret',
      authUrl: url,
      apiUrl: url,
      retryMinDelayMs: 5,
      retryMaxDelayMs: 20,
      decisionsPerMinute: 1_000_000,
      ...overrides,
    });

  beforeEach(async () => {
    sandbox = createSandbox({ tokenTtlSeconds: 100 });
    ({ url } = await sandbox.listen(0));
    client = makeClient();
  });

  afterEach(async () => {
    vi.useRealTimers();
    await client.close();
    await sandbox.close();
  });

  it('makes one token request for 1,000 concurrent cold calls, and reuses it', async () => {
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => client.tokens.get()));
    expect(new Set(tokens).size).toBe(1);
    const created = await client.createSession({ callback: CALLBACK, features: ['OCR', 'FACE'] });
    await Promise.all(Array.from({ length: 20 }, () => client.getDecision(created.id)));
    expect(count(sandbox, 'token')).toBe(1);
    expect(count(sandbox, 'decision')).toBe(20);
  });

  it('rejects every waiter of a failed token request, and the next call tries again', async () => {
    const strict = makeClient({ maxRetries: 0 });
    sandbox.injectFault({ kind: 'status', status: 500, endpoint: 'token' });
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => strict.tokens.get()));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(count(sandbox, 'token')).toBe(1);
    expect(await strict.tokens.get()).toMatch(/.+/);
    expect(count(sandbox, 'token')).toBe(2);
    await strict.close();
  });

  it('refreshes the token early, in the background, and keeps serving the old one meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = await client.tokens.get();
    vi.setSystemTime(Date.now() + 79_000); // before 80% of 100 s
    expect(await client.tokens.get()).toBe(first);
    expect(count(sandbox, 'token')).toBe(1);
    vi.setSystemTime(Date.now() + 2_000); // past 80%, before expiry
    expect(await client.tokens.get()).toBe(first);
    await vi.waitFor(() => expect(count(sandbox, 'token')).toBe(2));
    await vi.waitFor(async () => expect(await client.tokens.get()).not.toBe(first));
  });

  it('fetches a new token when the cached one has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = await client.tokens.get();
    vi.setSystemTime(Date.now() + 101_000);
    expect(client.tokens.hasValidToken()).toBe(false);
    expect(await client.tokens.get()).not.toBe(first);
    expect(count(sandbox, 'token')).toBe(2);
  });

  it('on a 401 drops the token, fetches one new token and replays the call once', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    sandbox.resetRequests();
    sandbox.injectFault({ kind: 'expire-token' });
    await Promise.all([client.getDecision(session_id), client.getDecision(session_id), client.getDecision(session_id)]);
    expect(count(sandbox, 'token')).toBe(1);
    expect(count(sandbox, 'decision')).toBe(6);
  });

  it('replays a POST once after a 401, since Didit refused it before doing anything', async () => {
    await client.tokens.get();
    sandbox.injectFault({ kind: 'expire-token' });
    const created = await client.createSession({ callback: CALLBACK });
    expect(created.status).toBe('Not Started');
    expect(count(sandbox, 'create')).toBe(2);
    expect(count(sandbox, 'token')).toBe(2);
  });

  it('retries GETs on 5xx and dropped connections, and succeeds', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 2 });
    sandbox.injectFault({ kind: 'drop', endpoint: 'decision', times: 1 });
    const decision = await client.getDecision(session_id);
    expect(decision.sessionId).toBe(session_id);
    expect(count(sandbox, 'decision')).toBe(4);
  });

  it('gives up after the configured retries with UPSTREAM unavailable', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    sandbox.injectFault({ kind: 'status', status: 502, endpoint: 'decision', times: 10 });
    await expect(client.getDecision(session_id)).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(count(sandbox, 'decision')).toBe(5); // 1 + 4 retries
  });

  it('never retries a POST or a PATCH on 5xx or a dropped connection', async () => {
    await client.tokens.get();
    sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'create' });
    await expect(client.createSession({ callback: CALLBACK })).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(count(sandbox, 'create')).toBe(1);

    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    await sandbox.complete(session_id, 'In Review');
    sandbox.injectFault({ kind: 'drop', endpoint: 'update' });
    await expect(client.updateStatus(session_id, { status: 'Approved' })).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(count(sandbox, 'update')).toBe(1);
  });

  it('retries the token request itself', async () => {
    sandbox.injectFault({ kind: 'status', status: 500, endpoint: 'token', times: 2 });
    await client.tokens.get();
    expect(count(sandbox, 'token')).toBe(3);
  });

  it('waits out a short Retry-After on a GET, and surfaces a long one as rate limited', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 0 });
    await client.getDecision(session_id);
    expect(count(sandbox, 'decision')).toBe(2);

    sandbox.resetRequests();
    sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 120 });
    const error = await client.getDecision(session_id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiditRateLimitedError);
    expect((error as DiditRateLimitedError).retryAfter).toBe(120);
    expect(count(sandbox, 'decision')).toBe(1);
  });

  it('times out a slow answer and retries a GET after a timeout', async () => {
    const slow = makeClient({ headersTimeoutMs: 100, maxRetries: 0 });
    const { id: session_id } = await slow.createSession({ callback: CALLBACK });
    sandbox.injectFault({ kind: 'latency', latencyMs: 1000, endpoint: 'decision' });
    await expect(slow.getDecision(session_id)).rejects.toThrow(/timed out/);
    await slow.close();

    const patient = makeClient({ headersTimeoutMs: 100, maxRetries: 2 });
    sandbox.injectFault({ kind: 'latency', latencyMs: 1000, endpoint: 'decision' });
    expect((await patient.getDecision(session_id)).sessionId).toBe(session_id);
    await patient.close();
  });

  it('reports malformed JSON as a bad response', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    sandbox.injectFault({ kind: 'malformed', endpoint: 'decision' });
    await expect(client.getDecision(session_id)).rejects.toBeInstanceOf(DiditBadResponseError);
  });

  it('maps 404 and the 403 of an unfinished report', async () => {
    await expect(client.getDecision('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(DiditNotFoundError);
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    await expect(client.streamPdf(session_id)).rejects.toBeInstanceOf(DiditForbiddenError);
  });

  it('streams the PDF with its type and file name', async () => {
    const { id: session_id } = await client.createSession({ callback: CALLBACK });
    await sandbox.complete(session_id, 'Approved');
    const pdf = await client.streamPdf(session_id);
    expect(pdf.contentType).toBe('application/pdf');
    expect(pdf.filename).toBe(`session_${session_id}.pdf`);
    const chunks: Buffer[] = [];
    for await (const chunk of pdf.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('refuses wrong credentials as unauthorized, without retrying', async () => {
    const wrong = makeClient({ clientSecret: 'not-the-secret' });
    const error = await wrong.getDecision('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiditUnauthorizedError);
    expect(String((error as Error).message)).not.toContain('not-the-secret');
    expect(count(sandbox, 'token')).toBe(1);
    await wrong.close();
  });

  it('refuses bad ids, features, statuses and comments before any request', async () => {
    const badIds = ['../x', '%2e%2e', 'a/b', '?', '#', '', 'x'.repeat(5000), '11111111-2222-3333-4444-555555555555/../x', '11111111-2222-3333-4444-55555555555g'];
    for (const id of badIds) {
      await expect(client.getDecision(id)).rejects.toBeInstanceOf(DiditInvalidInputError);
      await expect(client.streamPdf(id)).rejects.toBeInstanceOf(DiditInvalidInputError);
      await expect(client.updateStatus(id, { status: 'Approved' })).rejects.toBeInstanceOf(DiditInvalidInputError);
    }
    for (const features of [['NFC'], ['FACE', 'AML'], [], ['OCR', 'SELFIE'], ['ocr']]) {
      await expect(client.createSession({ callback: CALLBACK, features })).rejects.toBeInstanceOf(DiditInvalidInputError);
    }
    await expect(client.createSession({ callback: 'javascript:alert(1)' })).rejects.toBeInstanceOf(DiditInvalidInputError);
    const id = '11111111-2222-3333-4444-555555555555';
    await expect(client.updateStatus(id, { status: 'In Review' as 'Approved' })).rejects.toBeInstanceOf(DiditInvalidInputError);
    await expect(client.updateStatus(id, { status: 'Approved', comment: 'x'.repeat(1001) })).rejects.toBeInstanceOf(DiditInvalidInputError);
    expect(sandbox.requests).toEqual([]);
  });

  it('sends features as the seed string, in canonical order', async () => {
    const created = await client.createSession({ callback: CALLBACK, features: ['AML', 'FACE', 'OCR', 'NFC'] });
    expect(created.features).toEqual(['OCR', 'NFC', 'FACE', 'AML']);
  });
});

describe('Didit client error answers', () => {
  const id = '11111111-2222-3333-4444-555555555555';
  const decisionRoute = `GET /v1/session/${id}/decision/`;

  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  async function setup(answer: Parameters<typeof startFakeUpstream>[0][string]) {
    const upstream = await startFakeUpstream({ [TOKEN_ROUTE]: (_, res) => tokenAnswer(res), [decisionRoute]: answer });
    const client = createDiditClient({ clientId: 'id', clientSecret: 'top-secret', authUrl: upstream.url, apiUrl: upstream.url, maxRetries: 0 });
    cleanups.push(async () => {
      await client.close();
      await upstream.close();
    });
    return { upstream, client };
  }

  it.each([
    [{ detail: 'Invalid session.' }, { detail: ['Invalid session.'] }],
    [{ message: 'Bad thing' }, { message: ['Bad thing'] }],
    [{ callback: ['Enter a valid URL.'], features: ['Not a choice.'] }, { callback: ['Enter a valid URL.'], features: ['Not a choice.'] }],
    ['not json', {}],
  ])('parses the field messages of a 400 body %j', async (body, fields) => {
    const ctx = await setup((_, res) => json(res, 400, body));
    const error = await ctx.client.getDecision(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiditBadRequestError);
    expect((error as DiditBadRequestError).fieldErrors).toEqual(fields);
  });

  it.each([
    ['wrong content type', (res: never) => (res as import('node:http').ServerResponse).writeHead(200, { 'content-type': 'text/html' }).end('<html>')],
    ['missing fields', (res: never) => json(res, 200, { hello: 'world' })],
    ['an array', (res: never) => json(res, 200, [1, 2])],
    ['an odd status', (res: never) => json(res, 302, {})],
  ])('refuses %s as a bad response', async (_name, answer) => {
    const ctx = await setup((_, res) => answer(res as never));
    await expect(ctx.client.getDecision(id)).rejects.toBeInstanceOf(DiditBadResponseError);
  });

  it('never puts a token, secret or upstream body in an error message', async () => {
    const ctx = await setup((req, res) => json(res, 500, { detail: `leak ${req.headers.authorization}` }));
    const error = (await ctx.client.getDecision(id).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(DiditUnavailableError);
    expect(JSON.stringify({ ...error, text: error.message })).not.toMatch(/token-|top-secret|leak/);
  });

  it('sends the token request exactly as the seed does', async () => {
    const ctx = await setup((_, res) => json(res, 200, { session_id: id, status: 'Approved' }));
    await ctx.client.getDecision(id);
    const [token, decision] = ctx.upstream.requests;
    expect(token!.headers.authorization).toBe(`Basic ${Buffer.from('id:top-secret').toString('base64')}`);
    expect(token!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(token!.body).toBe('grant_type=client_credentials');
    expect(decision!.headers.authorization).toMatch(/^Bearer token-/);
    expect(ctx.upstream.unexpected).toEqual([]);
  });
});
