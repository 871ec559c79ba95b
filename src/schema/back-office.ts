import { GraphQLError } from 'graphql';
import { requireCaller, requireReviewer } from '../core/access.ts';
import { payerOf, pseudonym } from '../core/budget.ts';
import { findsSessions, readsSession } from './session-count.ts';
import { MAX_COMMENT_LENGTH } from '../didit/checks.ts';
import { requireCapability } from '../didit/port.ts';
import type * as Model from '../domain/model.ts';
import { builder } from './builder.ts';
import { SessionStatus, fromSessionStatus } from './enums.ts';
import { Session, badInput, checkSessionId, readAfterChange, refusedChange, type SessionSource } from './session.ts';

/**
 * The back office: search, resubmission, erasure, reviews and workflows. What the configured API
 * cannot do (`client.can`: Didit v1 has none of these) answers REQUIRES_DIDIT_V3.
 */

/** Rows a search may ask for at once: each page is one upstream call, whatever its size. */
const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;

/** Opaque cursors: the offset stays ours to change. */
const cursorOf = (offset: number) => Buffer.from(`offset:${offset}`).toString('base64url');
function offsetOf(cursor: string | null | undefined): number {
  if (cursor == null) return 0;
  const match = /^offset:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badInput('Not a cursor this API gave', { argument: 'after' });
  return Number(match[1]);
}


const SessionSearchFilter = builder.inputType('SessionSearchFilter', {
  fields: (t) => ({
    statuses: t.field({ type: [SessionStatus], description: 'Any of these.' }),
    vendorData: t.string({ description: 'Reviewers only: an applicant always searches their own sessions.' }),
    workflowId: t.id(),
    country: t.string({ description: "The document's issuing country, ISO 3166-1 alpha-3 (e.g. PRT)." }),
    createdAfter: t.field({ type: 'Date', description: 'Inclusive.' }),
    createdBefore: t.field({ type: 'Date', description: 'Inclusive.' }),
    text: t.string({ description: 'Free text: a name, a session number, …' }),
  }),
});

interface Edge {
  cursor: string;
  node: SessionSource;
}
interface SessionPage {
  edges: Edge[];
  totalCount: number;
  offset: number;
  hasNextPage: boolean;
}

const PageInfo = builder.objectRef<SessionPage>('PageInfo');
PageInfo.implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage', { nullable: false }),
    hasPreviousPage: t.boolean({ nullable: false, resolve: (p) => p.offset > 0 }),
    startCursor: t.string({ resolve: (p) => p.edges[0]?.cursor ?? null }),
    endCursor: t.string({ resolve: (p) => p.edges.at(-1)?.cursor ?? null }),
  }),
});

const SessionEdge = builder.objectRef<Edge>('SessionEdge');
SessionEdge.implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor', { nullable: false }),
    node: t.field({ type: Session, nullable: false, resolve: (e) => e.node }),
  }),
});

const SessionConnection = builder.objectRef<SessionPage>('SessionConnection');
SessionConnection.implement({
  description: 'A page of sessions, newest first.',
  fields: (t) => ({
    edges: t.field({ type: [SessionEdge], nullable: false, resolve: (p) => p.edges }),
    nodes: t.field({ type: [Session], nullable: false, resolve: (p) => p.edges.map((e) => e.node) }),
    pageInfo: t.field({ type: PageInfo, nullable: false, resolve: (p) => p }),
    totalCount: t.exposeInt('totalCount', { nullable: false }),
  }),
});

const Workflow = builder.objectRef<Model.Workflow>('Workflow');
Workflow.implement({
  description: 'A verification workflow configured in the Didit console (v3).',
  fields: (t) => ({
    id: t.id({ nullable: false, description: 'What createSession takes as workflowId.', resolve: (w) => w.id }),
    label: t.string({ resolve: (w) => w.label }),
    type: t.string({ resolve: (w) => w.type }),
    features: t.stringList({ nullable: false, resolve: (w) => w.features }),
    isDefault: t.boolean({ nullable: false, resolve: (w) => w.isDefault }),
    version: t.int({ resolve: (w) => w.version }),
  }),
});

