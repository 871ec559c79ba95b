/**
 * Didit's wire answers normalised into the gateway's model (`domain/model.ts`): the parts both
 * APIs share (an identity document, an AML screening, an IP analysis, a warning, a review, a
 * session), and v1's decision. v3's decision is `normalise-v3.ts`'s.
 * Nothing is trusted: a value of the wrong type is null, a list that is not a list is empty, an
 * item that is not an object is dropped, and a status Didit adds later is kept as it came.
 */
import type { AmlHit, AmlScreening, Decision, Face, GeoPoint, IdVerification, IpAnalysis, Review, Session, Warning, Workflow } from '../domain/model.ts';
import { DiditBadResponseError } from './errors.ts';
import { worstCheckStatus } from './face-status.ts';
import { splitFeatures } from './features.ts';

export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
/** The objects of a list, or null when it is not one. */
export const items = (value: unknown): Json[] | null => (Array.isArray(value) ? value.filter(isObject) : null);
export const str = (value: unknown) => (typeof value === 'string' ? value : null);
export const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
export const bool = (value: unknown) => (typeof value === 'boolean' ? value : null);
const int = (value: unknown) => (Number.isSafeInteger(value) ? (value as number) : null);
/** A status: kept as it came when it is a string (the schema shows one it does not know as UNKNOWN), null when absent. */
export const status = (value: unknown) => (value == null ? null : typeof value === 'string' ? value : String(value));

export function idVerification(k: Json): IdVerification {
  return {
    nodeId: str(k.node_id),
    status: status(k.status),
    ocrStatus: status(k.ocr_status),
    epassportStatus: status(k.epassport_status),
    documentType: str(k.document_type),
    documentNumber: str(k.document_number),
    personalNumber: str(k.personal_number),
    portraitImage: str(k.portrait_image),
    frontImage: str(k.front_image),
    frontVideo: str(k.front_video),
    backImage: str(k.back_image),
    backVideo: str(k.back_video),
    fullFrontImage: str(k.full_front_image),
    fullBackImage: str(k.full_back_image),
    dateOfBirth: str(k.date_of_birth),
    expirationDate: str(k.expiration_date),
    dateOfIssue: str(k.date_of_issue),
    issuingState: str(k.issuing_state),
    issuingStateName: str(k.issuing_state_name),
    firstName: str(k.first_name),
    lastName: str(k.last_name),
    fullName: str(k.full_name),
    gender: str(k.gender),
    address: str(k.address),
    formattedAddress: str(k.formatted_address),
    isNfcVerified: bool(k.is_nfc_verified),
    parsedAddress: k.parsed_address ?? null,
    placeOfBirth: str(k.place_of_birth),
    maritalStatus: str(k.marital_status),
    nationality: str(k.nationality),
    createdAt: str(k.created_at),
  };
}

function amlHit(hit: Json): AmlHit {
  return {
    id: String(hit.id),
    match: bool(hit.match),
    score: num(hit.score),
    target: bool(hit.target),
    caption: str(hit.caption),
    datasets: Array.isArray(hit.datasets) ? hit.datasets.filter((d): d is string => typeof d === 'string') : [],
    features: hit.features ?? null,
    properties: hit.properties ?? null,
    firstSeen: str(hit.first_seen),
    lastSeen: str(hit.last_seen),
    lastChange: str(hit.last_change),
  };
}

export function amlScreening(a: Json): AmlScreening {
  const hits = Array.isArray(a.hits) ? a.hits : [];
  return {
    nodeId: str(a.node_id),
    status: status(a.status),
    totalHits: int(a.total_hits) ?? hits.length,
    score: num(a.score),
    hits: hits.filter((h): h is Json => isObject(h) && h.id != null).map(amlHit),
  };
}

/** A point only when both coordinates are numbers; a broken one is dropped, not an error. */
export function geoPoint(value: unknown): GeoPoint | null {
  return isObject(value) && num(value.latitude) !== null && num(value.longitude) !== null
    ? { latitude: value.latitude as number, longitude: value.longitude as number }
    : null;
}

export function distance(value: unknown): IpAnalysis['distanceFromDocumentToIpKm'] {
  return isObject(value) && num(value.distance) !== null ? { distance: value.distance as number, direction: str(value.direction) } : null;
}

/** Device and IP location; the geo blocks nest differently in v1 and v3, so the caller gives them. */
export function ipAnalysis(l: Json, geo: Pick<IpAnalysis, 'timeZoneOffset' | 'documentLocation' | 'ipLocation' | 'distanceFromDocumentToIpKm'>): IpAnalysis {
  return {
    nodeId: str(l.node_id),
    status: status(l.status),
    deviceBrand: str(l.device_brand),
    deviceModel: str(l.device_model),
    browserFamily: str(l.browser_family),
    osFamily: str(l.os_family),
    platform: str(l.platform),
    ipCountry: str(l.ip_country),
    ipCountryCode: str(l.ip_country_code),
    ipState: str(l.ip_state),
    ipCity: str(l.ip_city),
    latitude: num(l.latitude),
    longitude: num(l.longitude),
    ipAddress: str(l.ip_address),
    isp: str(l.isp),
    organization: str(l.organization),
    isVpnOrTor: bool(l.is_vpn_or_tor),
    isDataCenter: bool(l.is_data_center),
    timeZone: str(l.time_zone),
    ...geo,
  };
}

