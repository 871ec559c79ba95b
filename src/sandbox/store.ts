/**
 * The sandbox's sessions, in memory, moving as Didit's do:
 * Not Started → In Progress (the applicant opened the page) → Approved | Declined | In Review
 * (the applicant finished), then Approved | Declined again through a reviewer's update-status.
 * Every status change is reported to the listener, which sends the webhooks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Decision, FinalStatus, Kyc, Review, ReviewStatus } from '../didit/types.ts';
import { buildVerification, isoTimestamp, type Verification } from './personas.ts';

export interface SessionRecord {
  readonly id: string;
  readonly number: number;
  /** The secret part of the applicant's page URL. */
  readonly token: string;
  readonly vendorData: string | null;
  readonly callback: string;
  readonly features: string;
  readonly url: string;
  readonly createdAt: Date;
  status: string;
  /** Null until the applicant finishes. */
  verification: Verification | null;
  reviews: Review[];
}

export interface NewSession {
  callback: string;
  features: string;
  vendorData: string | null;
  /** Origin of the applicant's page, e.g. "http://127.0.0.1:4010". */
  origin: string;
}

/** The request does not fit the session's state, e.g. finishing a session twice. */
export class SessionStateError extends Error {
  override name = 'SessionStateError';
}

/** Whether the applicant's part is over (the page no longer offers the outcomes). */
export function isFinished(session: SessionRecord): boolean {
  return session.status !== 'Not Started' && session.status !== 'In Progress';
}

export class SessionStore {
  private readonly byId = new Map<string, SessionRecord>();
  private readonly byToken = new Map<string, SessionRecord>();
  private lastNumber = 0;

  constructor(private readonly onStatusChange: (session: SessionRecord) => void) {}

  create(input: NewSession): SessionRecord {
    const token = randomBytes(12).toString('base64url');
    const session: SessionRecord = {
      id: randomUUID(),
      number: ++this.lastNumber,
      token,
      vendorData: input.vendorData,
      callback: input.callback,
      features: input.features,
      url: `${input.origin}/session/${token}`,
      createdAt: new Date(),
      status: 'Not Started',
      verification: null,
      reviews: [],
    };
    this.byId.set(session.id, session);
    this.byToken.set(token, session);
    return session;
  }

  /** UUIDs are case-insensitive; ids are stored lower-case as `randomUUID` writes them. */
  get(id: string): SessionRecord | undefined {
    return this.byId.get(id.toLowerCase());
  }

  getByToken(token: string): SessionRecord | undefined {
    return this.byToken.get(token);
  }

  /** The applicant opened the page: Not Started → In Progress; otherwise nothing changes. */
  start(session: SessionRecord): void {
    if (session.status === 'Not Started') this.setStatus(session, 'In Progress');
  }

  /** The applicant finished with `status`; a session not started yet goes through In Progress first. */
  finish(session: SessionRecord, status: FinalStatus, kyc?: Partial<Kyc>): void {
    if (isFinished(session)) throw new SessionStateError(`Session is already ${session.status}.`);
    this.start(session);
    session.verification = buildVerification({ sessionId: session.id, features: session.features, status, at: new Date(), kyc });
    this.setStatus(session, status);
  }

  /** A reviewer sets the outcome; only a finished session has anything to review. */
  review(session: SessionRecord, status: ReviewStatus, comment: string | null, user: string): void {
    if (!isFinished(session)) throw new SessionStateError(`Session is ${session.status}; only finished sessions can be reviewed.`);
    session.reviews.push({ user, new_status: status, comment, created_at: isoTimestamp(new Date()) });
    // Reported even when the status stays the same: the decision changed (a new review).
    this.setStatus(session, status);
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
    for (const record of records as Array<SessionRecord & { createdAt: string }>) {
      const session: SessionRecord = { ...record, createdAt: new Date(record.createdAt) };
      this.byId.set(session.id, session);
      this.byToken.set(session.token, session);
      this.lastNumber = Math.max(this.lastNumber, session.number);
    }
  }

  private setStatus(session: SessionRecord, status: string): void {
    session.status = status;
    this.onStatusChange(session);
  }
}
