import { Forbidden, NotFound, Unauthenticated } from './errors.ts';
import type { Decision } from '../domain/model.ts';

/** Who is calling, from a verified bearer token. */
export interface Caller {
  /** The applicant's id (JWT `sub`), sent to Didit as `vendor_data`. */
  sub: string;
  /** The back office (and trusted backend services): every session, every part of it. */
  reviewer: boolean;
  /** May read the whole audit trail (`AUTH_AUDITOR_ROLE`); a reviewer reads one session's. */
  auditor?: boolean;
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
  if (!caller) throw new Unauthenticated('Authentication required: send Authorization: Bearer <token>');
  return caller;
}

export function requireReviewer(caller: Caller | null): Caller {
  const who = requireCaller(caller);
  if (!who.reviewer) throw new Forbidden('Only reviewers may do this');
  return who;
}

export function canSee(caller: Caller, decision: Pick<Decision, 'vendorData'>): boolean {
  return caller.reviewer || decision.vendorData === caller.sub;
}

export function notFound(): NotFound {
  return new NotFound();
}

/**
 * The steps of a resubmission an applicant may be told about: only those they can redo themselves
 * (document, NFC, selfie, proof of address, phone, email, questionnaire). AML, IP analysis, database
 * validation, a step Didit names later, or one without a feature name, stay with the reviewers:
 * telling an applicant that they were screened, or why, is tipping-off.
 */
const APPLICANT_REDOABLE = new Set([
  'ID_VERIFICATION', 'OCR', 'NFC', 'LIVENESS', 'FACE_MATCH', 'FACE', 'POA', 'PROOF_OF_ADDRESS',
  'PHONE', 'PHONE_VERIFICATION', 'EMAIL', 'EMAIL_VERIFICATION', 'QUESTIONNAIRE',
]);

export function stepsFor<T extends { feature: string | null }>(caller: Caller | null, steps: T[]): T[] {
  if (caller?.reviewer) return steps;
  return steps.filter((step) => step.feature !== null && APPLICANT_REDOABLE.has(step.feature.trim().toUpperCase()));
}
