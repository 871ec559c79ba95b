import { GraphQLError } from 'graphql';
import type { Decision } from '../didit/types.ts';

/** Who is calling, from a verified bearer token. */
export interface Caller {
  /** The applicant's id (JWT `sub`), sent to Didit as `vendor_data`. */
  sub: string;
  /** The back office (and trusted backend services): every session, every part of it. */
  reviewer: boolean;
  /** When the caller's token expires (Unix seconds): a WebSocket opened with it ends then. */
  expiresAt?: number;
}

/**
 * The access rules, in one place.
 * - An applicant sees the sessions whose `vendor_data` is their `sub`; a reviewer sees all.
 * - Anyone else is told the session does not exist (NOT_FOUND), exactly as for a missing one.
 * - AML screening, location, warnings and reviews are the back office's alone: an applicant must
 *   never learn that they were screened against sanctions or PEP lists (no tipping off).
 */
export function requireCaller(caller: Caller | null): Caller {
  if (!caller) throw new GraphQLError('Authentication required: send Authorization: Bearer <token>', { extensions: { code: 'UNAUTHENTICATED' } });
  return caller;
}

export function requireReviewer(caller: Caller | null): Caller {
  const who = requireCaller(caller);
  if (!who.reviewer) throw new GraphQLError('Only reviewers may do this', { extensions: { code: 'FORBIDDEN' } });
  return who;
}

export function canSee(caller: Caller, decision: Pick<Decision, 'vendor_data'>): boolean {
  return caller.reviewer || decision.vendor_data === caller.sub;
}

export function notFound(): GraphQLError {
  return new GraphQLError('Session not found', { extensions: { code: 'NOT_FOUND' } });
}
