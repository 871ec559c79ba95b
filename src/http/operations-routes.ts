import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../core/context.ts';
import { sendJson } from '../lib/send-json.ts';

/** How long readiness waits for a Didit token it does not hold yet (v1). */
const TOKEN_CHECK_TIMEOUT_MS = 3000;

/**
 * `/readiness` and `/metrics`, for operators (`/health`, liveness, is answered in `http.ts`).
 * Ready means: configuration loaded (we are running), a Didit token held or obtainable (v1) or an API key (v3), Redis
 * connected when configured, and not draining. Metrics are Prometheus text: keep the endpoint on
 * an internal network, or set METRICS_TOKEN so that only your scraper reads it.
 */
export function createOperationsRoutes(options: { services: Services; isDraining: () => boolean }) {
  const { services } = options;

  const expected = services.config.metricsToken ? Buffer.from(`Bearer ${services.config.metricsToken}`) : undefined;
  const metricsAllowed = (authorization: string | undefined) => {
    if (!expected) return true;
    const given = Buffer.from(authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

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
    if (pathname === '/metrics' && req.method === 'GET') {
      if (!metricsAllowed(req.headers.authorization)) {
        sendJson(res, 401, { error: 'Metrics need Authorization: Bearer <METRICS_TOKEN>' }, { 'www-authenticate': 'Bearer' });
        return true;
      }
      const { registry } = services.metrics;
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
      return true;
    }
    return false;
  };
}
