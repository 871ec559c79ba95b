import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DiditClient } from '../didit/port.ts';
import type { Decision } from '../didit/types.ts';
import type { Caller } from './access.ts';
import { payerOf, type Budget } from './budget.ts';
import type { DecisionCache } from './decision-cache.ts';
import type { Metrics } from './metrics.ts';
import type { PdfLinks } from './pdf-links.ts';
import type { RateLimit } from './rate-limit.ts';
import type { ResponseCache } from './response-cache.ts';
import type { StatusEvents } from './status-events.ts';
import type { SubscriptionSlots } from './subscription-slots.ts';

/** What lives as long as the process and is shared by every request. */
export interface Services {
  config: Config;
  didit: DiditClient;
  decisionCache: DecisionCache;
  responses: ResponseCache;
  rateLimit: RateLimit;
  /** Didit's calls shared out among callers, charged when a call is really made. */
  budget: Budget;
  /** Open subscriptions per caller. */
  subscriptionSlots: SubscriptionSlots;
  pdfLinks: PdfLinks;
  events: StatusEvents;
  metrics: Metrics;
  log: Logger;
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
  /** The sessions this request read (what an answer to it depends on). */
  readSessions: Set<string>;
  services: Services;
}

export function createContext(services: Services, caller: Caller | null): GatewayContext {
  const readSessions = new Set<string>();
  // Every decision read this request sends to Didit is charged to its caller (resolvers refuse
  // callers without a token before reading anything).
  const payer = caller && payerOf(caller);
  const options = payer ? { charge: () => services.budget.charge(payer, 'decision') } : undefined;
  return {
    caller,
    services,
    readSessions,
    decisionLoader: new DataLoader(
      async (ids) =>
        Promise.all(
          ids.map((id) => {
            readSessions.add(id);
            return services.decisionCache.get(id, options).catch((error: Error) => error);
          }),
        ),
      { cacheKeyFn: (id) => id.toLowerCase() },
    ),
  };
}
