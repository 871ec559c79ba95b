/**
 * Didit's wire shapes, snake_case, as its APIs send them: what the adapters send and read before
 * they normalise it into the gateway's model (`normalise.ts`, `normalise-v3.ts` -> `domain/model.ts`;
 * a decision is read field by field there).
 * Nothing here is trusted, and nothing above `didit/` sees these shapes. (The sandbox has wire
 * types of its own, `sandbox/wire.ts`, so that its store and this client can change apart.)
 */

/** Statuses a reviewer may set through `update-status`. */
export type ReviewStatus = 'Approved' | 'Declined';

export interface TokenResponse {
  iss: string;
  iat: number;
  sub: string;
  client_id: string;
  organization_id: string;
  expires_in: number;
  exp: number;
  access_token: string;
}

export interface CreateSessionRequest {
  callback: string;
  /** One of the eight strings of `features.ts`; omitted: the console's settings apply. */
  features?: string;
  vendor_data?: string;
}

export interface CreateSessionResponse {
  session_id: string;
  session_number: number;
  session_token: string;
  vendor_data: string | null;
  status: string;
  callback: string | null;
  url: string;
  /** v1 only. */
  features?: string;
  /** v3 only. */
  workflow_id?: string | null;
  metadata?: unknown;
}

/** v3: a step to do again, as `update-status` takes it (`{"node_id": "feature_ocr", "feature": "OCR"}`). */
export interface ResubmitNode {
  node_id: string;
  feature?: string;
}

export interface UpdateStatusRequest {
  new_status: ReviewStatus;
  comment?: string;
}


/** v3: one row of `GET /v3/sessions/` (what the list tells without reading a decision). */
export interface SessionRow {
  session_id: string;
  session_number: number | null;
  session_url: string | null;
  status: string;
  vendor_data: string | null;
  created_at: string | null;
  full_name: string | null;
  /** A short code here ("ID", "P"), unlike the decision's "Identity Card". */
  document_type: string | null;
  /** ISO 3166-1 alpha-3. */
  country: string | null;
  workflow_id?: string | null;
}

/** v3: one entry of a session's activity feed (`GET /v3/sessions/{id}/reviews/`). */
export interface ActivityEntry {
  uuid?: string | null;
  activity_type?: string | null;
  actor_display?: string | null;
  actor_type?: string | null;
  new_status?: string | null;
  previous_status?: string | null;
  comment?: string | null;
  created_at?: string | null;
}

/** v3: one workflow of `GET /v3/workflows/`. */
export interface Workflow {
  uuid?: string | null;
  workflow_id: string;
  workflow_label?: string | null;
  workflow_type?: string | null;
  is_default?: boolean | null;
  /** A list (`["OCR", "LIVENESS"]`) in one edition of the docs, a string (`"OCR + LIVENESS"`) in another. */
  features?: string[] | string | null;
  version?: number | null;
  status?: string | null;
}
