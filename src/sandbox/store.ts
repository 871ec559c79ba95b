/**
 * The sandbox's sessions, in memory, moving as Didit's do:
 * Not Started → In Progress (the applicant opened the page) → Approved | Declined | In Review
 * (the applicant finished), then Approved | Declined again through a reviewer's update-status.
 * v3 adds: Resubmitted (a reviewer asked for steps again; the applicant finishes once more on the
 * same page), Expired and Abandoned (an unfinished session), Kyc Expired (an approved session's
 * document ran out), In Review through a posted review, and deletion.
 * Every status change is reported to the listener, which sends the webhooks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Decision, FinalStatus, Kyc, ResubmitNode, Review } from './wire.ts';
import { buildVerification, isoTimestamp, type Verification } from './personas.ts';

/** Which API made the session: its webhooks take that API's form. */
export type SessionApi = 'v1' | 'v3';

/** A row of the v3 review feed (`GET /v3/sessions/{id}/reviews/`), in Didit's field names (docs/didit-v3.md §8). */
export interface ActivityRow {
  uuid: string;
  activity_type: 'STATUS_UPDATED';
  actor_display: string;
  actor_email: string | null;
  actor_type: 'API_KEY';
  new_status: string;
  previous_status: string;
  comment: string | null;
  mentioned_emails: string[];
  previous_value: { status: string };
  new_value: { status: string };
  changed_fields: string[];
  metadata: null;
  created_at: string;
}

/** What a reviewer asked to be done again, until the applicant finishes again. */
export interface Resubmission {
  nodes: ResubmitNode[];
  /** Why, by node id, as the webhook's `resubmit_info.reasons` carries it. */
  reasons: Record<string, string>;
}

export interface SessionRecord {
  readonly id: string;
  readonly number: number;
  /** The secret part of the applicant's page URL. */
  readonly token: string;
  readonly api: SessionApi;
  readonly vendorData: string | null;
  /** v1 requires one; v3 may have none. A repeated v3 create overwrites it. */
  callback: string | null;
  /** The v1 features string; for a v3 session, its workflow's (`Workflow.v1Features`). */
  readonly features: string;
  /** v3 only: the workflow and its version; null for a session created over v1. */
  readonly workflowId: string | null;
  readonly workflowVersion: number | null;
  /** v3 only; a repeated create overwrites it. */
  metadata: Record<string, unknown> | null;
  readonly callbackMethod: string | null;
  readonly language: string | null;
  readonly contactDetails: Record<string, unknown> | null;
  readonly expectedDetails: Record<string, unknown> | null;
  readonly url: string;
  readonly createdAt: Date;
  status: string;
  /** Null until the applicant finishes. */
  verification: Verification | null;
  /** KYC fields the session was finished with, kept for finishing again after a resubmission. */
  kycOverrides: Partial<Kyc> | null;
  resubmission: Resubmission | null;
  reviews: Review[];
  /** The v3 review feed, oldest first. */
  activity: ActivityRow[];
}

export interface NewSession {
  callback: string | null;
  features: string;
  vendorData: string | null;
  /** Origin of the applicant's page, e.g. "http://127.0.0.1:4010". */
  origin: string;
  /** Default 'v1'. */
  api?: SessionApi;
  workflow?: { id: string; version: number };
  metadata?: Record<string, unknown> | null;
  callbackMethod?: string | null;
  language?: string | null;
  contactDetails?: Record<string, unknown> | null;
  expectedDetails?: Record<string, unknown> | null;
}

/** The request does not fit the session's state, e.g. finishing a session twice. */
export class SessionStateError extends Error {
  override name = 'SessionStateError';
}

/** Where the applicant still has something to do (the page offers the outcomes). */
const OPEN_STATUSES = new Set(['Not Started', 'In Progress', 'Resubmitted']);

/** Whether the applicant's part is over (the page no longer offers the outcomes). */
export function isFinished(session: SessionRecord): boolean {
  return !OPEN_STATUSES.has(session.status);
}

/** Unfinished sessions a v3 create with the same vendor_data and workflow returns again (docs/didit-v3.md §2). */
const REUSABLE_STATUSES = new Set(['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User']);

/** The v3 fields of a session made over v1, for state files written before v3. */
const V1_DEFAULTS = {
  api: 'v1',
  workflowId: null,
  workflowVersion: null,
  metadata: null,
  callbackMethod: null,
  language: null,
  contactDetails: null,
  expectedDetails: null,
  kycOverrides: null,
  resubmission: null,
} as const;

