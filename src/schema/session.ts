import { GraphQLError } from 'graphql';
import { MAX_COMMENT_LENGTH, MAX_VENDOR_DATA_LENGTH } from '../didit/checks.ts';
import { DiditBadRequestError, DiditForbiddenError, DiditNotFoundError } from '../didit/errors.ts';
import { isSessionId } from '../didit/session-id.ts';
import { sessionOf, type Decision as ModelDecision, type Session as ModelSession } from '../domain/model.ts';
import { canSee, notFound, requireCaller, requireReviewer } from '../core/access.ts';
import { callbackRefusal } from '../core/callback-policy.ts';
import type { GatewayContext } from '../core/context.ts';
import { RateLimited } from '../core/errors.ts';
import { readsSession, readsSessions } from './session-count.ts';
import type { ResubmitStep } from '../core/status-events.ts';
import { builder } from './builder.ts';
import { Decision, featuresOf, warnOf } from './decision.ts';
import { ReviewDecision, SessionStatus, VerificationFeature, toSessionStatus } from './enums.ts';
import { asDateTime, asUrl } from './scalars.ts';

/** A session as the schema sees it: what is known of it, and its decision when it was read. */
export interface SessionSource {
  id: string;
  /** Created, a search row, or the decision's view of its session (`sessionOf`). */
  session: ModelSession;
  /** The decision read for this request (queries, re-reads after a change). */
  decision?: ModelDecision;
  /** Without a decision: when Didit gave `session` (created, or a search row; ms since epoch). A decision's own is the cache's. */
  confirmedAt?: number;
}

const MAX_SESSION_IDS = 100;

/** The object without its null and undefined values (GraphQL inputs give null for "not given"). */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: NonNullable<T[K]> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v != null)) as { [K in keyof T]?: NonNullable<T[K]> };
}

export function badInput(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...extensions } });
}

/** Didit refused because of where the session stands: our own message, with its current status. */
export function failedPrecondition(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FAILED_PRECONDITION', ...extensions } });
}

/** Keys of a Didit 400 body that name no field of the request (the session's state is refused). */
const NOT_A_FIELD = new Set(['detail', 'non_field_errors', 'error', 'message']);

/**
 * Didit's refusal (400 or 403) of a change to a session, in our words: Didit's text never reaches
 * the client. A refusal that names fields of the request is about the caller's input
 * (BAD_USER_INPUT naming our arguments); one that names none is about the session's state
 * (FAILED_PRECONDITION with `refused` and the status read afresh, also as `extensions.status`).
 * Any other error is thrown as it is, for the generic translation (http/errors.ts).
 */
export async function refusedChange(
  ctx: GatewayContext,
  id: string,
  error: unknown,
  refused: string,
  argumentsByField: Record<string, string>,
): Promise<never> {
  if (!(error instanceof DiditBadRequestError || error instanceof DiditForbiddenError)) throw error;
  const fields = error instanceof DiditBadRequestError ? Object.keys(error.fieldErrors).filter((key) => !NOT_A_FIELD.has(key)) : [];
  if (fields.length > 0) {
    const names = fields.map((field) => argumentsByField[field]).filter((name): name is string => name !== undefined);
    if (names.length === 0) throw badInput('Didit refused the request');
    throw badInput(`Didit refused ${names.join(', ')}`, { argument: names[0] });
  }
  // The state Didit saw: read again, since the cached copy may be what misled the caller.
  const current = await readAgain(ctx, id).then(
    (session) => toSessionStatus(session.decision?.status, warnOf(ctx)),
    () => undefined,
  );
  throw failedPrecondition(current ? `${refused}; this session is ${current}` : refused, current ? { status: current } : {});
}

export function checkSessionId(id: string, argument = 'id'): string {
  if (!isSessionId(id)) throw badInput('A session id is a UUID', { argument });
  return id.toLowerCase();
}

/**
 * A session the caller may see, with its decision, or NOT_FOUND: a session that exists but is
 * not the caller's is indistinguishable from one that does not exist. Read through the request's
 * loader (which charges the caller for what reaches Didit) unless told otherwise.
 */
export async function loadVisibleSession(
  ctx: GatewayContext,
  id: string,
  read: (id: string) => Promise<ModelDecision> = (key) => ctx.decisionLoader.load(key),
): Promise<SessionSource> {
  const caller = requireCaller(ctx.caller);
  let decision: ModelDecision;
  try {
    decision = await read(id);
  } catch (error) {
    if (error instanceof DiditNotFoundError) throw notFound();
    throw error;
  }
  ctx.services.owners.remember(id, decision.vendorData);
  if (!canSee(caller, decision)) throw notFound();
  return { id, session: sessionOf(decision), decision };
}

