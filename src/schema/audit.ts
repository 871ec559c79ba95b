import { requireCaller } from '../core/access.ts';
import { AUDIT_ACTIONS, type AuditRecord } from '../core/audit.ts';
import { DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, afterCursor, auditCursor, checkAuditRead } from '../audit/access.ts';
import { GraphQLError } from 'graphql';
import { builder } from './builder.ts';
import { warnOf } from './decision.ts';
import { SessionStatus, toSessionStatus } from './enums.ts';
import { badInput } from './session.ts';

/** The audit trail, read: `auditEvents` (auditors; a reviewer one session's) and `auditIntegrity`. */

const AuditAction = builder.enumType('AuditAction', {
  values: Object.fromEntries(AUDIT_ACTIONS.map((action) => [action.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase(), { value: action }])) as Record<string, { value: string }>,
});

const AuditEvent = builder.objectRef<AuditRecord>('AuditEvent');
AuditEvent.implement({
  description: 'One record of the audit trail. An action has two: STARTED (written before Didit is called) and its outcome.',
  fields: (t) => ({
    id: t.id({ nullable: false, resolve: (r) => `audit:${r.seq}` }),
    sequence: t.int({ nullable: false, description: 'Its place in the hash chain.', resolve: (r) => r.seq }),
    at: t.field({ type: 'DateTime', nullable: false, resolve: (r) => r.at.toISOString() }),
    action: t.field({ type: AuditAction, nullable: false, resolve: (r) => r.action }),
    actor: t.string({ description: "A reviewer's or auditor's sub; anyone else's keyed pseudonym (pseudonym:…); null for the gateway itself.", resolve: (r) => r.actor }),
    roles: t.stringList({ nullable: false, resolve: (r) => r.roles }),
    sessionId: t.id({ resolve: (r) => r.sessionId }),
    statusBefore: t.field({ type: SessionStatus, resolve: (r, _, ctx) => (r.statusBefore === null ? null : toSessionStatus(r.statusBefore, warnOf(ctx))) }),
    statusAfter: t.field({ type: SessionStatus, resolve: (r, _, ctx) => (r.statusAfter === null ? null : toSessionStatus(r.statusAfter, warnOf(ctx))) }),
    comment: t.string({ description: 'Null when none was given, or when the session was erased (commentErased).', resolve: (r) => r.comment }),
    commentErased: t.boolean({ nullable: false, description: "A comment was recorded, and its session's key destroyed when the session was erased.", resolve: (r) => r.commentErased }),
    outcome: t.string({ nullable: false, description: 'STARTED, DONE, READ, or the error code the caller got.', resolve: (r) => r.outcome }),
    requestId: t.string({ resolve: (r) => r.requestId }),
  }),
});

interface Page {
  records: AuditRecord[];
  hasNextPage: boolean;
  after: number;
}

const AuditEventEdge = builder.objectRef<AuditRecord>('AuditEventEdge');
AuditEventEdge.implement({
  fields: (t) => ({
    cursor: t.string({ nullable: false, resolve: (r) => auditCursor(r.seq) }),
    node: t.field({ type: AuditEvent, nullable: false, resolve: (r) => r }),
  }),
});

const AuditPageInfo = builder.objectRef<Page>('AuditPageInfo');
AuditPageInfo.implement({
  fields: (t) => ({
    hasNextPage: t.boolean({ nullable: false, resolve: (p) => p.hasNextPage }),
    hasPreviousPage: t.boolean({ nullable: false, resolve: (p) => p.after > 0 }),
    startCursor: t.string({ resolve: (p) => (p.records[0] ? auditCursor(p.records[0].seq) : null) }),
    endCursor: t.string({ resolve: (p) => (p.records.at(-1) ? auditCursor(p.records.at(-1)!.seq) : null) }),
  }),
});

const AuditEventConnection = builder.objectRef<Page>('AuditEventConnection');
AuditEventConnection.implement({
  description: 'A page of the audit trail, oldest first.',
  fields: (t) => ({
    edges: t.field({ type: [AuditEventEdge], nullable: false, resolve: (p) => p.records }),
    nodes: t.field({ type: [AuditEvent], nullable: false, resolve: (p) => p.records }),
    pageInfo: t.field({ type: AuditPageInfo, nullable: false, resolve: (p) => p }),
  }),
});

const AuditEventFilter = builder.inputType('AuditEventFilter', {
  fields: (t) => ({
    sessionId: t.id({ description: 'Required for reviewers (who read one session’s trail).' }),
    actor: t.string({ description: "A caller's sub: their records as reviewer and as applicant." }),
    action: t.field({ type: AuditAction }),
    from: t.field({ type: 'DateTime', description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Inclusive.' }),
  }),
});

const AuditIntegrity = builder.objectRef<{ intact: boolean; records: number; firstBroken: number | null; problem: string | null }>('AuditIntegrity');
AuditIntegrity.implement({
  description: 'The hash chain checked from its first record to its last.',
  fields: (t) => ({
    intact: t.boolean({ nullable: false, resolve: (i) => i.intact }),
    records: t.int({ nullable: false, resolve: (i) => i.records }),
    firstBroken: t.int({ description: 'The first record found changed, removed or inserted.', resolve: (i) => i.firstBroken }),
    problem: t.string({ resolve: (i) => i.problem }),
  }),
});

builder.queryFields((t) => ({
  auditEvents: t.field({
    type: AuditEventConnection,
    nullable: false,
    description: `The audit trail, oldest first. Auditors (AUTH_AUDITOR_ROLE) read all of it; a reviewer one session's (filter.sessionId); applicants none. At most ${MAX_AUDIT_PAGE} a page.`,
    args: { filter: t.arg({ type: AuditEventFilter }), first: t.arg.int({ defaultValue: DEFAULT_AUDIT_PAGE }), after: t.arg.string() },
    resolve: async (_, { filter, first, after }, ctx) => {
      const checked = checkAuditRead(ctx.caller, filter);
      const limit = first ?? DEFAULT_AUDIT_PAGE;
      if (limit < 1 || limit > MAX_AUDIT_PAGE) throw badInput(`first is from 1 to ${MAX_AUDIT_PAGE}`, { argument: 'first' });
      const from = afterCursor(after);
      const records = await ctx.services.audit.list(checked, { after: from, first: limit + 1 });
      return { records: records.slice(0, limit), hasNextPage: records.length > limit, after: from };
    },
  }),
  auditIntegrity: t.field({
    type: AuditIntegrity,
    nullable: false,
    description: 'Walks the hash chain (as npm run audit:verify does). Reviewers and auditors.',
    resolve: (_, __, ctx) => {
      const caller = requireCaller(ctx.caller);
      if (!caller.reviewer && !caller.auditor) throw new GraphQLError('Only reviewers and auditors may check the audit trail', { extensions: { code: 'FORBIDDEN' } });
      return ctx.services.audit.verify();
    },
  }),
}));
