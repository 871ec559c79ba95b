/**
 * `GET /v3/session/{id}/decision/` mapped onto the v1 decision shape the schema reads: the first
 * item of each step list fills v1's `kyc`, `face`, `aml` and `location`, every item's warnings
 * make the one `warnings` list, and the whole lists are kept in `v3` for multi-step workflows.
 * Nothing is trusted: a list that is not an array is null, an item that is not an object is dropped.
 */
import { DiditBadResponseError } from './errors.ts';
import type { Aml, Decision, DecisionV3, Face, FeatureItem, GeoPoint, Kyc, Location, Review, Warning } from './types.ts';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const items = (value: unknown): Json[] | null => (Array.isArray(value) ? value.filter(isObject) : null);
const str = (value: unknown) => (typeof value === 'string' ? value : null);
const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** v3's workflow steps as v1 named its features (the schema's VerificationFeature). */
const V1_FEATURE: Record<string, string> = { ID_VERIFICATION: 'OCR', OCR: 'OCR', NFC: 'NFC', LIVENESS: 'FACE', FACE_MATCH: 'FACE', AML: 'AML' };
const V1_ORDER = ['OCR', 'NFC', 'FACE', 'AML'];

function features(value: unknown): string | null {
  if (!Array.isArray(value)) return str(value);
  const named = new Set(value.map((name) => (typeof name === 'string' ? V1_FEATURE[name] : undefined)).filter(Boolean));
  return named.size ? V1_ORDER.filter((name) => named.has(name)).join(' + ') : null;
}

const point = (value: unknown): GeoPoint | null => {
  const location = isObject(value) && isObject(value.location) ? value.location : null;
  return location && num(location.latitude) !== null && num(location.longitude) !== null
    ? { latitude: location.latitude as number, longitude: location.longitude as number }
    : null;
};

/** An IP analysis as v1's location: the same field names, but the geo blocks nest differently. */
function location(item: Json): Location {
  const ip = isObject(item.ip) ? item.ip : {};
  const distance = isObject(ip.distance_from_id_document) ? ip.distance_from_id_document : null;
  return {
    ...(item as unknown as Location),
    time_zone_offset: item.time_zone_offset == null ? null : String(item.time_zone_offset),
    document_location: point(item.id_document),
    ip_location: point(item.ip),
    distance_from_document_to_ip_km:
      distance && num(distance.distance) !== null ? { distance: distance.distance as number, direction: str(distance.direction) } : null,
  };
}

/** v1's face block from v3's liveness and face-match steps. */
function face(liveness: Json | undefined, match: Json | undefined): Face | null {
  if (!liveness && !match) return null;
  return {
    status: str(match?.status) ?? str(liveness?.status),
    face_match_status: str(match?.status),
    liveness_status: str(liveness?.status),
    face_match_similarity: num(match?.score),
    liveness_confidence: num(liveness?.score),
    source_image: str(match?.source_image),
    target_image: str(match?.target_image),
    video_url: str(liveness?.video_url),
    age_estimation: num(liveness?.age_estimation),
    gender_estimation: null,
  };
}

/** v3's reviews carry an actor instead of a user name. */
function review(item: Json): Review {
  return { user: str(item.user) ?? str(item.actor_display), new_status: str(item.new_status), comment: str(item.comment), created_at: str(item.created_at) };
}

export function fromV3Decision(body: Json): Decision {
  if (typeof body.session_id !== 'string' || typeof body.status !== 'string') {
    throw new DiditBadResponseError('decision without session_id or status', 200);
  }
  const lists = {
    id_verifications: items(body.id_verifications) as Kyc[] | null,
    nfc_verifications: items(body.nfc_verifications) as FeatureItem[] | null,
    liveness_checks: items(body.liveness_checks) as FeatureItem[] | null,
    face_matches: items(body.face_matches) as FeatureItem[] | null,
    poa_verifications: items(body.poa_verifications) as FeatureItem[] | null,
    phone_verifications: items(body.phone_verifications) as FeatureItem[] | null,
    email_verifications: items(body.email_verifications) as FeatureItem[] | null,
    aml_screenings: items(body.aml_screenings) as Aml[] | null,
    ip_analyses: items(body.ip_analyses)?.map(location) ?? null,
    database_validations: items(body.database_validations) as FeatureItem[] | null,
  };
  const warnings = Object.values(lists).flatMap((list) => (list ?? []).flatMap((item) => items((item as Json).warnings) ?? [])) as unknown as Warning[];
  const v3: DecisionV3 = {
    workflow_id: str(body.workflow_id),
    metadata: body.metadata ?? null,
    expected_details: body.expected_details ?? null,
    contact_details: body.contact_details ?? null,
    ...lists,
  };
  return {
    session_id: body.session_id,
    session_number: num(body.session_number),
    session_url: str(body.session_url),
    status: body.status,
    vendor_data: str(body.vendor_data),
    callback: str(body.callback),
    features: features(body.features),
    kyc: lists.id_verifications?.[0] ?? null,
    aml: lists.aml_screenings?.[0] ?? null,
    face: face(lists.liveness_checks?.[0], lists.face_matches?.[0]),
    location: lists.ip_analyses?.[0] ?? null,
    warnings,
    reviews: (items(body.reviews) ?? []).map(review),
    extra_images: [],
    created_at: str(body.created_at),
    v3,
  };
}
