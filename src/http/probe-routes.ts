import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../core/context.ts';
import { pathnameOf } from '../lib/request-url.ts';
import { sendJson } from '../lib/send-json.ts';

/** How long readiness waits for a Didit token it does not hold yet (v1). */
const TOKEN_CHECK_TIMEOUT_MS = 3000;

/**
 * `GET /metrics`, Prometheus text (OpenMetrics with exemplars when tracing is on): only to the
 * bearer of METRICS_TOKEN when one is set. Served on the gateway's port, or alone on METRICS_PORT
 * when that is set (see `gateway.ts`).
 */
export function createMetricsRoute(services: Services) {
  const expected = services.config.metricsToken ? Buffer.from(`Bearer ${services.config.metricsToken}`) : undefined;
  const metricsAllowed = (authorization: string | undefined) => {
    if (!expected) return true;
    const given = Buffer.from(authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (pathname !== '/metrics' || req.method !== 'GET') return false;
    if (!metricsAllowed(req.headers.authorization)) {
      sendJson(res, 401, { error: 'Metrics need Authorization: Bearer <METRICS_TOKEN>' }, { 'www-authenticate': 'Bearer' });
      return true;
    }
    const { registry } = services.metrics;
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
    return true;
  };
}

/**
 * The probes operators point at the gateway: `/readiness` (`/health`, liveness, is answered in `handler.ts`), and `/metrics`
 * unless it has a port of its own. Ready means: configuration loaded (we are running), a Didit
 * token held or obtainable (v1) or an API key (v3), Redis connected when configured, and not draining.
 */
export function createProbeRoutes(options: { services: Services; isDraining: () => boolean }) {
  const { services } = options;
  const metrics = services.config.metricsPort === undefined ? createMetricsRoute(services) : undefined;

  async function credentialsUsable(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), TOKEN_CHECK_TIMEOUT_MS)));
    try {
      return await Promise.race([services.didit.credentialsUsable(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (pathname === '/readiness') {
      const checks = {
        draining: options.isDraining(),
        diditToken: await credentialsUsable(),
        redis: services.events.connected(),
        diditCircuit: services.didit.breakerState(),
      };
      const ready = !checks.draining && checks.diditToken && checks.redis;
      sendJson(res, ready ? 200 : 503, { ready, checks });
      return true;
    }
    return metrics ? metrics(req, res, pathname) : false;
  };
}

/** The handler of METRICS_PORT's server: `/metrics` and nothing else. */
export function serveMetricsOnly(services: Services) {
  const metrics = createMetricsRoute(services);
  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (!(await metrics(req, res, pathnameOf(req.url)))) sendJson(res, 404, { error: 'Only GET /metrics is served here' });
    } catch (error) {
      services.log.error({ err: error }, 'metrics request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'Unexpected error' });
    }
  };
}