export function warning(w: Json): Warning {
  return {
    nodeId: str(w.node_id),
    feature: str(w.feature) ?? '',
    risk: str(w.risk) ?? '',
    additionalData: w.additional_data ?? null,
    logType: str(w.log_type),
    shortDescription: str(w.short_description),
    longDescription: str(w.long_description),
  };
}

/** A review (v1, v3's decision) or an activity entry (v3's feed); `user` is who Didit names. */
export function review(r: Json, user: string | null): Review {
  return {
    user,
    newStatus: status(r.new_status),
    previousStatus: status(r.previous_status),
    activityType: str(r.activity_type),
    comment: str(r.comment),
    createdAt: str(r.created_at),
  };
}

/** v1's face block; its status is the worst of liveness and face match, whatever Didit put there. */
function face(f: Json): Face {
  const gender = isObject(f.gender_estimation) ? f.gender_estimation : null;
  return {
    status: worstCheckStatus(f.status, f.liveness_status, f.face_match_status),
    faceMatchStatus: status(f.face_match_status),
    livenessStatus: status(f.liveness_status),
    faceMatchSimilarity: num(f.face_match_similarity),
    livenessConfidence: num(f.liveness_confidence),
    sourceImage: str(f.source_image),
    targetImage: str(f.target_image),
    videoUrl: str(f.video_url),
    ageEstimation: num(f.age_estimation),
    genderEstimation: gender && { male: num(gender.male), female: num(gender.female) },
  };
}

const NO_STEPS = {
  idVerifications: null,
  nfcVerifications: null,
  livenessChecks: null,
  faceMatches: null,
  poaVerifications: null,
  phoneVerifications: null,
  emailVerifications: null,
  amlScreenings: null,
  ipAnalyses: null,
  databaseValidations: null,
} as const;

/** `GET /v1/session/{id}/decision/`: one block per check, no workflow steps. */
export function fromV1Decision(body: Json): Decision {
  if (typeof body.session_id !== 'string' || typeof body.status !== 'string') {
    throw new DiditBadResponseError('decision without session_id or status', 200);
  }
  const location = isObject(body.location) ? body.location : null;
  return {
    sessionId: body.session_id,
    sessionNumber: int(body.session_number),
    sessionUrl: str(body.session_url),
    status: body.status,
    vendorData: str(body.vendor_data),
    callback: str(body.callback),
    features: splitFeatures(str(body.features)),
    workflowId: null,
    metadata: null,
    createdAt: str(body.created_at),
    kyc: isObject(body.kyc) ? idVerification(body.kyc) : null,
    face: isObject(body.face) ? face(body.face) : null,
    aml: isObject(body.aml) ? amlScreening(body.aml) : null,
    location:
      location &&
      ipAnalysis(location, {
        timeZoneOffset: str(location.time_zone_offset),
        documentLocation: geoPoint(location.document_location),
        ipLocation: geoPoint(location.ip_location),
        distanceFromDocumentToIpKm: distance(location.distance_from_document_to_ip_km),
      }),
    warnings: (items(body.warnings) ?? []).map(warning),
    reviews: (items(body.reviews) ?? []).map((r) => review(r, str(r.user))),
    extraImages: Array.isArray(body.extra_images) ? body.extra_images.filter((u): u is string => typeof u === 'string') : [],
    ...NO_STEPS,
  };
}

/** A session as `POST /v{1,3}/session/` answers it (checked by the adapter: id, url, status). */
export function createdSession(body: Json & { session_id: string; status: string }): Session {
  return {
    id: body.session_id.toLowerCase(),
    number: int(body.session_number),
    url: str(body.url),
    status: body.status,
    vendorData: str(body.vendor_data),
    callback: str(body.callback),
    features: splitFeatures(str(body.features)),
    workflowId: str(body.workflow_id),
    metadata: body.metadata ?? null,
    createdAt: null,
    fullName: null,
    documentType: null,
    country: null,
  };
}

/** v3: a row of `GET /v3/sessions/` (checked by the adapter: id, status). */
export function sessionRow(row: Json & { session_id: string; status: string }): Session {
  return {
    id: row.session_id.toLowerCase(),
    number: int(row.session_number),
    url: str(row.session_url),
    status: row.status,
    vendorData: str(row.vendor_data),
    callback: null,
    features: [],
    workflowId: str(row.workflow_id),
    metadata: null,
    createdAt: str(row.created_at),
    fullName: str(row.full_name),
    documentType: str(row.document_type),
    country: str(row.country),
  };
}

/** v3: a workflow of `GET /v3/workflows/`; its features are a list in one edition of the docs, a string in another. */
export function workflow(w: Json & { workflow_id: string }): Workflow {
  const features = Array.isArray(w.features) ? w.features : typeof w.features === 'string' ? w.features.split('+') : [];
  return {
    id: w.workflow_id,
    label: str(w.workflow_label),
    type: str(w.workflow_type),
    features: features.flatMap((f) => (typeof f === 'string' && f.trim() ? [f.trim()] : [])),
    isDefault: w.is_default === true,
    version: int(w.version),
  };
}
