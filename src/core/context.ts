import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DiditClient } from '../didit/port.ts';
import type { Decision } from '../domain/model.ts';
import type { Caller } from './access.ts';
import type { AuditTrail } from './audit.ts';
import { payerOf, type Budget } from './budget.ts';
import type { DecisionCache } from './decision-cache.ts';
import type { Metrics } from './metrics.ts';
import type { Owners } from './owners.ts';
import type { PdfLinks } from './pdf-links.ts';
import type { RateLimit } from './rate-limit.ts';
import type { StatusEvents } from './status-events.ts';
import type { SessionIndex } from './session-index.ts';
import type { SubscriptionSlots } from './subscription-slots.ts';

/** What lives as long as the process and is shared by every request. */
export interface Services {
  config: Config;
  didit: DiditClient;
  decisionCache: DecisionCache;
  rateLimit: RateLimit;
  /** Didit's calls shared out among callers, charged when a call is really made. */
  budget: Budget;
  /** Whose each session is, once read or created (what lets an owner follow it without a read). */
  owners: Owners;
  /** Open subscriptions per caller. */
  subscriptionSlots: SubscriptionSlots;
  pdfLinks: PdfLinks;
  events: StatusEvents;
  metrics: Metrics;
  log: Logger;
  /** Every reviewer action on record (src/audit/). */
  audit: AuditTrail;
  /** The sessions created through the gateway (src/audit/session-index.ts): searched where Didit cannot (v1). */
  sessionIndex?: SessionIndex;
  /**
   * After Didit deleted a session: every instance drops every copy it holds, and its subscribers
   * hear a last `Deleted` event (Didit sends no webhook for a deletion).
   */
  erase(sessionId: string): Promise<void>;
}

export interface GatewayContext {
  caller: Caller | null;
  /** Didit decisions for this request: one upstream read per distinct session id, at most. */
  decisionLoader: DataLoader<string, Decision>;
  services: Services;
  /** The request's id (`x-request-id` when the caller sent a sensible one), in audit records. */
  requestId: string;
}

/**
 * `onRead`: told each session id the request reads (the fast path keeps answers by them).
 * `requestId`: the caller's `x-request-id` when it is a sensible one, else one is made up.
 */
export function createContext(services: Services, caller: Caller | null, onRead?: (sessionId: string) => void, requestId?: string | null): GatewayContext {
  // Every decision read this request sends to Didit is charged to its caller (resolvers refuse
  // callers without a token before reading anything).
  const payer = caller && payerOf(caller);
  const options = payer ? { charge: () => services.budget.charge(payer, 'decision') } : undefined;
  const request = requestId && /^[\w.:-]{1,64}$/.test(requestId) ? requestId : randomUUID();
  return {
    caller,
    services,
    requestId: request,
    decisionLoader: new DataLoader(
      async (ids) =>
        Promise.all(
          ids.map((id) => {
            onRead?.(id);
            // A reviewer reading a session's personal data is on record (once an hour).
            if (caller?.reviewer) services.audit.noteRead(caller, id.toLowerCase(), request);
            return services.decisionCache.get(id, options).catch((error: Error) => error);
          }),
        ),
      { cacheKeyFn: (id) => id.toLowerCase() },
    ),
  };
}