/** The session read from Didit afresh, after a change this request made (or that misled it). */
export async function readAgain(ctx: GatewayContext, id: string): Promise<SessionSource> {
  await ctx.services.decisionCache.delete(id);
  ctx.decisionLoader.clear(id);
  return loadVisibleSession(ctx, id);
}

/** Longest the read after a change waits for Didit's budget: the change is made, and the answer must say so. */
const AFTER_CHANGE_WAIT_MS = 30_000;

/**
 * The session read afresh after a change this request made at Didit (the truth: every copy is
 * dropped first), and its status announced to subscribers: every change the gateway makes is an
 * event, once (Didit's own webhook for it is then no news, and without webhooks this is the only one).
 * A read refused by Didit's budget is asked again when it says, for up to 30 s: answering
 * RATE_LIMITED for a change already made would tell the reviewer (and the audit trail) it was not.
 */
export async function readAfterChange(ctx: GatewayContext, id: string, resubmit?: ResubmitStep[]): Promise<SessionSource> {
  const deadline = Date.now() + AFTER_CHANGE_WAIT_MS;
  let session: SessionSource;
  for (;;) {
    try {
      session = await readAgain(ctx, id);
      break;
    } catch (error) {
      const waitMs = error instanceof RateLimited ? error.retryAfter * 1000 : undefined;
      if (waitMs === undefined || Date.now() + waitMs > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
  const status = session.decision?.status;
  if (status) {
    await ctx.services.events
      .record({ sessionId: id, status, timestamp: Math.floor(Date.now() / 1000), observed: true, ...(resubmit && status === 'Resubmitted' && { resubmit }) })
      .catch((error: unknown) => ctx.services.log.warn({ err: error, sessionId: id }, 'a change made here could not be announced'));
  }
  return session;
}

export const Session = builder.objectRef<SessionSource>('Session');
Session.implement({
  description: 'A verification session: where the applicant verifies, and how far they got.',
  fields: (t) => ({
    id: t.id({ nullable: false, resolve: (s) => s.id }),
    number: t.int({ resolve: (s) => s.session.number }),
    url: t.field({
      type: 'URL',
      nullable: false,
      description: 'Where the applicant verifies.',
      resolve: (s) => {
        const url = asUrl(s.session.url);
        if (!url) throw new GraphQLError('Didit gave no session URL', { extensions: { code: 'UPSTREAM_ERROR' } });
        return url;
      },
    }),
    status: t.field({
      type: SessionStatus,
      nullable: false,
      resolve: (s, _, ctx) => toSessionStatus(s.session.status, warnOf(ctx)),
    }),
    vendorData: t.string({ resolve: (s) => s.session.vendorData }),
    fullName: t.string({
      description: "The applicant's name as read from the document (null until read).",
      resolve: (s) => s.session.fullName,
    }),
    documentType: t.string({ resolve: (s) => s.session.documentType }),
    country: t.string({
      description: "The document's issuing country (ISO 3166-1 alpha-3).",
      resolve: (s) => s.session.country,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => asDateTime(s.session.createdAt) }),
    callback: t.field({ type: 'URL', resolve: (s) => asUrl(s.session.callback) }),
    features: t.field({ type: [VerificationFeature], nullable: false, resolve: (s, _, ctx) => featuresOf(s.session.features, ctx) }),
    workflowId: t.id({ description: 'v3: the workflow the session runs (null in v1).', resolve: (s) => s.session.workflowId }),
    metadata: t.field({
      type: 'JSON',
      description: 'v3: the JSON object given at creation. Reviewers only.',
      resolve: (s, _, ctx) => (ctx.caller?.reviewer ? (s.session.metadata ?? null) : null),
    }),
    confirmedAt: t.field({
      type: 'DateTime',
      nullable: false,
      description:
        "When Didit last confirmed what this answer says about the session (with Didit v3, its status and name may be confirmed in bulk by Didit's session list). Never older than the gateway's DECISION_MAX_AGE_MS (default 5 minutes) while Didit answers; older only while Didit is down or limiting, when the last copy answers.",
      resolve: (s, _, ctx) => {
        const at = s.decision ? ctx.services.decisionCache.confirmedAt(s.decision) : s.confirmedAt;
        if (at === undefined) throw new Error('A session answered without a confirmation time');
        return new Date(at).toISOString();
      },
    }),
    decision: t.field({
      type: Decision,
      description: "Didit's decision, batched and de-duplicated per request.",
      resolve: (s, _, ctx) => s.decision ?? ctx.decisionLoader.load(s.id),
    }),
  }),
});

builder.queryType({});

builder.queryFields((t) => ({
  session: t.field({
    type: Session,
    description: 'A session the caller may see; null with a NOT_FOUND error when missing or not theirs.',
    args: { id: t.arg.id({ required: true }) },
    extensions: readsSession((args: { id: string }) => args.id),
    resolve: (_, { id }, ctx) => {
      requireCaller(ctx.caller);
      return loadVisibleSession(ctx, checkSessionId(id));
    },
  }),
  sessions: t.field({
    type: [Session],
    nullable: { list: false, items: true },
    description: `Up to ${MAX_SESSION_IDS} sessions in one call; one upstream read per distinct id. Each missing or foreign one is null with its own NOT_FOUND error.`,
    args: { ids: t.arg.idList({ required: true }) },
    extensions: readsSessions((args: { ids: string[] }) => args.ids),
    resolve: (_, { ids }, ctx) => {
      requireCaller(ctx.caller);
      if (ids.length > MAX_SESSION_IDS) throw badInput(`At most ${MAX_SESSION_IDS} ids per call`, { argument: 'ids' });
      const checked = ids.map((id) => checkSessionId(id, 'ids'));
      // An array of promises lets one session fail (null plus its error) without failing the list.
      return checked.map((id) => loadVisibleSession(ctx, id));
    },
  }),
}));

const CallbackMethod = builder.enumType('CallbackMethod', {
  description: 'v3: which device Didit sends back to the callback: the one that started, the one that finished, or both.',
  values: { INITIATOR: { value: 'initiator' }, COMPLETER: { value: 'completer' }, BOTH: { value: 'both' } } as const,
});

const ContactDetailsInput = builder.inputType('ContactDetailsInput', {
  description: 'v3: how Didit may reach the applicant.',
  fields: (t) => ({
    email: t.string(),
    sendNotificationEmails: t.boolean(),
    emailLanguage: t.string({ description: 'ISO 639-1, e.g. "en".' }),
    phone: t.string({ description: 'E.164, e.g. "+14155552671".' }),
  }),
});

const ExpectedDetailsInput = builder.inputType('ExpectedDetailsInput', {
  description: 'v3: what the applicant is expected to be; Didit compares the document with it. Reviewers only.',
  fields: (t) => ({
    firstName: t.string(),
    lastName: t.string(),
    dateOfBirth: t.field({ type: 'Date' }),
    gender: t.string(),
    nationality: t.string({ description: 'ISO 3166-1 alpha-3.' }),
    idCountry: t.string({ description: 'ISO 3166-1 alpha-3.' }),
    poaCountry: t.string({ description: 'ISO 3166-1 alpha-3.' }),
    address: t.string(),
    identificationNumber: t.string(),
  }),
});

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  fields: (t) => ({
    callback: t.field({
      type: 'URL',
      description: 'https, with an origin (scheme, host, port) listed in CALLBACK_ALLOWED_ORIGINS. Required with Didit v1.',
    }),
    features: t.field({ type: [VerificationFeature], description: 'v1 only (v3 takes the steps from the workflow). Omitted: the console settings apply.' }),
    vendorData: t.string({
      description:
        'Reviewers: any value. Applicants may omit it or pass their own sub (it is always their sub upstream); any other value is FORBIDDEN.',
    }),
    workflowId: t.id({ description: 'v3: the workflow to run (see `workflows`). Reviewers only; omitted: DIDIT_WORKFLOW_ID.' }),
    metadata: t.field({ type: 'JSON', description: 'v3: a JSON object kept with the session (at most 4 kB). Reviewers only.' }),
    language: t.string({ description: 'v3: the language of the verification pages, ISO 639-1 (e.g. "en").' }),
    callbackMethod: t.field({ type: CallbackMethod, description: 'v3.' }),
    contactDetails: t.field({ type: ContactDetailsInput, description: 'v3. Reviewers only (Didit may write to the address).' }),
    expectedDetails: t.field({ type: ExpectedDetailsInput, description: 'v3. Reviewers only.' }),
  }),
});

const CreateSessionPayload = builder.objectRef<{ session: SessionSource }>('CreateSessionPayload');
CreateSessionPayload.implement({ fields: (t) => ({ session: t.field({ type: Session, nullable: false, resolve: (p) => p.session }) }) });

const UpdateSessionStatusInput = builder.inputType('UpdateSessionStatusInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    status: t.field({ type: ReviewDecision, required: true }),
    comment: t.string({ description: `At most ${MAX_COMMENT_LENGTH} characters.` }),
  }),
});

