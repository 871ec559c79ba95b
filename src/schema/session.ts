import { GraphQLError } from 'graphql';
import { MAX_COMMENT_LENGTH, MAX_VENDOR_DATA_LENGTH } from '../didit/client.ts';
import { DiditNotFoundError } from '../didit/errors.ts';
import { isSessionId } from '../didit/session-id.ts';
import type { CreateSessionResponse, Decision as WireDecision } from '../didit/types.ts';
import { canSee, notFound, requireCaller, requireReviewer } from '../core/access.ts';
import { checkCallback } from '../core/callback-policy.ts';
import type { GatewayContext } from '../core/context.ts';
import { readsSessions } from '../core/session-count.ts';
import { builder } from './builder.ts';
import { Decision, featuresOf, warnOf } from './decision.ts';
import { ReviewDecision, SessionStatus, VerificationFeature, toSessionStatus } from './enums.ts';
import { asUrl } from './scalars.ts';

/** A session as the schema sees it: its id and whichever Didit answer we hold for it. */
export interface SessionSource {
  id: string;
  /** The decision read for this request (queries, re-reads after a change). */
  decision?: WireDecision;
  /** Didit's answer to `createSession`, before any decision was read. */
  created?: CreateSessionResponse;
}

const MAX_SESSION_IDS = 100;

export function badInput(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...extensions } });
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
  read: (id: string) => Promise<WireDecision> = (key) => ctx.decisionLoader.load(key),
): Promise<SessionSource> {
  const caller = requireCaller(ctx.caller);
  let decision: WireDecision;
  try {
    decision = await read(id);
  } catch (error) {
    if (error instanceof DiditNotFoundError) throw notFound();
    throw error;
  }
  if (!canSee(caller, decision)) throw notFound();
  return { id, decision };
}

/** One field's value from whichever Didit answer the source holds. */
function pick<K extends keyof CreateSessionResponse & keyof WireDecision>(s: SessionSource, key: K) {
  return s.created ? s.created[key] : s.decision?.[key];
}

export const Session = builder.objectRef<SessionSource>('Session');
Session.implement({
  description: 'A verification session: where the applicant verifies, and how far they got.',
  fields: (t) => ({
    id: t.id({ nullable: false, resolve: (s) => s.id }),
    number: t.int({
      resolve: (s) => {
        const value = s.created?.session_number ?? s.decision?.session_number;
        return Number.isSafeInteger(value) ? (value as number) : null;
      },
    }),
    url: t.field({
      type: 'URL',
      nullable: false,
      description: 'Where the applicant verifies.',
      resolve: (s) => {
        const url = asUrl(s.created?.url ?? s.decision?.session_url);
        if (!url) throw new GraphQLError('Didit gave no session URL', { extensions: { code: 'UPSTREAM_ERROR' } });
        return url;
      },
    }),
    status: t.field({
      type: SessionStatus,
      nullable: false,
      resolve: (s, _, ctx) => toSessionStatus(pick(s, 'status'), warnOf(ctx)),
    }),
    vendorData: t.string({ resolve: (s) => pick(s, 'vendor_data') ?? null }),
    callback: t.field({ type: 'URL', resolve: (s) => asUrl(pick(s, 'callback')) }),
    features: t.field({ type: [VerificationFeature], nullable: false, resolve: (s, _, ctx) => featuresOf(pick(s, 'features'), ctx) }),
    decision: t.field({
      type: Decision,
      description: 'GET /v1/session/{id}/decision/, batched and de-duplicated per request.',
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
    extensions: readsSessions((args: { id: string }) => [args.id]),
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

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  fields: (t) => ({
    callback: t.field({
      type: 'URL',
      required: true,
      description: 'https, with an origin (scheme, host, port) listed in CALLBACK_ALLOWED_ORIGINS.',
    }),
    features: t.field({ type: [VerificationFeature], description: 'Omitted: the console settings apply.' }),
    vendorData: t.string({
      description:
        'Reviewers: any value. Applicants may omit it or pass their own sub (it is always their sub upstream); any other value is FORBIDDEN.',
    }),
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
      const refused = checkCallback(input.callback, config.callbackAllowedOrigins, config.sandbox);
      if (refused) throw badInput(refused, { argument: 'input.callback' });
      const created = await ctx.services.didit.createSession({
        callback: input.callback,
        features: input.features ?? undefined,
        vendorData,
      });
      return { session: { id: created.session_id.toLowerCase(), created } };
    },
  }),
  updateSessionStatus: t.field({
    type: UpdateSessionStatusPayload,
    nullable: false,
    description: 'Approve or decline a session. Reviewers only.',
    args: { input: t.arg({ type: UpdateSessionStatusInput, required: true }) },
    extensions: readsSessions((args: { input: { sessionId: string } }) => [args.input.sessionId]),
    resolve: async (_, { input }, ctx) => {
      requireReviewer(ctx.caller);
      const id = checkSessionId(input.sessionId, 'input.sessionId');
      if (input.comment != null && input.comment.length > MAX_COMMENT_LENGTH) {
        throw badInput(`The comment is at most ${MAX_COMMENT_LENGTH} characters`, { argument: 'input.comment' });
      }
      await ctx.services.didit.updateStatus(id, input.status, input.comment ?? undefined);
      ctx.services.decisionCache.delete(id);
      ctx.decisionLoader.clear(id);
      return { session: await loadVisibleSession(ctx, id) };
    },
  }),
}));
