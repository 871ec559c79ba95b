/**
 * The sandbox's request handling around the handlers: finds the route, records the request,
 * applies the fault planned for an API endpoint, and turns what a handler throws into an answer
 * (an `HttpError` into its JSON, anything else into a 500 and a warning in the log).
 */
import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { sendJson } from '../lib/send-json.ts';
import type { SandboxContext } from './context.ts';
import type { ApiEndpoint } from './faults.ts';
import { HttpError } from './http.ts';
import { rateLimitHeaders, type Scope } from './rate-limits.ts';

/** The API endpoint a request counts as, for faults and request counts; 'other' is never faulted. */
export type Endpoint = ApiEndpoint | 'other';

export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  endpoint: Endpoint;
  /** The W3C trace context the caller sent, if any (the gateway sends it with tracing on). */
  traceparent?: string;
}

/** Answers one request; the captured path segments are passed as `params`. */
export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void;

export interface Route {
  /** Matched against the whole path; its capture groups become the handler's `params`. */
  pattern: RegExp;
  endpoint: Endpoint;
  /** By HTTP method; any other method is answered 405. */
  methods: Record<string, Handler>;
  /** v3: the rate-limit scope (by method) an injected 429 names in its `X-RateLimit-*` headers. */
  rateLimit?: (method: string) => Scope;
}

/** One path segment, captured. */
export const SEGMENT = '([^/]+)';

/** A long run keeps at least the latest this many requests. */
const REQUEST_LOG_LIMIT = 100_000;

export interface Router {
  readonly handler: RequestListener;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[];
}

export function createRouter(routes: readonly Route[], context: SandboxContext): Router {
  const { faults, tokens, delays, logger } = context;
  const requests: RecordedRequest[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // Split by hand: `new URL('//host/x', base)` would read a path starting with // as a host.
    const path = (req.url ?? '/').split('?')[0]!;
    let params: string[] = [];
    const route = routes.find((r) => {
      const match = r.pattern.exec(path);
      if (match) params = match.slice(1);
      return match !== null;
    });
    const endpoint = route?.endpoint ?? 'other';
    if (requests.length >= 2 * REQUEST_LOG_LIMIT) requests.splice(0, REQUEST_LOG_LIMIT);
    const traceparent = req.headers.traceparent;
    requests.push({ method, path, endpoint, ...(typeof traceparent === 'string' && { traceparent }) });

    try {
      if (context.draining) throw new HttpError(503, { detail: 'Service restarting; try again shortly.' }, { 'Retry-After': '1' });
      if (endpoint !== 'other' && !(await survivesFaults(endpoint, req, res, route?.rateLimit?.(method)))) return;
      if (!route) throw new HttpError(404, { detail: 'Not found.' });
      const run = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
      if (!run) throw new HttpError(405, { detail: `Method "${method}" not allowed.` }, { Allow: Object.keys(route.methods).join(', ') });
      await run(req, res, params);
    } catch (error) {
      if (error instanceof HttpError) return sendJson(res, error.status, error.body, error.headers);
      logger.warn(`${method} ${path} failed: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { detail: 'Internal server error.' });
    }
  }

  /** Applies the fault planned for this request; false when the fault answered (or dropped) it. */
  async function survivesFaults(endpoint: ApiEndpoint, req: IncomingMessage, res: ServerResponse, scope: Scope | undefined): Promise<boolean> {
    const plan = faults.plan(endpoint);
    if (plan.latencyMs > 0) {
      logger.info(`fault: ${plan.latencyMs} ms latency on ${endpoint}`);
      await delays.wait(plan.latencyMs);
      if (context.closed) return false;
    }
    if (!plan.action) return true;
    logger.info(`fault: ${plan.action.kind} on ${endpoint}`);
    switch (plan.action.kind) {
      case 'drop':
        req.socket.destroy();
        return false;
      case 'status':
        sendJson(res, plan.action.status, { detail: STATUS_CODES[plan.action.status] ?? 'Error' });
        return false;
      case 'rate-limit': {
        const seconds = plan.action.retryAfter;
        // v3 answers say which limit was hit, as Didit's do; v1's never did.
        const limits = scope ? rateLimitHeaders({ scope, remaining: 0, reset: Math.ceil(Date.now() / 1000) + seconds }) : {};
        sendJson(res, 429, { detail: `Request was throttled. Expected available in ${seconds} seconds.` }, { ...limits, 'Retry-After': String(seconds) });
        return false;
      }
      case 'malformed':
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"session_id": "');
        return false;
      case 'expire-token':
        tokens.revokeAll();
        return true;
    }
  }

  return { handler: (req, res) => void handle(req, res), requests };
}
