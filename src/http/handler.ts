import { maxHeaderSize, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import { sendErrors, sendJson } from '../lib/send-json.ts';
import type { Services } from '../core/context.ts';
import { RateLimited } from '../core/errors.ts';
import { httpAnswerOf } from './errors.ts';
import type { FastPath } from './graphql/fast-path/handler.ts';
import { pathnameOf, requestUrl } from '../lib/request-url.ts';
import { traceRequest } from '../lib/tracing.ts';
import { getCORSHeadersByRequestAndOptions } from '@whatwg-node/server';
import { printSchemaFile } from '../schema/print.ts';
import { STREAM_ENDPOINT } from './graphql/sse-stream.ts';
import { corsOptions, type YogaServer } from './graphql/yoga.ts';

/** The SDL, for codegen and tools while developing (production has no introspection, and no this). */
export const SCHEMA_ENDPOINT = '/graphql/schema.graphql';

export interface HttpHandlerOptions {
  services: Services;
  yoga: YogaServer;
  /** `POST /graphql` with a JSON body, answered before Yoga when it can be (fast-path/). */
  fastPath?: FastPath;
  /** Extra routes, tried before GraphQL: return true when handled. */
  routes?: Array<(req: IncomingMessage, res: ServerResponse, pathname: string) => boolean | Promise<boolean>>;
}

/**
 * The gateway's HTTP surface. GraphQL goes to Yoga; the routes that need raw bytes or a stream
 * (PDF downloads, webhooks) are plain node handlers beside it.
 */
export function createHttpHandler(options: HttpHandlerOptions) {
  const { services, yoga, fastPath } = options;
  const { limits } = services.config;
  const cors = corsOptions(services.config);
  const schemaFile = services.config.production ? undefined : serveSchema(printSchemaFile());
  // Refusals made here carry the CORS headers Yoga would add, so a page can read their code.
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string) => {
    const view = { method: req.method ?? 'GET', headers: { get: (name: string) => (req.headers[name.toLowerCase()] as string | undefined) ?? null } };
    const corsHeaders = cors ? getCORSHeadersByRequestAndOptions(view as unknown as Request, cors) : null;
    sendErrors(res, status, code, message, corsHeaders ?? {});
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const pathname = pathnameOf(req.url);
      if (pathname === '/health') return sendJson(res, 200, { status: 'ok' });
      if (pathname.startsWith('/reports/')) return await serveReport(services, req, res, requestUrl(req));
      // GraphQL first: no route beside it answers these paths, and asking each (async) cost every request.
      if (pathname === '/graphql' || pathname === STREAM_ENDPOINT) {
        if (req.method === 'POST' || req.method === 'PUT') {
          const length = Number(req.headers['content-length']);
          if (req.headers['content-length'] === undefined) return refuse(req, res, 411, 'BAD_REQUEST', 'Send the body with a Content-Length header');
          if (!(length <= limits.maxBodyBytes)) return refuse(req, res, 413, 'PAYLOAD_TOO_LARGE', `The request body is over ${limits.maxBodyBytes} bytes`);
          if (pathname === '/graphql' && req.method === 'POST' && fastPath && (await fastPath(req, res))) return;
        }
        return await yoga.requestListener(req, res);
      }
      for (const route of options.routes ?? []) if (await route(req, res, pathname)) return;
      if (pathname === SCHEMA_ENDPOINT && schemaFile) return await schemaFile(req, res);
      refuse(req, res, 404, 'ROUTE_NOT_FOUND', 'Nothing here: GraphQL is at /graphql');
    } catch (error) {
      services.log.error({ err: error }, 'request failed');
      if (!res.headersSent) refuse(req, res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error');
      else res.destroy();
    }
  };
  return (req: IncomingMessage, res: ServerResponse) => traceRequest(req, res, () => routeOf(req.url), () => handle(req, res));
}

/** The route a request belongs to, as a template for traces (a path may hold a session id, a query a signature). */
function routeOf(url = '/'): string {
  const end = url.indexOf('?');
  const pathname = end === -1 ? url : url.slice(0, end);
  if (pathname.startsWith('/reports/')) return '/reports/{file}';
  return ['/graphql', STREAM_ENDPOINT, SCHEMA_ENDPOINT, '/health', '/readiness', '/metrics', '/webhooks/didit'].includes(pathname) ? pathname : '/{unknown}';
}

/** What Node's parser refuses, answered as the gateway answers (Node's own answer is an empty 431 or 400). */
const CLIENT_ERRORS: Record<string, { status: number; reason: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', message: `The request headers are over ${maxHeaderSize} bytes` },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'BAD_REQUEST', message: 'The request took too long to arrive' },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'BAD_REQUEST', message: 'Malformed HTTP request' };

/** The server's `clientError` listener: an HTTP request Node could not parse gets a GraphQL-shaped error, then the connection closes. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A response already under way on this keep-alive socket: no room for another one.
  if (error.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
  const { status, reason, code, message } = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function serveSchema(sdl: string) {
  const body = Buffer.from(sdl);
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendErrors(res, 405, 'BAD_REQUEST', 'Only GET reads the schema', { allow: 'GET, HEAD' });
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** What Didit's 403 means for a PDF. */
const REPORT_MESSAGES = { forbidden: 'The report exists once the session is Approved, Declined or In Review' };

/**
 * `GET /reports/{id}.pdf?expires=&signature=`: checks the signed link, then streams Didit's PDF
 * through without buffering it. A bad link makes no upstream call.
 */
async function serveReport(services: Services, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'GET, HEAD' });
  const granted = await services.pdfLinks.download(url.pathname, url.searchParams);
  if (!granted) return sendJson(res, 403, { error: 'This download link is invalid or has expired' });
  if (granted === 'used-up') return sendJson(res, 410, { error: 'This download link has been used as often as it may be; ask for a new one' });
  const { sessionId } = granted;
  // Each download is a Didit call, charged to whoever made the link (its turn under Didit's PDF limit).
  try {
    await services.budget.charge(granted.payer, 'pdf');
  } catch (error) {
    if (!(error instanceof RateLimited)) throw error;
    const answer = httpAnswerOf(error, REPORT_MESSAGES);
    return sendJson(res, answer.status, answer.body, answer.headers);
  }

  // The client going away cancels the upstream download too.
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  let pdf;
  try {
    pdf = await services.didit.streamPdf(sessionId, abort.signal);
  } catch (error) {
    // A client that left before Didit answered is no failure worth a warning.
    if (!abort.signal.aborted) services.log.warn({ err: error }, 'PDF report download failed');
    const answer = httpAnswerOf(error, REPORT_MESSAGES);
    return sendJson(res, answer.status, answer.body, answer.headers);
  }
  res.writeHead(200, {
    'content-type': 'application/pdf',
    'content-disposition': `attachment; filename="${pdfFileName(sessionId)}"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(pdf.contentLength !== undefined ? { 'content-length': String(pdf.contentLength) } : {}),
  });
  if (req.method === 'HEAD') {
    pdf.body.destroy();
    return void res.end();
  }
  await pipeline(pdf.body, res).catch((error: unknown) => {
    if (!abort.signal.aborted) services.log.warn({ err: error }, 'PDF stream interrupted');
  });
}
