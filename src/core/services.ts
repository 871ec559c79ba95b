import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createDiditClient, type DiditClientOptions } from '../didit/client.ts';
import { DiditUnavailableError } from '../didit/errors.ts';
import { mediaLifetimeMs } from '../didit/media-expiry.ts';
import { GET_CALLS_PER_MINUTE } from '../didit/v1.ts';
import { inSpan, tracingOn } from '../lib/tracing.ts';
import { createBackgroundReads } from './background-reads.ts';
import { BACKGROUND, createBudget, type Budget, type BudgetedEndpoint } from './budget.ts';
import { turnBuckets } from './turns.ts';
import type { Services } from './context.ts';
import { createDecisionCache } from './decision-cache.ts';
import { createErasure } from './erasure.ts';
import { createFleetBuckets } from './fleet-buckets.ts';
import { createMetrics } from './metrics.ts';
import { createPdfLinks } from './pdf-links.ts';
import { createRateLimit } from './rate-limit.ts';
import { createSharedDecisions, type SharedDecisions } from './shared-decisions.ts';
import { createOwners } from './owners.ts';
import { createStatusEvents, type StatusEvents } from './status-events.ts';
import { createSubscriptionSlots } from './subscription-slots.ts';
import type { AuditTrail } from './audit.ts';
import type { SessionIndex } from './session-index.ts';

export interface ServicesOptions {
  log: Logger;
  /** Overrides for the Didit client (tests shorten retries and timeouts). */
  didit?: Partial<DiditClientOptions>;
  /**
   * Told each session that is dropped everywhere in this process (it changed, or was erased), so
   * that what was made from it goes too (the fast path's kept answers).
   */
  onSessionDropped?: (sessionId: string) => void;
  /** v3: how often kept copies are reconciled with Didit's session list (default a quarter of DECISION_MAX_AGE_MS; 0: never). */
  reconcileEveryMs?: number;
  /** Names of the trusted documents' operations: each always a metrics label of its own. */
  trustedOperations?: ReadonlySet<string>;
  /** The audit trail (src/audit/), opened before the services. */
  audit: AuditTrail;
  /** The sessions created through the gateway, in the audit database: v1's search. */
  sessionIndex?: SessionIndex;
}

export interface RunningServices {
  services: Services;
  /**
   * The status events for the webhook route: the session is dropped for the whole fleet (once, by
   * the instance Didit called) before its event goes out; the others only forget their own copy.
   */
  recordAfterDrop: StatusEvents;
  /** Closes the connections the services hold (Redis, Didit), once requests are done with them. */
  close(): Promise<void>;
}

/**
 * Every service the gateway shares between requests, built in one place, and the one place
 * where a change to a session reaches every copy made from it: a status event (on any instance)
 * drops the decision, and a dropped decision drops whatever was made from it.
 */