const UpdateSessionStatusPayload = builder.objectRef<{ session: SessionSource }>('UpdateSessionStatusPayload');
UpdateSessionStatusPayload.implement({
  fields: (t) => ({ session: t.field({ type: Session, nullable: false, description: 'Read again after the change.', resolve: (p) => p.session }) }),
});

builder.mutationType({});

builder.mutationFields((t) => ({
  createSession: t.field({
    type: CreateSessionPayload,
    nullable: false,
    args: { input: t.arg({ type: CreateSessionInput, required: true }) },
    resolve: async (_, { input }, ctx) => {
      const caller = requireCaller(ctx.caller);
      const { config } = ctx.services;
      if (!caller.reviewer && input.vendorData != null && input.vendorData !== caller.sub) {
        throw new GraphQLError('Applicants create sessions for themselves only', { extensions: { code: 'FORBIDDEN' } });
      }
      const vendorData = caller.reviewer ? (input.vendorData ?? undefined) : caller.sub;
      if (vendorData !== undefined && vendorData.length > MAX_VENDOR_DATA_LENGTH) {
        throw badInput(`vendorData is at most ${MAX_VENDOR_DATA_LENGTH} characters`, { argument: 'input.vendorData' });
      }
      if (!caller.reviewer) {
        // What decides how strictly an applicant is checked is not the applicant's to choose.
        // Nor is whom Didit writes to: an applicant could have Didit email any address.
        for (const field of ['workflowId', 'metadata', 'expectedDetails', 'contactDetails'] as const) {
          if (input[field] != null) throw new GraphQLError(`Only reviewers may set ${field}`, { extensions: { code: 'FORBIDDEN', argument: `input.${field}` } });
        }
      }
      if (input.callback != null) {
        const refused = callbackRefusal(input.callback, config.callbackAllowedOrigins, config.sandbox);
        if (refused) throw badInput(refused, { argument: 'input.callback' });
      }
      const contact = input.contactDetails;
      const askedAt = Date.now();
      const created = await ctx.services.didit.createSession({
        callback: input.callback ?? undefined,
        features: input.features ?? undefined,
        vendorData,
        workflowId: input.workflowId ?? undefined,
        metadata: (input.metadata ?? undefined) as Record<string, unknown> | undefined,
        language: input.language ?? undefined,
        callbackMethod: input.callbackMethod ?? undefined,
        contactDetails: contact
          ? definedOnly({ email: contact.email, sendNotificationEmails: contact.sendNotificationEmails, emailLang: contact.emailLanguage, phone: contact.phone })
          : undefined,
        expectedDetails: input.expectedDetails ? definedOnly(input.expectedDetails) : undefined,
      });
      ctx.services.owners.remember(created.id, vendorData);
      // Kept for v1's search; a session Didit made is not undone when the index cannot be written.
      await ctx.services.sessionIndex?.add(created).catch((error: NodeJS.ErrnoException) => {
        ctx.services.log.error({ code: error.code, sessionId: created.id }, 'session index: a new session could not be kept');
      });
      // A read of this id just before it existed may have left "no such session" in the cache.
      await ctx.services.decisionCache.delete(created.id);
      return { session: { id: created.id, session: created, confirmedAt: askedAt } };
    },
  }),
  updateSessionStatus: t.field({
    type: UpdateSessionStatusPayload,
    nullable: false,
    description: 'Approve or decline a session. Reviewers only.',
    args: { input: t.arg({ type: UpdateSessionStatusInput, required: true }) },
    extensions: readsSession((args: { input: { sessionId: string } }) => args.input.sessionId),
    resolve: async (_, { input }, ctx) => {
      requireReviewer(ctx.caller);
      const id = checkSessionId(input.sessionId, 'input.sessionId');
      if (input.comment != null && input.comment.length > MAX_COMMENT_LENGTH) {
        throw badInput(`The comment is at most ${MAX_COMMENT_LENGTH} characters`, { argument: 'input.comment' });
      }
      await ctx.services.didit
        .updateStatus(id, { status: input.status, comment: input.comment ?? undefined })
        .catch((error: unknown) =>
          refusedChange(ctx, id, error, 'A session can be approved or declined once the applicant has finished it', {
            new_status: 'input.status',
            comment: 'input.comment',
          }),
        );
      return { session: await readAfterChange(ctx, id) };
    },
  }),
}));
