import type { DiditClient, PageRequest, SessionFilter } from '../didit/port.ts';
import type { Decision, Page, Session } from '../domain/model.ts';

/**
 * Every Didit read the gateway makes on its own behalf rather than for a caller: revalidating a
 * kept copy before it reaches `DECISION_MAX_AGE_MS` (stale-while-revalidate), reconciling kept
 * copies against Didit's session list (v3), and re-reading a session after a webhook.
 *
 * They are charged to the budget's lowest level (`BACKGROUND`, see budget.ts): a turn is given
 * only while no caller waits, so these reads never take a caller's; while Didit is idle they go at
 * once. A refusal simply skips the round (the copy then expires at its age bound and the next
 * caller reads Didit).
 *
 * A decision read waits for its turn (`turn()`) BEFORE it becomes the session's read in flight
 * (decision-cache.ts) and before it claims the session for the fleet: a caller who asks for the
 * session meanwhile reads it at its own level rather than behind a background turn.
 */
export interface BackgroundReads {
  /** Waits for a background turn at Didit's decision budget; throws when refused. */
  turn(): Promise<void>;
  /** One session's decision, to confirm or replace a kept copy: after `turn()`. */
  decision(sessionId: string): Promise<Decision>;
  /** v3: one page of Didit's session list, newest first, to confirm many kept copies at once (waits for its own turn on the GET budget). */
  sessions(filter: SessionFilter, page: PageRequest): Promise<Page<Session>>;
}

export interface BackgroundReadsOptions {
  /** Waits for (or refuses) a background turn of Didit's budget: `budget.charge(BACKGROUND, endpoint)`. */
  charge?: (endpoint: 'decision' | 'get') => Promise<void>;
  /** Counts each call made (metrics, the soak's figures). */
  onCall?: (endpoint: 'decision' | 'list') => void;
}

export function createBackgroundReads(didit: DiditClient, options: BackgroundReadsOptions = {}): BackgroundReads {
  const { charge, onCall } = options;
  return {
    async turn() {
      await charge?.('decision');
    },
    async decision(sessionId) {
      onCall?.('decision');
      return didit.getDecision(sessionId);
    },
    async sessions(filter, page) {
      await charge?.('get');
      onCall?.('list');
      return didit.listSessions(filter, page);
    },
  };
}
