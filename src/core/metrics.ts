import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type RegistryContentType } from 'prom-client';
import { sampledTraceId, spanEvent, tracingOn } from '../lib/tracing.ts';

/** Distinct operation names kept as labels; past that they count as "other" (names are client-chosen). */
const MAX_OPERATION_LABELS = 200;
/** A longer client-chosen name counts as "other" (a name may be as long as the body allows). */
const MAX_OPERATION_LABEL_LENGTH = 64;
/** What an error code label may look like (codes are the gateway's own; anything else is "OTHER"). */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,39}$/;
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The gateway's Prometheus metrics. Labels are bounded, fixed sets (endpoint, status, outcome,
 * code, operation name): never a session id, a user id or anything personal.
 */
export function createMetrics(
  gauges: { subscriptions: () => number; redisConnected: () => boolean; breakerOpen: () => number; budgetShared: () => boolean },
  /** Names of the trusted documents' operations: always a label of their own. */
  trustedOperations: ReadonlySet<string> = new Set(),
) {
  // With tracing on, latencies carry exemplars (the trace id of a sampled request), which only
  // OpenMetrics can say: /metrics then answers in that format (Prometheus reads it).
  const exemplars = tracingOn();
  const registry = new Registry<RegistryContentType>();
  if (exemplars) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  const registers = [registry];
  const observe = (histogram: Histogram<string>, labels: Record<string, string>, value: number) => {
    if (!exemplars) return histogram.observe(labels, value);
    const traceId = sampledTraceId();
    histogram.observe({ labels, value, exemplarLabels: traceId ? { trace_id: traceId } : {} });
  };

  const operations = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'GraphQL operations by name and type',
    labelNames: ['operation', 'type'],
    buckets: LATENCY_BUCKETS,
    registers,
    enableExemplars: exemplars,
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
    enableExemplars: exemplars,
  });
  const tokenRefreshes = new Counter({ name: 'gateway_didit_token_refreshes_total', help: 'Didit access tokens fetched', registers });
  const cacheLookups = new Counter({ name: 'gateway_decision_cache_lookups_total', help: 'Decision cache reads by outcome: hit (in-process), shared (Redis), miss (read from Didit), stale (old copy while Didit failed)', labelNames: ['outcome'], registers });
  const responseCacheLookups = new Counter({ name: 'gateway_response_cache_lookups_total', help: 'Answer cache reads by outcome (hit, miss)', labelNames: ['outcome'], registers });
  const backgroundReads = new Counter({ name: 'gateway_didit_background_reads_total', help: 'Didit calls made to revalidate kept copies (no caller pays them), by endpoint', labelNames: ['endpoint'], registers });
  const webhooks = new Counter({ name: 'gateway_webhook_deliveries_total', help: 'Didit webhook deliveries by outcome', labelNames: ['outcome'], registers });
  new Gauge({ name: 'gateway_didit_circuit_open', help: 'Circuit breaker around Didit: 0 closed, 0.5 half-open, 1 open', registers, collect() { this.set(gauges.breakerOpen()); } });
  new Gauge({ name: 'gateway_open_subscriptions', help: 'GraphQL subscriptions open on this instance', registers, collect() { this.set(gauges.subscriptions()); } });
  new Gauge({ name: 'gateway_budget_shared', help: "1 when Didit's budget is counted in Redis for the fleet, 0 when this instance counts its own share", registers, collect() { this.set(gauges.budgetShared() ? 1 : 0); } });
  new Gauge({ name: 'gateway_redis_connected', help: '1 when Redis is connected (or not used), else 0', registers, collect() { this.set(gauges.redisConnected() ? 1 : 0); } });

  const budgetCalls = new Counter({
    name: 'gateway_budget_calls_total',
    help: "Calls scheduled under Didit's budget, by level (reviewers, applicants, background), endpoint (decision, pdf, get) and outcome (served at once, waited then served, refused)",
    labelNames: ['level', 'endpoint', 'outcome'],
    registers,
  });
  const budgetWait = new Histogram({
    name: 'gateway_budget_queue_wait_seconds',
    help: "Time calls spent waiting for their turn under Didit's budget, served or refused, by level",
    labelNames: ['level'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers,
  });
  /** Borrowed calls of the last minute per level and endpoint (times, oldest first). */
  const borrowedTimes = new Map<string, number[]>();
  new Gauge({
    name: 'gateway_budget_borrowed',
    help: "Calls this instance let through in the last 60 s over their level's guarantee, on capacity another level left unused, by level and endpoint",
    labelNames: ['level', 'endpoint'],
    registers,
    collect() {
      this.reset();
      const since = Date.now() - 60_000;
      for (const [key, times] of borrowedTimes) {
        while (times.length && times[0]! < since) times.shift();
        const [level, endpoint] = key.split(':');
        this.set({ level, endpoint }, times.length);
      }
    },
  });

  // Only operations that passed validation (they executed) from an authenticated caller name a
  // label, and only so many and so long: a name is the client's to choose, and each is a label on
  // 16 series. Everyone else is "other".
  const names = new Set<string>();
  const operationLabel = (name: string | undefined, authenticated: boolean) => {
    if (!name) return 'anonymous';
    if (trustedOperations.has(name) || names.has(name)) return name;
    if (authenticated && name.length <= MAX_OPERATION_LABEL_LENGTH && names.size < MAX_OPERATION_LABELS) {
      names.add(name);
      return name;
    }
    return 'other';
  };

  return {
    registry,
    /** An operation that executed; `authenticated`: run by a caller with a valid token. */
    operation(name: string | undefined, type: string, seconds: number, errorCodes: string[], authenticated: boolean) {
      const operation = operationLabel(name, authenticated);
      observe(operations, { operation, type }, seconds);
      for (const code of errorCodes) operationErrors.inc({ operation, code: ERROR_CODE.test(code) ? code : 'OTHER' });
    },
    upstreamCall(endpoint: string, status: number | 'error', seconds: number) {
      observe(upstream, { endpoint, status: String(status) }, seconds);
    },
    tokenRefreshed: () => tokenRefreshes.inc(),
    // Lookups and deliveries are events of the span they happen in, too.
    cacheLookup(outcome: string) {
      cacheLookups.inc({ outcome });
      spanEvent('decision_cache.lookup', { 'cache.outcome': outcome });
    },
    responseCacheLookup(outcome: string) {
      responseCacheLookups.inc({ outcome });
      spanEvent('response_cache.lookup', { 'cache.outcome': outcome });
    },
    webhook(outcome: string) {
      webhooks.inc({ outcome });
      spanEvent('webhook.delivery', { 'webhook.outcome': outcome });
    },
    budget: {
      outcome(level: string, endpoint: string, outcome: string, waitedMs: number) {
        budgetCalls.inc({ level, endpoint, outcome });
        budgetWait.observe({ level }, waitedMs / 1000);
      },
      borrowed(level: string, endpoint: string) {
        const key = `${level}:${endpoint}`;
        let times = borrowedTimes.get(key);
        if (!times) borrowedTimes.set(key, (times = []));
        times.push(Date.now());
        // Bounded: a minute of Didit's largest limit.
        if (times.length > 1000) times.shift();
      },
    },
    backgroundRead: (endpoint: string) => backgroundReads.inc({ endpoint }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
