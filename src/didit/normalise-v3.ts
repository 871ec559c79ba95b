/**
 * `GET /v3/session/{id}/decision/` normalised into the gateway's decision: one typed list per
 * workflow step, and the first item of each as the single blocks v1 also has (`kyc`, `face`, `aml`,
 * `location`); every item's warnings make the one `warnings` list.
 * Nothing is trusted: a list that is not an array is null, an item that is not an object is dropped.
 */
import type { Decision, Face } from '../domain/model.ts';
import { DiditBadResponseError } from './errors.ts';
import { worstCheckStatus } from './face-status.ts';
import { splitFeatures } from './features.ts';
import { amlScreening, bool, distance, geoPoint, idVerification, ipAnalysis, isObject, items, num, review, status, str, warning, type Json } from './normalise.ts';

/** v3's workflow steps as v1 named its features (the schema's VerificationFeature). */
const V1_FEATURE: Record<string, string> = { ID_VERIFICATION: 'OCR', OCR: 'OCR', NFC: 'NFC', LIVENESS: 'FACE', FACE_MATCH: 'FACE', AML: 'AML' };
const V1_ORDER = ['OCR', 'NFC', 'FACE', 'AML'];

function features(value: unknown): string[] {
  if (!Array.isArray(value)) return splitFeatures(str(value));
  const named = new Set(value.map((name) => (typeof name === 'string' ? V1_FEATURE[name] : undefined)).filter(Boolean));
  return V1_ORDER.filter((name) => named.has(name));
}

/** An IP analysis: v1's location fields, with the geo blocks nested under `ip` and `id_document`. */
function ipAnalysisOf(item: Json) {
  const ip = isObject(item.ip) ? item.ip : {};
  return ipAnalysis(item, {
    timeZoneOffset: item.time_zone_offset == null ? null : String(item.time_zone_offset),
    documentLocation: isObject(item.id_document) ? geoPoint(item.id_document.location) : null,
    ipLocation: geoPoint(ip.location),
    distanceFromDocumentToIpKm: distance(ip.distance_from_id_document),
  });
}

/** v1's face block from v3's liveness and face-match steps: its status is the worst of the two. */
function face(liveness: Json | undefined, match: Json | undefined): Face | null {
  if (!liveness && !match) return null;
  return {
    status: worstCheckStatus(liveness?.status, match?.status),
    faceMatchStatus: str(match?.status),
    livenessStatus: str(liveness?.status),
    faceMatchSimilarity: num(match?.score),
    livenessConfidence: num(liveness?.score),
    sourceImage: str(match?.source_image),
    targetImage: str(match?.target_image),
    videoUrl: str(liveness?.video_url),
    ageEstimation: num(liveness?.age_estimation),
    genderEstimation: null,
  };
}

/** What every step has: its node in the workflow, its status, and the item as Didit sent it. */
const step = (item: Json) => ({ nodeId: str(item.node_id), status: status(item.status), raw: item });

export function fromV3Decision(body: Json): Decision {
  if (typeof body.session_id !== 'string' || typeof body.status !== 'string') {
    throw new DiditBadResponseError('decision without session_id or status', 200);
  }
  const wire = {
    id: items(body.id_verifications),
    nfc: items(body.nfc_verifications),
    liveness: items(body.liveness_checks),
    match: items(body.face_matches),
    poa: items(body.poa_verifications),
    phone: items(body.phone_verifications),
    email: items(body.email_verifications),
    aml: items(body.aml_screenings),
    ip: items(body.ip_analyses),
    database: items(body.database_validations),
  };
  const steps = {
    idVerifications: wire.id?.map(idVerification) ?? null,
    nfcVerifications:
      wire.nfc?.map((i) => ({
        ...step(i),
        portraitImage: str(i.portrait_image),
        signatureImage: str(i.signature_image),
        chipData: i.chip_data ?? null,
        authenticity: i.authenticity ?? null,
      })) ?? null,
    livenessChecks:
      wire.liveness?.map((i) => ({
        ...step(i),
        method: str(i.method),
        score: num(i.score),
        referenceImage: str(i.reference_image),
        videoUrl: str(i.video_url),
        ageEstimation: num(i.age_estimation),
      })) ?? null,
    faceMatches: wire.match?.map((i) => ({ ...step(i), score: num(i.score), sourceImage: str(i.source_image), targetImage: str(i.target_image) })) ?? null,
    poaVerifications:
      wire.poa?.map((i) => ({
        ...step(i),
        documentType: str(i.document_type),
        documentFile: str(i.document_file),
        issuer: str(i.issuer),
        issuingState: str(i.issuing_state),
        issueDate: str(i.issue_date),
        nameOnDocument: str(i.name_on_document),
        address: str(i.poa_address),
        formattedAddress: str(i.poa_formatted_address),
      })) ?? null,
    phoneVerifications:
      wire.phone?.map((i) => ({
        ...step(i),
        fullNumber: str(i.full_number),
        countryCode: str(i.country_code),
        verificationMethod: str(i.verification_method),
        verifiedAt: str(i.verified_at),
        isDisposable: bool(i.is_disposable),
        isVirtual: bool(i.is_virtual),
      })) ?? null,
    emailVerifications:
      wire.email?.map((i) => ({
        ...step(i),
        email: str(i.email),
        verifiedAt: str(i.verified_at),
        isBreached: bool(i.is_breached),
        isDisposable: bool(i.is_disposable),
        isUndeliverable: bool(i.is_undeliverable),
      })) ?? null,
    amlScreenings: wire.aml?.map(amlScreening) ?? null,
    ipAnalyses: wire.ip?.map(ipAnalysisOf) ?? null,
    databaseValidations:
      wire.database?.map((i) => ({ ...step(i), issuingState: str(i.issuing_state), validationType: str(i.validation_type), matchType: str(i.match_type) })) ?? null,
  };
  return {
    sessionId: body.session_id,
    sessionNumber: Number.isSafeInteger(body.session_number) ? (body.session_number as number) : null,
    sessionUrl: str(body.session_url),
    status: body.status,
    vendorData: str(body.vendor_data),
    callback: str(body.callback),
    features: features(body.features),
    workflowId: str(body.workflow_id),
    metadata: body.metadata ?? null,
    createdAt: str(body.created_at),
    kyc: steps.idVerifications?.[0] ?? null,
    face: face(wire.liveness?.[0], wire.match?.[0]),
    aml: steps.amlScreenings?.[0] ?? null,
    location: steps.ipAnalyses?.[0] ?? null,
    warnings: Object.values(wire).flatMap((list) => (list ?? []).flatMap((item) => items(item.warnings) ?? [])).map(warning),
    reviews: (items(body.reviews) ?? []).map((r) => review(r, str(r.user) ?? str(r.actor_display))),
    extraImages: [],
    ...steps,
  };
}
