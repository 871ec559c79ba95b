/**
 * The simulator's own wire shapes, snake_case, as Didit's v1 API sends them: its store keeps
 * sessions in these, and its v3 routes reshape them (`v3-shapes.ts`). They are the sandbox's,
 * apart from the gateway's client (`didit/types.ts`, `domain/model.ts`), so that the store and
 * the client can change apart.
 */
import { VERDICTS, type Verdict } from '../domain/status.ts';

/** What the sandbox may finish a session with. */
export const FINAL_STATUSES = VERDICTS;
export type FinalStatus = Verdict;

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
}

/** The body of a status webhook the sandbox sends (v1's shape). */
export interface WebhookBody {
  session_id: string;
  status: string;
  created_at: number | string;
  timestamp: number;
  vendor_data: string | null;
  decision?: Decision;
}