const vendorKey = (workflowId: string, version: number, vendorData: string) => `${workflowId}\u0000${version}\u0000${vendorData}`;

function vendorKeyOf(session: SessionRecord): string | undefined {
  const { workflowId, workflowVersion, vendorData } = session;
  return workflowId !== null && workflowVersion !== null && vendorData !== null ? vendorKey(workflowId, workflowVersion, vendorData) : undefined;
}

export class SessionStore {
  private readonly byId = new Map<string, SessionRecord>();
  private readonly byToken = new Map<string, SessionRecord>();
  /** The newest session per workflow version and vendor_data, so a v3 create finds its repeat without a scan. */
  private readonly byVendorData = new Map<string, SessionRecord>();
  private lastNumber = 0;

  constructor(private readonly onStatusChange: (session: SessionRecord) => void) {}

  create(input: NewSession): SessionRecord {
    const token = randomBytes(12).toString('base64url');
    const session: SessionRecord = {
      id: randomUUID(),
      number: ++this.lastNumber,
      token,
      api: input.api ?? 'v1',
      vendorData: input.vendorData,
      callback: input.callback,
      features: input.features,
      workflowId: input.workflow?.id ?? null,
      workflowVersion: input.workflow?.version ?? null,
      metadata: input.metadata ?? null,
      callbackMethod: input.callbackMethod ?? null,
      language: input.language ?? null,
      contactDetails: input.contactDetails ?? null,
      expectedDetails: input.expectedDetails ?? null,
      url: `${input.origin}/session/${token}`,
      createdAt: new Date(),
      status: 'Not Started',
      verification: null,
      kycOverrides: null,
      resubmission: null,
      reviews: [],
      activity: [],
    };
    this.index(session);
    return session;
  }

  /** UUIDs are case-insensitive; ids are stored lower-case as `randomUUID` writes them. */
  get(id: string): SessionRecord | undefined {
    return this.byId.get(id.toLowerCase());
  }

  getByToken(token: string): SessionRecord | undefined {
    return this.byToken.get(token);
  }

  /** Every session, oldest first. */
  all(): SessionRecord[] {
    return [...this.byId.values()];
  }

  /** The unfinished session a v3 create with this vendor_data on this workflow version gets again. */
  findReusable(workflowId: string, workflowVersion: number, vendorData: string): SessionRecord | undefined {
    // Only the newest can be unfinished, as every create for the key returned it while it was (an
    // older one a reviewer reopened with Resubmitted is not handed out again).
    const newest = this.byVendorData.get(vendorKey(workflowId, workflowVersion, vendorData));
    return newest && REUSABLE_STATUSES.has(newest.status) ? newest : undefined;
  }

  /** Gone for good: every API and the page answer 404 from now on. No webhook. */
  delete(session: SessionRecord): void {
    this.byId.delete(session.id);
    this.byToken.delete(session.token);
    const key = vendorKeyOf(session);
    if (key && this.byVendorData.get(key) === session) this.byVendorData.delete(key);
  }

  /** The applicant opened the page: Not Started → In Progress; otherwise nothing changes. */
  start(session: SessionRecord): void {
    if (session.status === 'Not Started') this.setStatus(session, 'In Progress');
  }

  /** The applicant finished with `status`; a session not started yet goes through In Progress first. */
  finish(session: SessionRecord, status: FinalStatus, kyc?: Partial<Kyc>): void {
    if (isFinished(session)) throw new SessionStateError(`Session is already ${session.status}.`);
    this.start(session);
    // After a resubmission every step is done again; the KYC it was first finished with stays.
    if (kyc) session.kycOverrides = kyc;
    session.verification = buildVerification({
      sessionId: session.id,
      features: session.features,
      status,
      at: new Date(),
      kyc: session.kycOverrides ?? undefined,
    });
    session.resubmission = null;
    this.setStatus(session, status);
  }

  /**
   * A reviewer sets the outcome; only a finished (or resubmitted) session has anything to review.
   * `actor` names them in the decision's reviews and the review feed.
   */
  review(session: SessionRecord, status: 'Approved' | 'Declined' | 'In Review', comment: string | null, actor: string): void {
    if (!isFinished(session) && session.status !== 'Resubmitted') throw new SessionStateError(`Session is ${session.status}; only finished sessions can be reviewed.`);
    session.reviews.push({ user: actor, new_status: status, comment, created_at: isoTimestamp(new Date()) });
    this.record(session, status, comment, actor);
    // Reported even when the status stays the same: the decision changed (a new review).
    this.setStatus(session, status);
  }

