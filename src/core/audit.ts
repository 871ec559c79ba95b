import type { Caller } from './access.ts';

/**
 * The audit trail as the rest of the gateway sees it (implemented in src/audit/): every reviewer
 * action and every refusal of one, reviewers' reads of personal data, applicants' own actions.
 */

/** What is recorded; the mutations are named as in the schema. */
export const AUDIT_ACTIONS = [
  'createSession',
  'updateSessionStatus',
  'resubmitSession',
  'addSessionReview',
  'deleteSession',
  'generateSessionPdf',
  'readPersonalData',
  'purge',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One record to append. */
export interface AuditEntry {
  action: AuditAction;
  /** Null for the gateway's own records (a purge). */
  caller: Caller | null;
  sessionId?: string | null;
  statusBefore?: string | null;
  statusAfter?: string | null;
  /** Free text: stored encrypted with the session's key. */
  comment?: string | null;
  /** STARTED (written before Didit is called), DONE, an error code, or READ. */
  outcome: string;
  requestId?: string | null;
}

/** One record as read back. */
export interface AuditRecord {
  seq: number;
  at: Date;
  action: string;
  /** A reviewer's or auditor's `sub`; anyone else's keyed pseudonym (`pseudonym:…`). */
  actor: string | null;
  roles: string[];
  sessionId: string | null;
  statusBefore: string | null;
  statusAfter: string | null;
  /** Decrypted; null when there was none or when its session was erased. */
  comment: string | null;
  commentErased: boolean;
  outcome: string;
  requestId: string | null;
}

export interface AuditFilter {
  sessionId?: string;
  /** A `sub`: matches its records as a reviewer and as an applicant (by pseudonym). */
  actor?: string;
  action?: AuditAction;
  from?: Date;
  to?: Date;
}

export interface AuditIntegrity {
  intact: boolean;
  /** Records walked. */
  records: number;
  /** The first record found changed, removed or inserted. */
  firstBroken: number | null;
  problem: string | null;
}

export interface AuditTrail {
  /** Appends one record to the hash chain; throws when the database cannot be written. */
  append(entry: AuditEntry): Promise<number>;
  /** A reviewer read a session's personal data: recorded at most once per reviewer, session and hour; never throws. */
  noteRead(caller: Caller, sessionId: string, requestId: string | null): void;
  /** Destroys a session's key: its free text can never be read again (crypto-shredding). */
  shred(sessionId: string): Promise<void>;
  /** Records in chain order after `after` (a seq), at most `first`. */
  list(filter: AuditFilter, page: { after?: number; first: number }): Promise<AuditRecord[]>;
  verify(): Promise<AuditIntegrity>;
  /** Removes what is older than the retention; returns how many records went. */
  purge(now?: Date): Promise<number>;
  close(): Promise<void>;
}

/** The roles the trail names, from those the gateway knows. */
export function rolesOf(caller: Caller): string[] {
  return [...(caller.reviewer ? ['reviewer'] : []), ...(caller.auditor ? ['auditor'] : [])];
}
