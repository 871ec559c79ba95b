import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Distinct operation names kept as labels; past that they count as "other" (names are client-chosen). */
const MAX_OPERATION_LABELS = 200;
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The gateway's Prometheus metrics. Labels are bounded, fixed sets (endpoint, status, outcome,
 * code, operation name): never a session id, a user id or anything personal.
 */
export function createMetrics(gauges: { subscriptions: () => number; redisConnected: () => boolean; breakerOpen: () => number; budgetShared: () => boolean }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  const registers = [registry];

  const operations = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'GraphQL operations by name and type',
    labelNames: ['operation', 'type'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const operationErrors = new Counter({
    name: 'gateway_graphql_errors_total',
    help: 'Errors in GraphQL results, by operation name and code',
    labelNames: ['operation', 'code'],
    registers,
  });
  const upstream = new Histogram({
    name: 'gateway_didit_request_duration_seconds',
    help: 'Calls to Didit by endpoint and HTTP status ("error" when no answer came)',
    labelNames: ['endpoint', 'status'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const tokenRefreshes = new Counter({ name: 'gateway_didit_token_refreshes_total', help: 'Didit access tokens fetched', registers });
  const cacheLookups = new Counter({ name: 'gateway_decision_cache_lookups_total', help: 'Decision cache reads by outcome: hit (in-process), shared (Redis), miss (read from Didit), stale (old copy while Didit failed)', labelNames: ['outcome'], registers });
  const responseCacheLookups = new Counter({ name: 'gateway_response_cache_lookups_total', help: 'Answer cache reads by outcome (hit, miss)', labelNames: ['outcome'], registers });
  const webhooks = new Counter({ name: 'gateway_webhook_deliveries_total', help: 'Didit webhook deliveries by outcome', labelNames: ['outcome'], registers });
  new Gauge({ name: 'gateway_didit_circuit_open', help: 'Circuit breaker around Didit: 0 closed, 0.5 half-open, 1 open', registers, collect() { this.set(gauges.breakerOpen()); } });
  new Gauge({ name: 'gateway_open_subscriptions', help: 'GraphQL subscriptions open on this instance', registers, collect() { this.set(gauges.subscriptions()); } });
  new Gauge({ name: 'gateway_budget_shared', help: "1 when Didit's budget is counted in Redis for the fleet, 0 when this instance counts its own share", registers, collect() { this.set(gauges.budgetShared() ? 1 : 0); } });
  new Gauge({ name: 'gateway_redis_connected', help: '1 when Redis is connected (or not used), else 0', registers, collect() { this.set(gauges.redisConnected() ? 1 : 0); } });

  const names = new Set<string>();
  const operationLabel = (name: string | undefined) => {
    if (!name) return 'anonymous';
    if (names.has(name)) return name;
    if (names.size < MAX_OPERATION_LABELS) {
      names.add(name);
      return name;
    }
    return 'other';
  };

  return {
    registry,
    operation(name: string | undefined, type: string, seconds: number, errorCodes: string[]) {
      const operation = operationLabel(name);
      operations.observe({ operation, type }, seconds);
      for (const code of errorCodes) operationErrors.inc({ operation, code });
    },
    upstreamCall(endpoint: string, status: number | 'error', seconds: number) {
      upstream.observe({ endpoint, status: String(status) }, seconds);
    },
    tokenRefreshed: () => tokenRefreshes.inc(),
    cacheLookup: (outcome: string) => cacheLookups.inc({ outcome }),
    responseCacheLookup: (outcome: string) => responseCacheLookups.inc({ outcome }),
    webhook: (outcome: string) => webhooks.inc({ outcome }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