builder.queryFields((t) => ({
  searchSessions: t.field({
    type: SessionConnection,
    nullable: false,
    description: `Sessions, newest first (with Didit v1, those created through this gateway; text and country need v3). Reviewers search all; an applicant only ever their own. At most ${MAX_PAGE_SIZE} a page.`,
    args: {
      filter: t.arg({ type: SessionSearchFilter }),
      first: t.arg.int({ defaultValue: DEFAULT_PAGE_SIZE }),
      after: t.arg.string(),
    },
    // A page that selects `decision` reads each row's decision: its rows count toward MAX_SESSIONS_PER_OPERATION.
    extensions: findsSessions((args: { first?: number | null }) => args.first ?? DEFAULT_PAGE_SIZE),
    resolve: async (_, { filter, first, after }, ctx) => {
      const caller = requireCaller(ctx.caller);
      const limit = first ?? DEFAULT_PAGE_SIZE;
      if (limit < 1 || limit > MAX_PAGE_SIZE) throw badInput(`first is from 1 to ${MAX_PAGE_SIZE}`, { argument: 'first' });
      if (!caller.reviewer && filter?.vendorData != null && filter.vendorData !== caller.sub) {
        throw new GraphQLError('Applicants search their own sessions only', { extensions: { code: 'FORBIDDEN', argument: 'filter.vendorData' } });
      }
      if (filter?.statuses?.some((status) => status === 'DELETED' || status === 'UNKNOWN')) {
        throw badInput('DELETED and UNKNOWN are not statuses Didit searches by', { argument: 'filter.statuses' });
      }
      const offset = offsetOf(after);
      // Where Didit has no session list (v1), the gateway's own index of the sessions it created answers.
      const { didit, sessionIndex } = ctx.services;
      const lister = didit.can.search ? didit : sessionIndex;
      if (!lister) requireCapability(didit, 'search');
      if (lister === sessionIndex) {
        // The index keeps no personal data: nothing to match a name or a document's country against.
        if (filter?.text != null) throw badInput('text is searchable with Didit v3 only', { argument: 'filter.text' });
        if (filter?.country != null) throw badInput('country is searchable with Didit v3 only', { argument: 'filter.country' });
      } else {
        // A search page is a Didit call like a read: the caller waits for its turn under Didit's GET limit.
        await ctx.services.budget.charge(payerOf(caller), 'get');
      }
      const listedAt = Date.now();
      const page = await lister!.listSessions(
        {
          // An applicant's search is narrowed to their own sessions, whatever they pass.
          vendorData: caller.reviewer ? (filter?.vendorData ?? undefined) : caller.sub,
          statuses: filter?.statuses?.map(fromSessionStatus),
          workflowId: filter?.workflowId ?? undefined,
          country: filter?.country ?? undefined,
          dateFrom: filter?.createdAfter ?? undefined,
          dateTo: filter?.createdBefore ?? undefined,
          search: filter?.text ?? undefined,
        },
        { limit, offset },
      );
      // And checked again on the way out: a row that is not the applicant's is never shown.
      // Cursors count Didit's rows, shown or not, so that the next page starts where this one ended.
      const edges = page.results.flatMap((row, i) =>
        caller.reviewer || row.vendorData === caller.sub ? [{ cursor: cursorOf(offset + i + 1), node: { id: row.id, session: row, confirmedAt: listedAt } }] : [],
      );
      return {
        edges,
        totalCount: page.count,
        offset,
        hasNextPage: offset + page.results.length < page.count,
      };
    },
  }),
  workflows: t.field({
    type: [Workflow],
    nullable: false,
    description: "The workflows createSession can run (Didit v3). Reviewers only.",
    resolve: async (_, __, ctx) => {
      const caller = requireReviewer(ctx.caller);
      requireCapability(ctx.services.didit, 'workflows');
      await ctx.services.budget.charge(payerOf(caller), 'get');
      return ctx.services.didit.listWorkflows();
    },
  }),
}));

const ResubmitStepInput = builder.inputType('ResubmitStepInput', {
  fields: (t) => ({
    nodeId: t.string({ required: true, description: 'The step, as `nodeId` on the decision (e.g. "feature_ocr").' }),
    feature: t.string({ description: 'Its feature, e.g. "OCR".' }),
  }),
});

const ResubmitSessionInput = builder.inputType('ResubmitSessionInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    steps: t.field({ type: [ResubmitStepInput], description: "Omitted: Didit picks the steps that were declined, in review or not finished." }),
    comment: t.string({ description: `At most ${MAX_COMMENT_LENGTH} characters.` }),
    sendEmail: t.boolean({ description: 'Tell the applicant by email (emailAddress required then).' }),
    emailAddress: t.string(),
    emailLanguage: t.string({ description: 'ISO 639-1, e.g. "en".' }),
  }),
});

const ReviewStatus = builder.enumType('SessionReviewStatus', {
  values: { APPROVED: { value: 'Approved' }, DECLINED: { value: 'Declined' }, IN_REVIEW: { value: 'In Review' } } as const,
});

const AddSessionReviewInput = builder.inputType('AddSessionReviewInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    status: t.field({ type: ReviewStatus, required: true }),
    comment: t.string({ description: `At most ${MAX_COMMENT_LENGTH} characters. Who reviewed is in the audit trail, not in the comment.` }),
  }),
});

