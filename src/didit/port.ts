/**
 * The one way the gateway reaches Didit, whatever the API version. The v1 adapter (`v1.ts`:
 * client credentials, `/v1/session/…`) and the v3 adapter (`v3.ts`: an API key, `/v3/…`)
 * implement it over one transport and one set of limits, and normalise their answers into the
 * gateway's model (`domain/model.ts`); everything above `didit/` sees only this interface and
 * that model. What an API cannot do is told by `can`, checked once (`requireCapability`).
 */
import type { Readable } from 'node:stream';
import type { Decision, Page, Review, Session, Workflow } from '../domain/model.ts';
import type { Verdict } from '../domain/status.ts';
import { DiditNeedsV3Error } from './errors.ts';
import type { BreakerState } from './resilience.ts';
import type { ResubmitNode } from './types.ts';

/** The Didit endpoints, as named in metrics, logs and pacing. */
export type DiditEndpoint = 'token' | 'create' | 'decision' | 'pdf' | 'update' | 'list' | 'delete' | 'reviews' | 'review' | 'workflows';

export type DiditApiVersion = 'v1' | 'v3';

export interface CreateSessionParams {
  /** Where Didit sends the applicant back (v1: required). */
  callback?: string;
  /** v1 only: feature names (`OCR`, `NFC`, `FACE`, `AML`); omitted: the console's settings apply. */
  features?: readonly string[];
  vendorData?: string;
  /** v3 only (required there): the workflow the session runs. */
  workflowId?: string;
  /** v3 only. */
  metadata?: Record<string, unknown>;
  language?: string;
  callbackMethod?: 'initiator' | 'completer' | 'both';
  contactDetails?: { email?: string; sendNotificationEmails?: boolean; emailLang?: string; phone?: string };
  expectedDetails?: Record<string, string>;
}

export interface UpdateStatusParams {
  status: 'Approved' | 'Declined' | 'Resubmitted';
  comment?: string;
  /** v3 only. */
  sendEmail?: boolean;
  emailAddress?: string;
  emailLanguage?: string;
  nodesToResubmit?: readonly ResubmitNode[];
}

/** v3: what `GET /v3/sessions/` filters on. */
export interface SessionFilter {
  vendorData?: string;
  statuses?: readonly string[];
  workflowId?: string;
  /** ISO 3166-1 alpha-3. */
  country?: string;
  /** YYYY-MM-DD, inclusive. */
  dateFrom?: string;
  dateTo?: string;
  search?: string;
}

export interface PageRequest {
  limit: number;
  offset: number;
}

export interface PdfStream {
  body: Readable;
  contentType: string;
  filename: string;
  contentLength?: number;
}

/** What an API can do beyond reading, creating and deciding sessions. */
export interface Capabilities {
  /** `listSessions`. */
  search: boolean;
  /** `deleteSession`. */
  erase: boolean;
  /** `listReviews`: a session's activity feed (without it, the decision's own reviews). */
  reviewFeed: boolean;
  /** `addReview`. */
  review: boolean;
  /** `updateStatus` to `Resubmitted`. */
  resubmit: boolean;
  /** `listWorkflows`. */
  workflows: boolean;
}

const NEEDS: Record<keyof Capabilities, string> = {
  search: 'Listing sessions',
  erase: 'Deleting a session',
  reviewFeed: "A session's review feed",
  review: 'Adding a review',
  resubmit: 'Resubmitting a session',
  workflows: 'Listing workflows',
};

/** The refusal of what an API cannot do (REQUIRES_DIDIT_V3 for the client). */
export const unsupported = (capability: keyof Capabilities) => new DiditNeedsV3Error(NEEDS[capability]);

/** Refuses what the configured API cannot do, before anything is charged or sent. */
export function requireCapability(client: Pick<DiditClient, 'can'>, capability: keyof Capabilities): void {
  if (!client.can[capability]) throw unsupported(capability);
}

export interface DiditClient {
  readonly api: DiditApiVersion;
  readonly can: Readonly<Capabilities>;
  /** The statuses Didit renders a PDF report for. */
  readonly reportable: ReadonlySet<string>;
  createSession(params: CreateSessionParams): Promise<Session>;
  getDecision(sessionId: string): Promise<Decision>;
  /** The report as a byte stream; the caller must consume or destroy `body`. */
  streamPdf(sessionId: string, signal?: AbortSignal): Promise<PdfStream>;
  updateStatus(sessionId: string, params: UpdateStatusParams): Promise<void>;
  /** With `can.search`: sessions, newest first. */
  listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<Session>>;
  /** With `can.erase`. Deleting a session that is already gone is no error. */
  deleteSession(sessionId: string): Promise<void>;
  /** With `can.reviewFeed`: a session's activity feed, newest first. */
  listReviews(sessionId: string, page: PageRequest): Promise<Page<Review>>;
  /** With `can.review`: a review that also sets the session's status. */
  addReview(sessionId: string, review: { status: Verdict; comment?: string }): Promise<void>;
  /** With `can.workflows`. */
  listWorkflows(): Promise<Workflow[]>;
  /** Whether Didit would take our credentials now (readiness): a token held or obtainable; a key configured. */
  credentialsUsable(): Promise<boolean>;
  breakerState(): BreakerState;
  close(): Promise<void>;
}
