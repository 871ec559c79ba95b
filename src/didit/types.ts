/**
 * Didit's wire shapes, snake_case, exactly as the v1 API sends them. The v3 adapter (`v3.ts`)
 * maps v3's answers onto the same shapes and adds what only v3 has (`Decision.v3`).
 * Nothing here is trusted: `client.ts` checks the parts it relies on, and the GraphQL layer maps
 * every field defensively (an unknown status becomes UNKNOWN, a missing object becomes null).
 */

/** Session statuses Didit documents. Didit may add more: treat the type as open. */
export const SESSION_STATUSES = [
  'Not Started',
  'In Progress',
  'In Review',
  'Approved',
  'Declined',
  'Abandoned',
  'Expired',
  'Kyc Expired',
  // v3 only: a reviewer asked for steps again; a business (KYB) session waits for its people.
  'Resubmitted',
  'Awaiting User',
] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** What the sandbox may finish a session with, and what a webhook carries a decision for. */
export const FINAL_STATUSES = ['Approved', 'Declined', 'In Review'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

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


export interface Kyc {
  /** v3: the workflow step this came from. */
  node_id?: string;
  status: string | null;
  ocr_status: string | null;
  epassport_status: string | null;
  document_type: string | null;
  document_number: string | null;
  personal_number: string | null;
  portrait_image: string | null;
  front_image: string | null;
  front_video: string | null;
  back_image: string | null;
  back_video: string | null;
  full_front_image: string | null;
  full_back_image: string | null;
  date_of_birth: string | null;
  expiration_date: string | null;
  date_of_issue: string | null;
  issuing_state: string | null;
  issuing_state_name: string | null;
  first_name: string | null;
  last_name: string | null;
  full_name: string | null;
  gender: string | null;
  address: string | null;
  formatted_address: string | null;
  is_nfc_verified: boolean | null;
  parsed_address: unknown;
  place_of_birth: string | null;
  marital_status: string | null;
  nationality: string | null;
  created_at: string | null;
}

export interface AmlHit {
  id: string;
  match: boolean | null;
  score: number | null;
  target: boolean | null;
  caption: string | null;
  datasets: string[] | null;
  features: unknown;
  properties: unknown;
  first_seen: string | null;
  last_seen: string | null;
  last_change: string | null;
}

export interface Aml {
  /** v3: the workflow step this came from. */
  node_id?: string;
  status: string | null;
  total_hits: number;
  score: number | null;
  hits: AmlHit[];
}

export interface Face {
  status: string | null;
  face_match_status: string | null;
  liveness_status: string | null;
  face_match_similarity: number | null;
  liveness_confidence: number | null;
  source_image: string | null;
  target_image: string | null;
  video_url: string | null;
  age_estimation: number | null;
  gender_estimation: { male: number | null; female: number | null } | null;
}

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

export interface Location {
  /** v3: the workflow step this came from. */
  node_id?: string;
  status: string | null;
  device_brand: string | null;
  device_model: string | null;
  browser_family: string | null;
  os_family: string | null;
  platform: string | null;
  ip_country: string | null;
  ip_country_code: string | null;
  ip_state: string | null;
  ip_city: string | null;
  latitude: number | null;
  longitude: number | null;
  ip_address: string | null;
  isp: string | null;
  organization: string | null;
  is_vpn_or_tor: boolean | null;
  is_data_center: boolean | null;
  time_zone: string | null;
  time_zone_offset: string | null;
  document_location: GeoPoint | null;
  ip_location: GeoPoint | null;
  distance_from_document_to_ip_km: { distance: number; direction: string | null } | null;
}

export interface Warning {
  node_id?: string;
  feature: string;
  risk: string;
  additional_data: unknown;
  log_type: string | null;
  short_description: string | null;
  long_description: string | null;
}

export interface Review {
  user: string | null;
  new_status: string | null;
  comment: string | null;
  created_at: string | null;
}

/** `GET /v1/session/{id}/decision/`. Every key is present; unknown parts are `null`. */
export interface Decision {
  session_id: string;
  session_number: number | null;
  session_url: string | null;
  status: string;
  vendor_data: string | null;
  callback: string | null;
  features: string | null;
  kyc: Kyc | null;
  aml: Aml | null;
  face: Face | null;
  location: Location | null;
  warnings: Warning[];
  reviews: Review[];
  extra_images: string[];
  created_at: string | null;
  /** What only Didit's v3 API tells, mapped by `v3.ts`; absent in v1. */
  v3?: DecisionV3;
}

/** A v3 feature item we pass on field by field in the schema (`node_id`, `status`, `warnings`, …). */
export type FeatureItem = Record<string, unknown> & { node_id?: unknown; status?: unknown };

/**
 * v3's per-step lists (`null` until the step has run). The ID, AML and IP steps use the v1 shapes
 * (their fields are the same), the others are passed through as they came.
 */
export interface DecisionV3 {
  workflow_id: string | null;
  metadata: unknown;
  expected_details: unknown;
  contact_details: unknown;
  id_verifications: Kyc[] | null;
  nfc_verifications: FeatureItem[] | null;
  liveness_checks: FeatureItem[] | null;
  face_matches: FeatureItem[] | null;
  poa_verifications: FeatureItem[] | null;
  phone_verifications: FeatureItem[] | null;
  email_verifications: FeatureItem[] | null;
  aml_screenings: Aml[] | null;
  ip_analyses: Location[] | null;
  database_validations: FeatureItem[] | null;
}

/** The body of a status webhook, from Didit or the sandbox. */
export interface WebhookBody {
  session_id: string;
  status: string;
  created_at: number | string;
  timestamp: number;
  vendor_data: string | null;
  decision?: Decision;
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

/** A page of a v3 list: `count` in all, and this page's items. */
export interface Page<T> {
  count: number;
  results: T[];
}