const SessionPayload = builder.objectRef<{ session: SessionSource }>('SessionPayload');
SessionPayload.implement({
  fields: (t) => ({ session: t.field({ type: Session, nullable: false, description: 'Read again after the change.', resolve: (p) => p.session }) }),
});

const DeleteSessionPayload = builder.objectRef<{ sessionId: string }>('DeleteSessionPayload');
DeleteSessionPayload.implement({
  fields: (t) => ({
    sessionId: t.id({ nullable: false, resolve: (p) => p.sessionId }),
    deleted: t.boolean({ nullable: false, description: 'Always true: deleting a session that is already gone is no error.', resolve: () => true }),
  }),
});

/** Who did it, for the log: the reviewer's pseudonym (the sub itself may be an email address), as budget keys name callers. */
const reviewerRef = (sub: string) => pseudonym(`sub:${sub}`);

builder.mutationFields((t) => ({
  resubmitSession: t.field({
    type: SessionPayload,
    nullable: false,
    description: 'Ask the applicant to redo steps: the session becomes RESUBMITTED and its URL opens again (Didit v3). Reviewers only.',
    args: { input: t.arg({ type: ResubmitSessionInput, required: true }) },
    extensions: readsSession((args: { input: { sessionId: string } }) => args.input.sessionId),
    resolve: async (_, { input }, ctx) => {
      requireReviewer(ctx.caller);
      const id = checkSessionId(input.sessionId, 'input.sessionId');
      requireCapability(ctx.services.didit, 'resubmit');
      await ctx.services.didit.updateStatus(id, {
        status: 'Resubmitted',
        comment: input.comment ?? undefined,
        sendEmail: input.sendEmail ?? undefined,
        emailAddress: input.emailAddress ?? undefined,
        emailLanguage: input.emailLanguage ?? undefined,
        nodesToResubmit: input.steps?.map((step) => ({ node_id: step.nodeId, ...(step.feature != null && { feature: step.feature }) })),
      }).catch((error: unknown) =>
        refusedChange(ctx, id, error, 'Nothing to resubmit: a session can be resubmitted once the applicant has finished it, not twice in a row, and with a step to redo (name them in input.steps)', {
          nodes_to_resubmit: 'input.steps',
          email_address: 'input.emailAddress',
          email_language: 'input.emailLanguage',
          send_email: 'input.sendEmail',
          comment: 'input.comment',
          new_status: 'input.status',
        }),
      );
      // The steps asked for go with the event, the comment (what the applicant is told, by email too) as their reason.
      const steps = input.steps?.map((step) => ({ nodeId: step.nodeId, feature: step.feature ?? null, reason: input.comment ?? null }));
      return { session: await readAfterChange(ctx, id, steps) };
    },
  }),
  addSessionReview: t.field({
    type: SessionPayload,
    nullable: false,
    description: "A review that sets the session's status (Didit v3); the reviewer is in the audit trail. Reviewers only.",
    args: { input: t.arg({ type: AddSessionReviewInput, required: true }) },
    extensions: readsSession((args: { input: { sessionId: string } }) => args.input.sessionId),
    resolve: async (_, { input }, ctx) => {
      const caller = requireReviewer(ctx.caller);
      const id = checkSessionId(input.sessionId, 'input.sessionId');
      // Didit shows every review as made by our API key; who made it is in the audit trail.
      if (input.comment != null && input.comment.length > MAX_COMMENT_LENGTH) {
        throw badInput(`The comment is at most ${MAX_COMMENT_LENGTH} characters`, { argument: 'input.comment' });
      }
      requireCapability(ctx.services.didit, 'review');
      await ctx.services.didit
        .addReview(id, { status: input.status, comment: input.comment ?? undefined })
        .catch((error: unknown) =>
          refusedChange(ctx, id, error, 'A review can be added once the applicant has finished the session', { new_status: 'input.status', comment: 'input.comment' }),
        );
      ctx.services.log.info({ sessionId: id, reviewer: reviewerRef(caller.sub), status: input.status }, 'session reviewed');
      return { session: await readAfterChange(ctx, id) };
    },
  }),
  deleteSession: t.field({
    type: DeleteSessionPayload,
    nullable: false,
    description:
      'Erase a session at Didit, for a data-protection request (Didit v3): every gateway instance drops its copies and subscribers get a last DELETED event. Reviewers only.',
    args: { sessionId: t.arg.id({ required: true }) },
    resolve: async (_, { sessionId }, ctx) => {
      const caller = requireReviewer(ctx.caller);
      const id = checkSessionId(sessionId, 'sessionId');
      requireCapability(ctx.services.didit, 'erase');
      await ctx.services.didit.deleteSession(id);
      ctx.services.log.info({ sessionId: id, reviewer: reviewerRef(caller.sub) }, 'session deleted');
      await ctx.services.erase(id);
      ctx.decisionLoader.clear(id);
      return { sessionId: id };
    },
  }),
}));
