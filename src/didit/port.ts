/**
 * The one way the gateway reaches Didit, whatever the API version. The v1 adapter (`v1.ts`:
 * client credentials, `/v1/session/…`) and the v3 adapter (`v3.ts`: an API key, `/v3/…`)
 * implement it over one transport and one set of limits; everything above `didit/` sees only
 * this interface and the shapes in `types.ts`.
 */
import type { Readable } from 'node:stream';
import type { BreakerState } from './resilience.ts';
import type { CreateSessionResponse, Decision, ResubmitNode } from './types.ts';

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
  /** Whether Didit would take our credentials now (readiness): a token held or obtainable; a key configured. */
  credentialsUsable(): Promise<boolean>;
  breakerState(): BreakerState;
  close(): Promise<void>;
}
