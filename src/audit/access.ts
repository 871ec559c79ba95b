import { GraphQLError } from 'graphql';
import { isSessionId } from '../didit/session-id.ts';
import { requireCaller, type Caller } from '../core/access.ts';
import { AUDIT_ACTIONS, type AuditAction, type AuditFilter } from '../core/audit.ts';

/**
 * Who may read the trail, and the filter checked, for the GraphQL query and the CSV export alike:
 * auditors read all of it; a reviewer reads one session's (sessionId given); nobody else any.
 */
export interface RawAuditFilter {
  sessionId?: string | null;
  actor?: string | null;
  action?: string | null;
  from?: string | null;
  to?: string | null;
}

export const MAX_AUDIT_PAGE = 100;
export const DEFAULT_AUDIT_PAGE = 20;

const badInput = (message: string, argument: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', argument } });
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function instant(value: string | null | undefined, argument: string): Date | undefined {
  if (value == null) return undefined;
  const ms = ISO_INSTANT.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw badInput(`${argument} is an ISO-8601 instant such as 2026-01-31T00:00:00Z`, argument);
  return new Date(ms);
}

export function checkAuditRead(caller: Caller | null, raw: RawAuditFilter | null | undefined, prefix = 'filter.'): AuditFilter {
  const who = requireCaller(caller);
  const filter: AuditFilter = {};
  if (raw?.sessionId != null) {
    if (!isSessionId(raw.sessionId)) throw badInput('A session id is a UUID', `${prefix}sessionId`);
    filter.sessionId = raw.sessionId.toLowerCase();
  }
  if (!who.auditor) {
    if (!who.reviewer) throw new GraphQLError('Only auditors and reviewers read the audit trail', { extensions: { code: 'FORBIDDEN' } });
    if (!filter.sessionId) {
      throw new GraphQLError("A reviewer reads one session's trail: give sessionId (the whole trail is for auditors)", { extensions: { code: 'FORBIDDEN', argument: `${prefix}sessionId` } });
    }
  }
  if (raw?.actor != null) {
    if (raw.actor.length < 1 || raw.actor.length > 256) throw badInput('actor is a caller id (sub) of 1 to 256 characters', `${prefix}actor`);
    filter.actor = raw.actor;
  }
  if (raw?.action != null) {
    if (!(AUDIT_ACTIONS as readonly string[]).includes(raw.action)) throw badInput(`action is one of ${AUDIT_ACTIONS.join(', ')}`, `${prefix}action`);
    filter.action = raw.action as AuditAction;
  }
  filter.from = instant(raw?.from, `${prefix}from`);
  filter.to = instant(raw?.to, `${prefix}to`);
  if (filter.from && filter.to && filter.from > filter.to) throw badInput('from is after to', `${prefix}from`);
  return filter;
}

/** Opaque cursors over the chain's sequence numbers. */
export const auditCursor = (seq: number) => Buffer.from(`audit:${seq}`).toString('base64url');

export function afterCursor(cursor: string | null | undefined, argument = 'after'): number {
  if (cursor == null) return 0;
  const match = /^audit:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badInput('Not a cursor this API gave', argument);
  return Number(match[1]);
}