export function createServices(config: Config, options: ServicesOptions): RunningServices {
  const { log } = options;
  const events = createStatusEvents({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, log });
  // Didit's pace and every caller's limits, counted for the whole fleet when Redis is configured.
  const buckets = createFleetBuckets({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, instances: config.budget.instances, log });
  const breakerGauge = { closed: 0, 'half-open': 0.5, open: 1 } as const;
  const metrics = createMetrics({
    subscriptions: () => events.subscriberCount(),
    redisConnected: () => events.connected(),
    breakerOpen: () => breakerGauge[client.breakerState()],
    budgetShared: () => buckets.shared(),
  }, options.trustedOperations);
  const { api, clientId, clientSecret, authUrl, apiKey, ...common } = config.didit;
  const limitsPerMinute: Record<BudgetedEndpoint, number> = { decision: config.didit.decisionsPerMinute, pdf: config.didit.pdfsPerMinute, get: GET_CALLS_PER_MINUTE };
  const client = createDiditClient({
    ...(api === 'v3' ? { apiKey } : { clientId, clientSecret, authUrl }),
    ...common,
    paceBuckets: buckets,
    // A call that had its turn from the scheduler may still meet a retry that took Didit's pace
    // meanwhile: it waits as long as a turn may be waited for, rather than be refused.
    paceWaitMs: config.budget.queueWaitMs,
    retriesAlsoIn: (paced) => {
      const all = turnBuckets({ endpoint: paced, limit: limitsPerMinute[paced as BudgetedEndpoint] ?? 0, reviewerReserve: 0 }).all;
      return all.limit > 0 ? [{ ...all, shape: 'strict' }] : [];
    },
    onCall: ({ endpoint, status, durationMs }) => {
      metrics.upstreamCall(endpoint, status, durationMs / 1000);
      if (log.isLevelEnabled('debug')) log.debug({ endpoint, status, durationMs: Math.round(durationMs) }, 'didit call');
    },
    onTokenRefresh: () => {
      metrics.tokenRefreshed();
      log.info('didit token refreshed');
    },
    onBreakerChange: (state) => (state === 'open' ? log.error : log.warn).call(log, { state }, `circuit breaker around Didit is ${state}`),
    ...options.didit,
  });
  const sharedDecisions = startSharedDecisions(config, log);
  // A fleet without the shared level hears changes through the status events alone.
  const fleetLink = !sharedDecisions && config.redisUrl ? watchEvents(events, () => decisionCache.forgetAll()) : undefined;
  const reconcileEveryMs = client.api === 'v3' ? (options.reconcileEveryMs ?? Math.max(500, config.decisionCache.maxAgeMs / 4)) : 0;
  const scheduler = createBudget({
    turns: buckets,
    config: config.budget,
    limitsPerMinute,
    observer: metrics.budget,
    log,
  });
  // A call the open breaker would refuse at once takes no turn: an outage spends none of Didit's window.
  const budget: Budget = {
    charge: (payer, endpoint) => (client.breakerState() === 'open' ? Promise.reject(new DiditUnavailableError('circuit open')) : scheduler.charge(payer, endpoint)),
  };
  const decisionCache = createDecisionCache(client, {
    ...config.decisionCache,
    reconciling: reconcileEveryMs > 0,
    fleetLink: fleetLink?.current,
    // Revalidation's, reconciliation's and webhooks' reads: the budget's lowest level, no caller's.
    background: createBackgroundReads(client, { charge: (endpoint) => budget.charge(BACKGROUND, endpoint), onCall: metrics.backgroundRead }),
    // Deleted at Didit (a 404 for a session we kept): erased everywhere, as deleteSession does.
    onGone: (sessionId) => void erasure.erase(sessionId),
    // A change found without its webhook is announced as the webhook would have (once: `decide`).
    onChanged: (sessionId, status) =>
      void events.record({ sessionId, status, timestamp: Math.floor(Date.now() / 1000), observed: true }).catch((error: unknown) => {
        log.warn({ err: error, sessionId }, 'a change found by revalidation could not be announced');
      }),
    maxTtlMs: (decision) => mediaLifetimeMs(decision, config.decisionCache.mediaTtlMs),
    shared: sharedDecisions && {
      store: sharedDecisions,
      // Kept long on the word of webhooks, which drop a session when it changes: without them
      // (none configured), a finished session is shared no longer than it is kept in-process.
      ttlFinalMs: config.sandbox || config.webhookSecrets.length > 0 ? config.decisionCache.sharedTtlMs : config.decisionCache.ttlFinalMs,
    },
    onLookup: metrics.cacheLookup,
    onDelete: options.onSessionDropped,
    log,
  });
  // One change, one fleet drop: the instance that records an event has dropped the session for the
  // fleet already (`recordAfterDrop`, erasure); the others only forget their own copy when it arrives.
  // A status this instance read itself after its own change is what its cache holds already.
  events.onEvent((event, own) => void ((event.observed && own) || decisionCache.forget(event.sessionId)));
  // The index learns every status here, once for the fleet (by the instance that recorded it).
  const { sessionIndex } = options;
  if (sessionIndex) {
    events.onEvent((event, own) => {
      if (!own) return;
      sessionIndex.noteStatus(event.sessionId, event.status, new Date(event.timestamp * 1000)).catch((error: NodeJS.ErrnoException) => {
        log.error({ code: error.code, sessionId: event.sessionId }, 'session index: a status could not be kept');
      });
    });
  }
  const owners = createOwners();
  const erasure = createErasure({ decisionCache, events, owners, log });
  // v3: kept copies are confirmed in bulk by Didit's session list before they reach their age bound.
  const reconciling = reconcileEveryMs > 0 ? startReconciliation(decisionCache, reconcileEveryMs, log) : undefined;

  const services: Services = {
    config,
    didit: client,
    decisionCache,
    rateLimit: createRateLimit(config.rateLimitPerMinute, buckets),
    budget: traceBudget(budget),
    events,
    owners,
    subscriptionSlots: createSubscriptionSlots(config.limits.maxSubscriptionsPerCaller),
    metrics,
    pdfLinks: createPdfLinks({ publicUrl: config.publicUrl, secret: config.pdfLinkSecret, ttlSeconds: config.pdfLinkTtlSeconds, maxDownloads: config.pdfLinkMaxDownloads, counter: buckets }),
    log,
    erase: erasure.erase,
    audit: options.audit,
    sessionIndex,
  };
  return {
    services,
    recordAfterDrop: {
      ...events,
      async record(event) {
        await decisionCache.delete(event.sessionId);
        return events.record(event);
      },
    },
    async close() {
      clearInterval(reconciling);
      fleetLink?.stop();
      erasure.close();
      await events.close();
      await sharedDecisions?.close();
      await client.close();
      await buckets.close();
    },
  };
}

