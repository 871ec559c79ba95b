/**
 * The one way the gateway reaches Didit, whatever the API version. The v1 adapter (`v1.ts`:
 * client credentials, `/v1/session/…`) and the v3 adapter (`v3.ts`: an API key, `/v3/…`)
 * implement it over one transport and one set of limits; everything above `didit/` sees only
 * this interface and the shapes in `types.ts`.
 */
import type { Readable } from 'node:stream';
import type { BreakerState } from './resilience.ts';
import type { ActivityEntry, CreateSessionResponse, Decision, Page, ResubmitNode, SessionRow, Workflow } from './types.ts';

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

export interface DiditClient {
  readonly api: DiditApiVersion;
  createSession(params: CreateSessionParams): Promise<CreateSessionResponse>;
  getDecision(sessionId: string): Promise<Decision>;
  /** The report as a byte stream; the caller must consume or destroy `body`. */
  streamPdf(sessionId: string, signal?: AbortSignal): Promise<PdfStream>;
  updateStatus(sessionId: string, params: UpdateStatusParams): Promise<void>;
  /** v3 only (v1 throws `DiditNeedsV3Error`): sessions, newest first. */
  listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<SessionRow>>;
  /** v3 only. Deleting a session that is already gone is no error. */
  deleteSession(sessionId: string): Promise<void>;
  /** v3 only: a session's activity feed, newest first. */
  listReviews(sessionId: string, page: PageRequest): Promise<Page<ActivityEntry>>;
  /** v3 only: a review that also sets the session's status. */
  addReview(sessionId: string, review: { status: 'Approved' | 'Declined' | 'In Review'; comment?: string }): Promise<void>;
  /** v3 only. */
  listWorkflows(): Promise<Workflow[]>;
  /** Whether Didit would take our credentials now (readiness): a token held or obtainable; a key configured. */
  credentialsUsable(): Promise<boolean>;
  breakerState(): BreakerState;
  close(): Promise<void>;
}