  /** A reviewer asks for steps again: the same page offers the outcomes once more. */
  resubmit(session: SessionRecord, resubmission: Resubmission, comment: string | null, actor: string): void {
    if (session.status === 'Resubmitted') throw new SessionStateError('The new status is the same as the current status.');
    session.reviews.push({ user: actor, new_status: 'Resubmitted', comment, created_at: isoTimestamp(new Date()) });
    this.record(session, 'Resubmitted', comment, actor);
    session.resubmission = resubmission;
    this.setStatus(session, 'Resubmitted');
  }

  /** The applicant did not finish in time. */
  expire(session: SessionRecord): void {
    if (isFinished(session)) throw new SessionStateError(`Session is ${session.status}; only an unfinished session expires.`);
    this.setStatus(session, 'Expired');
  }

  /** The applicant started and left; a session not started yet goes through In Progress first. */
  abandon(session: SessionRecord): void {
    if (isFinished(session)) throw new SessionStateError(`Session is ${session.status}; only an unfinished session is abandoned.`);
    this.start(session);
    this.setStatus(session, 'Abandoned');
  }

  /** The approved document ran out: the ID step is Expired, the session Kyc Expired. */
  kycExpire(session: SessionRecord): void {
    if (session.status !== 'Approved' || !session.verification) {
      throw new SessionStateError(`Session is ${session.status}; only an Approved session's document expires.`);
    }
    session.verification.kyc.status = 'Expired';
    this.setStatus(session, 'Kyc Expired');
  }

  /**
   * The decision as Didit answers it: every key present, null or empty where nothing is known.
   * A copy, so whoever holds it cannot change the session.
   */
  decision(session: SessionRecord): Decision {
    const v = session.verification;
    return structuredClone({
      session_id: session.id,
      session_number: session.number,
      session_url: session.url,
      status: session.status,
      vendor_data: session.vendorData,
      callback: session.callback,
      features: session.features,
      kyc: v?.kyc ?? null,
      aml: v?.aml ?? null,
      face: v?.face ?? null,
      location: v?.location ?? null,
      warnings: v?.warnings ?? [],
      reviews: session.reviews,
      extra_images: [],
      created_at: isoTimestamp(session.createdAt),
    });
  }

  /** Every session, as JSON-safe records, to survive a restart (`SANDBOX_STATE_FILE`). */
  snapshot(): unknown[] {
    return [...this.byId.values()].map((session) => ({ ...session, createdAt: session.createdAt.toISOString() }));
  }

  /** Takes back what `snapshot` wrote; sessions keep their ids, numbers and page tokens. */
  restore(records: unknown[]): void {
    for (const record of records as Array<Omit<SessionRecord, 'createdAt' | 'activity'> & { createdAt: string; activity?: ActivityRow[] }>) {
      // Files written before v3 lack its fields: such a session was made over v1.
      const session = { ...V1_DEFAULTS, ...record, activity: record.activity ?? [], createdAt: new Date(record.createdAt) } as SessionRecord;
      this.index(session);
      this.lastNumber = Math.max(this.lastNumber, session.number);
    }
  }

  private index(session: SessionRecord): void {
    this.byId.set(session.id, session);
    this.byToken.set(session.token, session);
    const key = vendorKeyOf(session);
    const newest = key ? this.byVendorData.get(key) : undefined;
    if (key && (!newest || newest.number < session.number)) this.byVendorData.set(key, session);
  }

  /** A row of the review feed for a reviewer's status change. */
  private record(session: SessionRecord, status: string, comment: string | null, actor: string): void {
    const previous = session.status;
    session.activity.push({
      uuid: randomUUID(),
      activity_type: 'STATUS_UPDATED',
      actor_display: actor,
      actor_email: null,
      actor_type: 'API_KEY',
      new_status: status,
      previous_status: previous,
      comment,
      mentioned_emails: [],
      previous_value: { status: previous },
      new_value: { status },
      changed_fields: ['status'],
      metadata: null,
      created_at: isoTimestamp(new Date()),
    });
  }

  private setStatus(session: SessionRecord, status: string): void {
    session.status = status;
    this.onStatusChange(session);
  }
}