/**
 * The fleet link of an instance without the shared level: its status events' connection to Redis,
 * a new number after each loss, when `lost` forgets every copy (and the answers made from them).
 */
function watchEvents(events: StatusEvents, lost: () => void) {
  let epoch = 1;
  let up = true;
  const check = () => {
    if (events.connected()) return (up = true);
    if (up) {
      epoch += 1;
      lost();
    }
    return (up = false);
  };
  const timer = setInterval(check, 250).unref();
  return { current: () => (check() ? epoch : undefined), stop: () => clearInterval(timer) };
}

/**
 * A reconciliation round every `everyMs`, one at a time. Copies are due at half their age bound, so
 * with a quarter of it they are confirmed before they reach it.
 */
function startReconciliation(decisionCache: { reconcile(): Promise<unknown> }, everyMs: number, log: Logger): NodeJS.Timeout {
  let running = false;
  return setInterval(() => {
    if (running) return;
    running = true;
    decisionCache
      .reconcile()
      .catch((error: unknown) => log.warn({ reason: (error as Error & { code?: string })?.code ?? 'failed' }, 'reconciling kept sessions with Didit failed; copies expire at their age bound'))
      .finally(() => (running = false));
  }, everyMs).unref();
}

/** With tracing on, each charge (the wait for the caller's turn at Didit's budget included) is a span. */
function traceBudget(budget: Budget): Budget {
  if (!tracingOn()) return budget;
  const charge = budget.charge.bind(budget);
  budget.charge = (payer, endpoint) => inSpan('budget.charge', { 'didit.endpoint': endpoint, 'enduser.pseudo.id': payer.id }, () => charge(payer, endpoint));
  return budget;
}

/** The decision cache's level shared through Redis, when both Redis and a key to seal values are configured. */
function startSharedDecisions(config: Config, log: Logger): SharedDecisions | undefined {
  if (!config.redisUrl) return undefined;
  const key = config.decisionCache.key;
  if (!key) {
    log.warn('DECISION_CACHE_KEY is not set: decisions are not shared through Redis, every instance reads Didit for itself');
    return undefined;
  }
  return createSharedDecisions({ redisUrl: config.redisUrl, prefix: config.redisKeyPrefix, key: key.bytes(), log });
}
