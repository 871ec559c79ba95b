import type { Page, Session } from '../domain/model.ts';
import type { PageRequest, SessionFilter } from '../didit/port.ts';

/**
 * The sessions created through the gateway, kept in the audit database (src/audit/session-index.ts)
 * so that `searchSessions` works where Didit has no session list (v1). It keeps no personal data:
 * the id, `vendorData` (the owner), status, workflow and times. Statuses follow the gateway's status
 * events (webhooks, reads after a change); an erasure removes the row.
 */
export interface SessionIndex {
  /** A session the gateway just created. */
  add(session: Session): Promise<void>;
  /** A status learned for a session (a `Deleted` one removes its row); a session not indexed is ignored. */
  noteStatus(sessionId: string, status: string, at: Date): Promise<void>;
  /** Like Didit's list, newest first; `country` and `search` are not indexed (no personal data). */
  listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<Session>>;
}
