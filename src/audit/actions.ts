import { GraphQLError, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { isSessionId } from '../didit/session-id.ts';
import type { AuditAction } from '../core/audit.ts';
import { toClientError } from '../http/errors.ts';
import type { GatewayContext } from '../core/context.ts';

/**
 * The one wrapper that puts every reviewer action on record: a STARTED record before the
 * resolver (and so before Didit) runs, and a record of the outcome (DONE or the error code) with
 * the status before and after. When the first record cannot be written a reviewer's action is
 * refused with UNAVAILABLE and nothing reaches Didit; an applicant's goes on (its record is
 * best effort, and holds no personal data: no comment, the caller by pseudonym).
 */

type Args = Record<string, unknown> & { input?: Record<string, unknown> };

const AUDITED: Record<string, { sessionId: (args: Args) => unknown; comment?: (args: Args) => unknown }> = {
  createSession: { sessionId: () => null },
  updateSessionStatus: { sessionId: (a) => a.input?.sessionId, comment: (a) => a.input?.comment },
  resubmitSession: { sessionId: (a) => a.input?.sessionId, comment: (a) => a.input?.comment },
  addSessionReview: { sessionId: (a) => a.input?.sessionId, comment: (a) => a.input?.comment },
  deleteSession: { sessionId: (a) => a.sessionId },
  generateSessionPdf: { sessionId: (a) => a.sessionId },
};

export function unavailable(): GraphQLError {
  return new GraphQLError('The audit trail cannot be written just now, and no reviewer action runs unrecorded; try again later', {
    extensions: { code: 'UNAVAILABLE' },
  });
}

/** Didit's status of a session as a resolver's answer holds it (after a change, or at creation). */
function statusIn(result: unknown): string | null {
  const source = (result as { session?: { decision?: { status?: unknown }; session?: { status?: unknown } } } | null)?.session;
  const status = source?.decision?.status ?? source?.session?.status;
  return typeof status === 'string' ? status : null;
}

function sessionIdIn(result: unknown): string | null {
  const id = (result as { session?: { id?: unknown } } | null)?.session?.id;
  return typeof id === 'string' ? id : null;
}

/** Didit's calls that change a session (resolvers check the API can, before calling). */
const CHANGES = new Set(['updateStatus', 'addReview', 'deleteSession']);

/** The Didit client, with `before` run right before a call that changes the session goes out. */
function readingBefore(ctx: GatewayContext, before: () => Promise<void>): GatewayContext['services']['didit'] {
  const didit = ctx.services.didit;
  return new Proxy(didit, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string' || !CHANGES.has(property)) return value;
      return async (...args: unknown[]) => {
        await before();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Wraps the audited mutations of the schema in place and returns it. */
export function recordActions(schema: GraphQLSchema): GraphQLSchema {
  const fields = schema.getMutationType()?.getFields() ?? {};
  for (const [name, how] of Object.entries(AUDITED)) {
    const field = fields[name];
    if (!field?.resolve) throw new Error(`audited mutation ${name} is not in the schema`);
    const resolve = field.resolve as GraphQLFieldResolver<unknown, GatewayContext>;
    field.resolve = async (source, args: Args, ctx: GatewayContext, info) => {
      const caller = ctx.caller;
      // No caller: UNAUTHENTICATED, nobody to put on record.
      if (!caller) return resolve(source, args, ctx, info);
      const { audit, log } = ctx.services;
      const raw = how.sessionId(args);
      const sessionId = isSessionId(raw) ? raw.toLowerCase() : null;
      const comment = caller.reviewer && typeof how.comment?.(args) === 'string' ? (how.comment(args) as string) : null;
      const entry = { action: name as AuditAction, caller, sessionId, requestId: ctx.requestId };
      try {
        await audit.append({ ...entry, comment, outcome: 'STARTED' });
      } catch (error) {
        log.error({ code: (error as NodeJS.ErrnoException).code, action: name }, 'audit trail not writable');
        if (caller.reviewer) throw unavailable();
        return resolve(source, args, ctx, info);
      }
      // The status before is read right before the change goes to Didit (not for input refused earlier).
      let statusBefore: string | null = null;
      const readBefore = async () => {
        if (sessionId) statusBefore = await ctx.decisionLoader.load(sessionId).then((d) => d.status, () => null);
      };
      const actionCtx = caller.reviewer && sessionId ? { ...ctx, services: { ...ctx.services, didit: readingBefore(ctx, readBefore) } } : ctx;
      const finish = (outcome: string, statusAfter: string | null, id = sessionId) =>
        audit.append({ ...entry, sessionId: id, statusBefore, statusAfter, outcome }).catch((error: NodeJS.ErrnoException) =>
          log.error({ code: error.code, action: name, outcome }, 'audit: the outcome of an action could not be recorded'),
        );
      let result: unknown;
      try {
        result = await resolve(source, args, actionCtx, info);
        // A report changes nothing: its status is the one the resolver read (no further Didit call).
        if (name === 'generateSessionPdf' && sessionId) await readBefore();
        if (name === 'deleteSession' && sessionId) {
          // Crypto-shredding: the session's free text in the trail becomes unreadable; the records
          // stay. Not done: the caller hears UNAVAILABLE and asks again (deleting is idempotent).
          await audit.shred(sessionId).catch((error: NodeJS.ErrnoException) => {
            log.error({ code: error.code, sessionId }, 'audit: the erased session key could not be destroyed');
            throw unavailable();
          });
        }
      } catch (error) {
        await finish(String(toClientError(error, () => undefined).extensions.code ?? 'INTERNAL_SERVER_ERROR'), statusBefore);
        throw error;
      }
      await finish('DONE', name === 'deleteSession' ? 'Deleted' : (statusIn(result) ?? statusBefore), sessionId ?? sessionIdIn(result));
      return result;
    };
  }
  return schema;
}
