import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { GraphQLError } from 'graphql';
import { DiditError } from '../didit/errors.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import { sendErrors, sendJson } from '../lib/send-json.ts';
import type { Authenticate } from '../core/auth.ts';
import type { Services } from '../core/context.ts';
import { createGraphqlFastPath } from './graphql/fast-path.ts';
import { pathnameOf, requestUrl } from '../lib/request-url.ts';
import { getCORSHeadersByRequestAndOptions } from '@whatwg-node/server';
import { printSchemaFile } from '../schema/print.ts';
import { STREAM_ENDPOINT } from './graphql/sse-stream.ts';
import { corsOptions, type YogaServer } from './graphql/yoga.ts';

/** The SDL, for codegen and tools while developing (production has no introspection, and no this). */
export const SCHEMA_ENDPOINT = '/graphql/schema.graphql';

export interface HttpHandlerOptions {
  services: Services;
  yoga: YogaServer;
  authenticate: Authenticate;
  /** Extra routes, tried before GraphQL: return true when handled. */
  routes?: Array<(req: IncomingMessage, res: ServerResponse, pathname: string) => boolean | Promise<boolean>>;
}

/**
 * The gateway's HTTP surface. GraphQL goes to Yoga; the routes that need raw bytes or a stream
 * (PDF downloads, webhooks) are plain node handlers beside it.
 */
export function createHttpHandler(options: HttpHandlerOptions) {
  const { services, yoga, authenticate } = options;
  const { limits } = services.config;
  const cors = corsOptions(services.config);
  const fastPath = services.config.graphqlFastPath ? createGraphqlFastPath(yoga, services, authenticate, cors) : undefined;
  const schemaFile = services.config.production ? undefined : serveSchema(printSchemaFile());
  // Refusals made here carry the CORS headers Yoga would add, so a page can read their code.
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string) => {
    const view = { method: req.method ?? 'GET', headers: { get: (name: string) => (req.headers[name.toLowerCase()] as string | undefined) ?? null } };
    const corsHeaders = cors ? getCORSHeadersByRequestAndOptions(view as unknown as Request, cors) : null;
    sendErrors(res, status, code, message, corsHeaders ?? {});
  };

  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const pathname = pathnameOf(req.url);
      if (pathname === '/health') return sendJson(res, 200, { status: 'ok' });
      if (pathname.startsWith('/reports/')) return await serveReport(services, req, res, requestUrl(req));
      for (const route of options.routes ?? []) if (await route(req, res, pathname)) return;
      if (pathname === '/graphql' || pathname === STREAM_ENDPOINT) {
        if (req.method === 'POST' || req.method === 'PUT') {
          const length = Number(req.headers['content-length']);
          if (req.headers['content-length'] === undefined) return refuse(req, res, 411, 'BAD_REQUEST', 'Send the body with a Content-Length header');
          if (!(length <= limits.maxBodyBytes)) return refuse(req, res, 413, 'PAYLOAD_TOO_LARGE', `The request body is over ${limits.maxBodyBytes} bytes`);
          if (pathname === '/graphql' && req.method === 'POST' && fastPath && (await fastPath(req, res))) return;
        }
        return await yoga.requestListener(req, res);
      }
      if (pathname === SCHEMA_ENDPOINT && schemaFile) return await schemaFile(req, res);
      refuse(req, res, 404, 'ROUTE_NOT_FOUND', 'Nothing here: GraphQL is at /graphql');
    } catch (error) {
      services.log.error({ err: error }, 'request failed');
      if (!res.headersSent) refuse(req, res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error');
      else res.destroy();
    }
  };
}

function serveSchema(sdl: string) {
  const body = Buffer.from(sdl);
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendErrors(res, 405, 'BAD_REQUEST', 'Only GET reads the schema', { allow: 'GET, HEAD' });
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/**
 * `GET /reports/{id}.pdf?expires=&signature=`: checks the signed link, then streams Didit's PDF
 * through without buffering it. A bad link makes no upstream call.
 */
async function serveReport(services: Services, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'GET, HEAD' });
  const granted = services.pdfLinks.verify(url.pathname, url.searchParams);
  if (!granted) return sendJson(res, 403, { error: 'This download link is invalid or has expired' });
  const { sessionId } = granted;
  // Each download is a Didit call, charged to whoever made the link (its share of Didit's PDFs).
  try {
    await services.budget.charge(granted.payer, 'pdf');
  } catch (error) {
    const { retryAfter, limit } = (error as GraphQLError).extensions ?? {};
    if (!retryAfter) throw error;
    return sendJson(res, 429, { error: (error as Error).message, limit }, { 'retry-after': String(retryAfter) });
  }

  // The client going away cancels the upstream download too.
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  let pdf;
  try {
    pdf = await services.didit.streamPdf(sessionId, abort.signal);
  } catch (error) {
    const [status, message] = reportErrorStatus(error);
    // A client that left before Didit answered is no failure worth a warning.
    if (!abort.signal.aborted) services.log.warn({ err: error }, 'PDF report download failed');
    const retryAfter = (error as { retryAfter?: number }).retryAfter;
    return sendJson(res, status, retryAfter ? { error: message, limit: 'didit' } : { error: message }, retryAfter ? { 'retry-after': String(retryAfter) } : {});
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

function reportErrorStatus(error: unknown): [number, string] {
  if (!(error instanceof DiditError)) return [500, 'Internal error'];
  switch (error.code) {
    case 'DIDIT_NOT_FOUND':
      return [404, 'Session not found'];
    case 'DIDIT_FORBIDDEN':
      return [409, 'The report exists once the session is Approved, Declined or In Review'];
    case 'DIDIT_RATE_LIMITED':
      return [429, 'Too many requests to Didit; try again later'];
    case 'DIDIT_UNAVAILABLE':
      return [503, 'Didit is unavailable; try again later'];
    default:
      return [502, 'Didit answered something the gateway cannot use'];
  }
}
