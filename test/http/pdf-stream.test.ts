import { readFileSync } from 'node:fs';
import { get, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { drained } from '../../src/lib/drained.ts';
import { TOKEN_ROUTE, json, startFakeUpstream, tokenAnswer } from '../support/fake-upstream.ts';
import { CapturedLogs, TEST_JWT_SECRET, startTestGateway } from '../support/gateway.ts';
import { SignJWT } from 'jose';
import { testAuditEnv } from '../support/postgres.ts';

const seed = JSON.parse(readFileSync(new URL('../fixtures/seed-decision.json', import.meta.url), 'utf8'));
const ID = seed.session_id as string;
/** Far more than every buffer between Didit and the client can hold (the kernel's included). */
const SIZE = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, '% filler\n');

let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
let gateway: RunningGateway;
/** What the fake Didit has handed to its socket so far, and whether the download was cut off. */
const served = { bytes: 0, closed: false };

/** Writes SIZE bytes as fast as the reader takes them, never faster (it waits for 'drain'). */
async function streamPdf(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': SIZE });
  res.once('close', () => (served.closed = !res.writableFinished));
  while (served.bytes < SIZE && !res.destroyed) {
    served.bytes += CHUNK.length;
    if (!res.write(CHUNK)) await drained(res);
  }
  res.end();
}

beforeAll(async () => {
  upstream = await startFakeUpstream({
    [TOKEN_ROUTE]: (_, res) => tokenAnswer(res),
    [`GET /v1/session/${ID}/decision/`]: (_, res) => json(res, 200, { ...seed, status: 'Approved' }),
    [`GET /v1/session/${ID}/generate-pdf/`]: (_, res) => void streamPdf(res),
  });
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', AUTH_JWT_SECRET: TEST_JWT_SECRET,
    DIDIT_CLIENT_ID: 'client', DIDIT_CLIENT_SECRET: 'secret', DIDIT_AUTH_URL: upstream.url, DIDIT_API_URL: upstream.url,
    ...testAuditEnv(),
  });
  gateway = await startGateway(config, { logDestination: new CapturedLogs() });
});
afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

async function downloadLink(): Promise<string> {
  const token = await new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('r').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: `mutation { generateSessionPdf(sessionId: "${ID}") { url } }` }),
  });
  // The link names PUBLIC_URL (unset here); the path and signature are what matter.
  const link = new URL((await response.json()).data.generateSessionPdf.url);
  return `${gateway.url}${link.pathname}${link.search}`;
}

/**
 * Waits until the fake Didit has sent nothing more for a while: the pipe is full and stalled.
 * This one cannot be a condition: a stall is progress that does not come, and a writer waiting
 * for 'drain' is also what a flowing pipe looks like between two reads. A gateway that buffered
 * without bound would not stall at all, and fails the size check below.
 */
async function stalled(): Promise<number> {
  let last = -1;
  while (served.bytes !== last) {
    last = served.bytes;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return last;
}

it('reads from Didit only as fast as the client reads, and stops when the client goes away', async () => {
  const link = await downloadLink();
  const response = await new Promise<IncomingMessage>((resolve, reject) => get(link, resolve).once('error', reject));
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-length']).toBe(String(SIZE));

  // A client that reads nothing: Didit's side stalls once the buffers between them are full,
  // far short of the file (11 MB here: the gateway holds about 2 MB, the rest is the kernel's).
  response.pause();
  const whileStopped = await stalled();
  expect(whileStopped).toBeLessThan(SIZE / 4);

  // Reading again resumes the download where it stopped.
  let received = 0;
  response.on('data', (chunk: Buffer) => (received += chunk.length));
  response.resume();
  await vi.waitFor(() => expect(received).toBeGreaterThanOrEqual(whileStopped + 8 * 1024 * 1024), { timeout: 10_000, interval: 10 });
  expect(served.bytes).toBeGreaterThan(whileStopped);

  // A client that leaves mid-file cuts the download from Didit too.
  response.destroy();
  await vi.waitFor(() => expect(served.closed).toBe(true), { timeout: 10_000, interval: 10 });
  expect(served.bytes).toBeLessThan(SIZE);
});

it('a client aborting downloads before Didit answers does not open the circuit breaker', async () => {
  const aborted: string[] = [];
  // One link downloaded six times: a link allows that many here.
  const gw = await startTestGateway({ PDF_LINK_MAX_DOWNLOADS: '10' }, { didit: { onCall: ({ endpoint, status }) => status === 'error' && aborted.push(endpoint) } });
  try {
    const reviewer = await gw.token('office', ['reviewer']);
    const created = await gw.post(reviewer, 'mutation { createSession(input: { callback: "http://localhost:3000/x" }) { session { id } } }');
    const id = created.data!.createSession.session.id as string;
    gw.sandboxInstance.complete(id, 'Approved');
    const linked = await gw.post(reviewer, `mutation { generateSessionPdf(sessionId: "${id}") { url } }`);
    const link = new URL(linked.data!.generateSessionPdf.url);
    // Didit takes its time over each PDF; each client leaves while waiting (the sandbox is closed at the end).
    gw.sandboxInstance.injectFault({ kind: 'latency', endpoint: 'pdf', latencyMs: 120_000, times: 6 });

    for (let i = 1; i <= 6; i++) {
      const client = new AbortController();
      const download = fetch(`${gw.url}${link.pathname}${link.search}`, { signal: client.signal }).catch(() => undefined);
      await vi.waitFor(() => expect(gw.upstream('pdf')).toBe(i));
      client.abort();
      await download;
      await vi.waitFor(() => expect(aborted).toHaveLength(i));
    }
    // Five failures in a row would have opened it; the sixth download reached Didit, and reads go on.
    expect(gw.services.didit.breakerState()).toBe('closed');
    expect(await gw.post(reviewer, `{ session(id: "${id}") { status } }`)).toMatchObject({ data: { session: { status: 'APPROVED' } } });
  } finally {
    await gw.close();
  }
});
