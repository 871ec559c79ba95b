/**
 * A fast stand-in for Didit's API, run as its own process by `bench/run.ts`: it answers what the
 * gateway asks for (token, decision, create, PDF) with precomputed bodies so that it costs as
 * little CPU as possible and the benchmark measures the gateway, not the upstream.
 *
 * Environment: `STUB_ACCESS_TOKEN` (the bearer token it issues and then requires). It listens on
 * a free 127.0.0.1 port and reports `{ port }` to its parent over IPC.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { drained } from '../src/lib/drained.ts';
import { PDF_BYTES } from './common.ts';

const ACCESS_TOKEN = process.env.STUB_ACCESS_TOKEN ?? 'bench-access-token';
const BEARER = `Bearer ${ACCESS_TOKEN}`;

/** The report goes out in 64 KiB chunks (800 of them for 50 MiB). */
const PDF_CHUNK = 64 * 1024;

const SESSION_PATH = /^\/v1\/session\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(decision|generate-pdf)\/$/;

type Counter = 'token' | 'decision' | 'create' | 'pdf' | 'traces' | 'unauthorized' | 'notFound';
const zero = (): Record<Counter, number> => ({ token: 0, decision: 0, create: 0, pdf: 0, traces: 0, unauthorized: 0, notFound: 0 });
/** `counts` is reset between cases; `totals` covers the stub's whole life (token requests per gateway). */
let counts = zero();
const totals = zero();
function count(name: Counter) {
  counts[name]++;
  totals[name]++;
}

// The seed decision split around its session id, so that each answer is three string pieces
// joined, not a JSON.stringify of a 5 kB object. The id appears in `session_id` and `session_url`.
const seed = JSON.parse(readFileSync(new URL('../test/fixtures/seed-decision.json', import.meta.url), 'utf8'));
const ID_MARK = '\u0000id\u0000';
const decisionParts = JSON.stringify({ ...seed, session_id: ID_MARK, session_url: `https://verify.didit.me/session/${ID_MARK}` }).split(
  JSON.stringify(ID_MARK).slice(1, -1),
);
const decisionLength = Buffer.byteLength(decisionParts.join('')) + 36 * (decisionParts.length - 1);

// The PDF is three reusable 64 KiB buffers: a first chunk that opens with the PDF magic, filler,
// and a last chunk that ends with `%%EOF`. Writing the same buffer many times allocates nothing.
const filler = Buffer.alloc(PDF_CHUNK, '% bench filler: this report is padding only ----------------------\n');
const firstChunk = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'), filler]).subarray(0, PDF_CHUNK);
const lastChunk = Buffer.concat([filler, Buffer.from('\n%%EOF')]).subarray(-PDF_CHUNK);
const PDF_CHUNKS = PDF_BYTES / PDF_CHUNK;

function sendJson(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function tokenBody(): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    iss: 'https://didit.me',
    iat: now,
    sub: 'bench-application',
    client_id: 'bench',
    organization_id: 'bench-organization',
    expires_in: 86_400,
    exp: now + 86_400,
    access_token: ACCESS_TOKEN,
  });
}

let sessionNumber = 0;
async function createSession(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let input: { callback?: string; features?: string; vendor_data?: string } = {};
  try {
    input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return sendJson(res, 400, '{"detail":"malformed JSON"}');
  }
  const sessionToken = randomUUID().slice(0, 8);
  sendJson(
    res,
    201,
    JSON.stringify({
      session_id: randomUUID(),
      session_number: ++sessionNumber,
      session_token: sessionToken,
      vendor_data: input.vendor_data ?? null,
      status: 'Not Started',
      callback: input.callback ?? null,
      url: `https://verify.didit.me/session/${sessionToken}`,
      features: input.features ?? 'OCR + FACE',
    }),
  );
}

/** Streams the report chunk by chunk, waiting for `drain` so memory stays flat whatever the reader's pace. */
async function streamPdf(res: ServerResponse, sessionId: string) {
  res.writeHead(200, {
    'content-type': 'application/pdf',
    'content-length': PDF_BYTES,
    'content-disposition': `attachment; filename=session_${sessionId}.pdf`,
  });
  for (let i = 0; i < PDF_CHUNKS; i++) {
    if (res.destroyed) return;
    const chunk = i === 0 ? firstChunk : i === PDF_CHUNKS - 1 ? lastChunk : filler;
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/stats') return sendJson(res, 200, JSON.stringify({ counts, totals }));
  if (req.method === 'POST' && url === '/stats/reset') {
    counts = zero();
    return sendJson(res, 200, '{}');
  }
  if (req.method === 'POST' && url === '/auth/v2/token/') {
    req.resume();
    count('token');
    return sendJson(res, 200, tokenBody());
  }
  // The gateway's traces (OTLP over HTTP, when the bench turns tracing on): read and dropped.
  // An empty body is an empty ExportTraceServiceResponse in protobuf.
  if (req.method === 'POST' && url === '/v1/traces') {
    req.resume();
    count('traces');
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
    return res.end();
  }
  // Everything below needs the token issued above, as Didit's session endpoints do.
  if (req.headers.authorization !== BEARER) {
    req.resume();
    count('unauthorized');
    return sendJson(res, 401, '{"detail":"Invalid token"}');
  }
  if (req.method === 'POST' && url === '/v1/session/') {
    count('create');
    return createSession(req, res);
  }
  const match = req.method === 'GET' ? SESSION_PATH.exec(url) : null;
  if (match?.[2] === 'decision') {
    count('decision');
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': decisionLength });
    return res.end(decisionParts.join(match[1]));
  }
  if (match?.[2] === 'generate-pdf') {
    count('pdf');
    return streamPdf(res, match[1]!);
  }
  req.resume();
  count('notFound');
  sendJson(res, 404, '{"detail":"Not found."}');
}

// A 1 MB socket buffer lets several PDF chunks queue: with the default 16 kB every 64 kB write
// waits for 'drain', and the report trickled out at a third of the speed.
const server = createServer({ highWaterMark: 1024 * 1024 }, (req, res) => {
  handle(req, res).catch(() => res.destroy());
});
// Longer than any pause between cases, so clients' keep-alive connections are never cut under them.
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
// The parent going away (even killed) closes the IPC channel: the stub goes with it.
process.on('disconnect', () => process.exit(0));
