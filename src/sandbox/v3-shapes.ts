/**
 * Didit v3's JSON for the sandbox's sessions, built from the same store and persona data as the
 * v1 answers, so one session reads the same over both APIs: the decision (one list per step of
 * the session's workflow, `null` until the step has run), a row of the session list, a workflow,
 * the create answer and the `status.updated` webhook body.
 *
 * Field names are Didit's, as docs/didit-v3.md gives them (§2, §3, §6, §9, §10); values the
 * sandbox cannot know (presigned media, risk scores of AML hits, certificate hashes) are null.
 */
import { createHash, randomUUID } from 'node:crypto';
import { CARRIES_DECISION } from '../domain/status.ts';
import type { Warning } from './wire.ts';
import { distance, isoTimestamp, mediaUrl, type Point } from './personas.ts';
import type { SessionRecord } from './store.ts';
import {
  SESSION_EXPIRATION_MINUTES,
  STEPS,
  UNUSED_LISTS,
  findWorkflow,
  stepOf,
  stepsOfV1Features,
  type V3Feature,
  type Workflow,
} from './workflows.ts';

type Json = Record<string, unknown>;

/** The v3 steps of a session: its workflow's, or for a session made over v1, those its features imply. */
export function featuresOf(session: SessionRecord): V3Feature[] {
  const workflow = findWorkflow(session.workflowId);
  return workflow ? [...workflow.features] : stepsOfV1Features(session.features);
}

/** `GET /v3/session/{id}/decision/`. A copy: whoever holds it cannot change the session. */
export function v3Decision(session: SessionRecord): Json {
  const features = featuresOf(session);
  const items = stepItems(session, features);
  const lists: Json = {};
  for (const step of STEPS) lists[step.list] = items.has(step.feature) ? [items.get(step.feature)] : null;
  for (const list of UNUSED_LISTS) lists[list] = null;
  return structuredClone({
    session_id: session.id,
    session_kind: 'user',
    session_number: session.number,
    session_url: session.url,
    status: session.status,
    // "live" in Didit's examples; a test delivery showed "sandbox" (UNCERTAIN), which this is.
    environment: 'sandbox',
    workflow_id: session.workflowId,
    features,
    vendor_data: session.vendorData,
    metadata: session.metadata,
    expected_details: session.expectedDetails,
    contact_details: session.contactDetails,
    callback: session.callback,
    ...lists,
    reviews: session.reviews,
    created_at: isoTimestamp(session.createdAt),
    expires_at: isoTimestamp(new Date(session.createdAt.getTime() + SESSION_EXPIRATION_MINUTES * 60_000)),
  });
}

/** `POST /v3/session/`'s 201 body (docs/didit-v3.md §2). */
export function createdSession(session: SessionRecord): Json {
  return {
    session_id: session.id,
    session_number: session.number,
    session_token: session.token,
    url: session.url,
    vendor_data: session.vendorData,
    metadata: session.metadata,
    status: session.status,
    workflow_id: session.workflowId,
    workflow_version: session.workflowVersion,
    callback: session.callback,
    session_kind: 'user',
  };
}

/** The decision's document types as the session list writes them (docs/didit-v3.md §6: "ID", "P"). */
const DOCUMENT_CODES: Record<string, string> = { 'Identity Card': 'ID', Passport: 'P', "Driver's License": 'DL', 'Residence Permit': 'RP' };

/** A row of `GET /v3/sessions/` (docs/didit-v3.md §6). */
export function listRow(session: SessionRecord): Json {
  const decision = v3Decision(session);
  const first = (list: string) => ((decision[list] as Json[] | null) ?? [])[0];
  const id = first('id_verifications');
  const phone = first('phone_verifications');
  const email = first('email_verifications');
  const documentType = typeof id?.document_type === 'string' ? id.document_type : undefined;
  return {
    session_id: session.id,
    session_number: session.number,
    session_kind: 'user',
    session_url: session.url,
    portrait_image: id?.portrait_image ?? null,
    document_type: documentType && Object.hasOwn(DOCUMENT_CODES, documentType) ? DOCUMENT_CODES[documentType] : null,
    full_name: id?.full_name ?? null,
    country: id?.issuing_state ?? null,
    status: session.status,
    vendor_data: session.vendorData,
    created_at: decision.created_at,
    features: featuresOf(session).map((feature) => ({ feature, status: first(stepOf(feature).list)?.status ?? 'Not Finished' })),
    phone_number: phone ? { number: phone.full_number, is_verified: phone.status === 'Approved' } : null,
    email_address: email ? { email: email.email, is_verified: email.status === 'Approved' } : null,
  };
}

/**
 * An item of `GET /v3/workflows/`, in the newest docs edition's form (docs/didit-v3.md §9, edition B):
 * `features` a string array, prices strings, `session_expiration_time` 1440.
 */
export function workflowItem(workflow: Workflow): Json {
  return {
    uuid: workflow.settingsUuid,
    workflow_id: workflow.id,
    workflow_label: workflow.label,
    workflow_type: 'kyc',
    is_default: workflow.isDefault,
    is_archived: false,
    total_price: workflow.totalPrice,
    min_price: workflow.totalPrice,
    max_price: workflow.totalPrice,
    features: workflow.features.map((feature) => stepOf(feature).workflowName),
    is_simple_workflow: true,
    is_editable: false,
    // The sandbox hosts no shareable workflow link.
    workflow_url: null,
    max_retry_attempts: 3,
    retry_window_days: 7,
    session_expiration_time: SESSION_EXPIRATION_MINUTES,
    version: workflow.version,
    status: 'published',
    has_draft: false,
    created_by: null,
    updated_at: workflow.createdAt,
  };
}

/**
 * The `status.updated` body for the session's current status (docs/didit-v3.md §10): `timestamp` and
 * `created_at` are both the event's time in Unix seconds; `workflow_id`, `vendor_data` and
 * `metadata` only when the session has them; the decision on Approved, Declined, In Review and
 * Abandoned; `resubmit_info` on Resubmitted.
 */
export function v3WebhookBody(session: SessionRecord, applicationId: string): Json {
  const now = Math.floor(Date.now() / 1000);
  const body: Json = {
    event_id: randomUUID(),
    webhook_type: 'status.updated',
    timestamp: now,
    created_at: now,
    application_id: applicationId,
    session_id: session.id,
    status: session.status,
  };
  if (session.workflowId !== null) {
    body.workflow_id = session.workflowId;
    body.workflow_version = session.workflowVersion;
  }
  if (session.vendorData !== null) body.vendor_data = session.vendorData;
  if (session.metadata !== null) body.metadata = structuredClone(session.metadata);
  if (CARRIES_DECISION.has(session.status)) body.decision = v3Decision(session);
  if (session.status === 'Resubmitted' && session.resubmission) {
    body.resubmit_info = structuredClone({ nodes_to_resubmit: session.resubmission.nodes, reasons: session.resubmission.reasons });
  }
  return body;
}

/** v1's warning features, as the v3 step they belong to. */
const WARNING_STEPS: Record<string, V3Feature> = { OCR: 'ID_VERIFICATION', LIVENESS: 'LIVENESS', FACE: 'FACE_MATCH', AML: 'AML' };

/** The item of each step that has run; none before the applicant finishes. */
function stepItems(session: SessionRecord, features: V3Feature[]): Map<V3Feature, Json> {
  const items = new Map<V3Feature, Json>();
  const v = session.verification;
  if (!v) return items;
  const warningsOf = (feature: V3Feature) =>
    v.warnings.filter((w) => WARNING_STEPS[w.feature] === feature).map((w) => v3Warning(w, feature));
  const media = mediaUrl(session.id);
  const { kyc, face, aml, location } = v;
  // When the applicant finished; a KYC override may have made created_at anything.
  const finishedAt = new Date(kyc.created_at ?? Number.NaN);
  const at = Number.isNaN(finishedAt.getTime()) ? session.createdAt : finishedAt;
  const fullName = kyc.full_name;
  const documentPoint = location.document_location;
  const ipPoint = location.ip_location;
  const hasPoa = features.includes('POA');

  const build: Record<V3Feature, () => Json | null> = {
    ID_VERIFICATION: () => ({
      node_id: stepOf('ID_VERIFICATION').nodeId,
      status: kyc.status,
      document_type: kyc.document_type,
      document_number: kyc.document_number,
      personal_number: kyc.personal_number,
      first_name: kyc.first_name,
      last_name: kyc.last_name,
      full_name: fullName,
      date_of_birth: kyc.date_of_birth,
      age: ageAt(kyc.date_of_birth, at),
      gender: kyc.gender,
      nationality: kyc.nationality,
      place_of_birth: kyc.place_of_birth,
      marital_status: kyc.marital_status,
      issuing_state: kyc.issuing_state,
      issuing_state_name: kyc.issuing_state_name,
      date_of_issue: kyc.date_of_issue,
      expiration_date: kyc.expiration_date,
      address: kyc.address,
      formatted_address: kyc.formatted_address,
      parsed_address: kyc.parsed_address ?? null,
      extra_fields: {},
      extra_files: [],
      matches: [],
      portrait_image: kyc.portrait_image,
      front_image: kyc.front_image,
      back_image: kyc.back_image,
      full_front_image: kyc.full_front_image,
      full_back_image: kyc.full_back_image,
      front_video: kyc.front_video,
      back_video: kyc.back_video,
      front_image_camera_front: null,
      back_image_camera_front: null,
      front_image_camera_front_face_match_score: null,
      back_image_camera_front_face_match_score: null,
      front_image_quality_score: null,
      back_image_quality_score: null,
      warnings: warningsOf('ID_VERIFICATION'),
    }),
    NFC: () => ({
      node_id: stepOf('NFC').nodeId,
      status: kyc.epassport_status ?? 'Approved',
      portrait_image: media('nfc_portrait.jpg'),
      signature_image: media('nfc_signature.jpg'),
      authenticity: { dg_integrity: true, sod_integrity: true },
      certificate_summary: {
        issuer: `CSCA ${kyc.issuing_state ?? ''}`.trim(),
        subject: `Document Signer ${kyc.issuing_state ?? ''}`.trim(),
        // A float this large, as Didit's own test webhook has: its JSON needs exponent notation.
        serial_number: 1.1812083616449413e38,
        not_valid_before: kyc.date_of_issue,
        not_valid_after: kyc.expiration_date,
      },
      chip_data: {
        address: kyc.address,
        birth_date: kyc.date_of_birth,
        birth_date_hash: null,
        country: kyc.issuing_state,
        dgs: ['DG1', 'DG2'],
        document_number: kyc.document_number,
        document_number_hash: null,
        document_type: kyc.document_type === 'Passport' ? 'P' : 'ID',
        expiry_date: kyc.expiration_date,
        expiry_date_hash: null,
        final_hash: null,
        mrz_string: null,
        mrz_type: kyc.document_type === 'Passport' ? 'TD3' : 'TD1',
        name: kyc.first_name,
        nationality: kyc.nationality,
        optional_data: kyc.personal_number,
        optional_data_hash: null,
        place_of_birth: kyc.place_of_birth,
        sex: kyc.gender,
        surname: kyc.last_name,
      },
      warnings: [],
    }),
    LIVENESS: () =>
      face && {
        node_id: stepOf('LIVENESS').nodeId,
        status: face.liveness_status,
        // "FLASHING" in Didit's samples; the integration prompt's lower-case values conflict (UNCERTAIN).
        method: 'FLASHING',
        score: face.liveness_confidence,
        reference_image: face.target_image,
        video_url: face.video_url,
        age_estimation: face.age_estimation,
        face_quality: null,
        face_luminance: null,
        matches: [],
        warnings: warningsOf('LIVENESS'),
      },
    FACE_MATCH: () =>
      face && {
        node_id: stepOf('FACE_MATCH').nodeId,
        status: face.face_match_status,
        score: face.face_match_similarity,
        source_image: face.source_image,
        target_image: face.target_image,
        source_image_session_id: null,
        warnings: warningsOf('FACE_MATCH'),
      },
    POA: () => {
      const issued = new Date(at.getTime() - 30 * 86_400_000);
      return {
        node_id: stepOf('POA').nodeId,
        status: 'Approved',
        document_type: 'UTILITY_BILL',
        document_file: media('poa.pdf'),
        document_language: LANGUAGES[location.ip_country_code ?? ''] ?? 'en',
        document_metadata: { content_type: 'application/pdf', creation_date: isoTimestamp(issued), file_size: 48_213, modified_date: isoTimestamp(issued) },
        issuer: 'Sandbox Energy Ltd.',
        issuing_state: kyc.issuing_state,
        issue_date: issued.toISOString().slice(0, 10),
        expiration_date: null,
        name_on_document: fullName,
        name_match_score_id_verification: 100,
        name_match_score_expected_details: null,
        poa_address: kyc.address ?? kyc.formatted_address ?? location.ip_city,
        poa_formatted_address: kyc.formatted_address ?? location.ip_city,
        poa_parsed_address: null,
        expected_details_address: null,
        expected_details_formatted_address: null,
        expected_details_parsed_address: null,
        extra_fields: {
          additional_names: null,
          bank_account_number: null,
          bank_branch_address: null,
          bank_branch_name: null,
          bank_iban: null,
          bank_routing_number: null,
          bank_sort_code: null,
          bank_swift_bic: null,
          document_phone_number: null,
        },
        extra_files: [],
        warnings: [],
      };
    },
    PHONE: () => {
      const phone = phoneOf(session, location.ip_country_code, location.ip_country);
      return {
        node_id: stepOf('PHONE').nodeId,
        status: 'Approved',
        ...phone,
        carrier: { name: location.isp ?? 'Sandbox Mobile', type: 'mobile' },
        is_disposable: false,
        is_virtual: false,
        verification_method: 'sms',
        verification_attempts: 1,
        verified_at: isoTimestamp(at),
        lifecycle: lifecycle(at, ['PHONE_VERIFICATION_MESSAGE_SENT', 'PHONE_DELIVERY_DELIVERED', 'VALID_CODE_ENTERED', 'PHONE_VERIFICATION_APPROVED']),
        warnings: [],
      };
    },
    EMAIL_VERIFICATION: () => ({
      node_id: stepOf('EMAIL_VERIFICATION').nodeId,
      status: 'Approved',
      email: stringField(session.contactDetails, 'email') ?? emailFor(kyc.first_name, kyc.last_name),
      is_breached: false,
      is_disposable: false,
      is_undeliverable: false,
      breaches: [],
      verification_attempts: 1,
      verified_at: isoTimestamp(at),
      lifecycle: lifecycle(at, ['EMAIL_VERIFICATION_MESSAGE_SENT', 'VALID_CODE_ENTERED', 'EMAIL_VERIFICATION_APPROVED']),
      warnings: [],
    }),
    AML: () =>
      aml && {
        node_id: stepOf('AML').nodeId,
        status: aml.status,
        entity_type: 'person',
        total_hits: aml.total_hits,
        score: aml.score,
        screened_data: {
          full_name: fullName,
          date_of_birth: kyc.date_of_birth,
          nationality: kyc.nationality,
          document_number: kyc.document_number,
        },
        is_ongoing_monitoring_enabled: false,
        next_ongoing_monitoring_bill_date: null,
        hits: aml.hits.map((hit) => ({
          id: hit.id,
          url: null,
          caption: hit.caption,
          match: hit.match,
          score: hit.score,
          match_score: hit.score === null ? null : Math.round(hit.score * 100),
          risk_score: null,
          review_status: null,
          target: hit.target,
          datasets: hit.datasets,
          features: hit.features,
          rca_name: null,
          first_seen: hit.first_seen,
          last_seen: hit.last_seen,
          risk_view: null,
          score_breakdown: null,
          pep_matches: [],
          sanction_matches: [],
          warning_matches: [],
          linked_entities: [],
          adverse_media_matches: [],
          adverse_media_details: null,
          additional_information: { flag_summary: [] },
          properties: hit.properties,
        })),
        warnings: warningsOf('AML'),
      },
    IP_ANALYSIS: () => ({
      node_id: stepOf('IP_ANALYSIS').nodeId,
      status: location.status,
      ip_address: location.ip_address,
      ip_country: location.ip_country,
      ip_country_code: location.ip_country_code,
      ip_state: location.ip_state,
      ip_city: location.ip_city,
      latitude: location.latitude,
      longitude: location.longitude,
      isp: location.isp,
      organization: location.organization,
      is_vpn_or_tor: location.is_vpn_or_tor,
      is_data_center: location.is_data_center,
      time_zone: location.time_zone,
      time_zone_offset: hoursOf(location.time_zone_offset),
      browser_family: location.browser_family,
      os_family: location.os_family,
      platform: location.platform,
      device_brand: location.device_brand,
      device_model: location.device_model,
      device_fingerprint: createHash('sha256').update(`device:${session.id}`).digest('hex').slice(0, 32),
      // The proof of address is read at the document's address, so it sits where the ID does.
      ip: geo(ipPoint, { distance_from_id_document: documentPoint, distance_from_poa_document: hasPoa ? documentPoint : null }),
      id_document: geo(documentPoint, { distance_from_ip: ipPoint, distance_from_poa_document: hasPoa ? documentPoint : null }),
      poa_document: hasPoa ? geo(documentPoint, { distance_from_id_document: documentPoint, distance_from_ip: ipPoint }) : null,
      warnings: [],
    }),
    DATABASE_VALIDATION: () => ({
      node_id: stepOf('DATABASE_VALIDATION').nodeId,
      status: 'Approved',
      issuing_state: kyc.issuing_state,
      validation_type: 'one_by_one',
      match_type: 'full_match',
      screened_data: {
        first_name: kyc.first_name,
        last_name: kyc.last_name,
        tax_number: kyc.personal_number ?? kyc.document_number,
        date_of_birth: kyc.date_of_birth,
        document_type: kyc.document_type,
        expiration_date: kyc.expiration_date,
      },
      validations: [
        {
          validation: { full_name: 'full_match', date_of_birth: 'full_match', identification_number: 'full_match' },
          source_data: { full_name: fullName, date_of_birth: kyc.date_of_birth, identification_number: kyc.personal_number ?? kyc.document_number },
        },
      ],
      warnings: [],
    }),
  };

  const pending = new Set(session.resubmission?.nodes.map((node) => node.node_id));
  for (const feature of features) {
    const item = build[feature]();
    if (!item) continue;
    // A step asked for again has not run again yet: its item is back to Not Finished, its data gone.
    items.set(feature, pending.has(item.node_id as string) ? notFinished(item) : item);
  }
  return items;
}

function notFinished(item: Json): Json {
  const out: Json = {};
  for (const key of Object.keys(item)) out[key] = null;
  return { ...out, node_id: item.node_id, status: 'Not Finished', warnings: [] };
}

function v3Warning(warning: Warning, feature: V3Feature): Json {
  return {
    risk: warning.risk,
    feature,
    node_id: stepOf(feature).nodeId,
    log_type: warning.log_type,
    short_description: warning.short_description,
    long_description: warning.long_description,
    additional_data: warning.additional_data ?? null,
  };
}

/** A geo block of an IP analysis: where, and how far each other point is from it. */
function geo(at: Point | null, others: Record<string, Point | null>): Json | null {
  if (!at) return null;
  const block: Json = { location: { latitude: at.latitude, longitude: at.longitude } };
  for (const [key, other] of Object.entries(others)) block[key] = other ? distance(at, other) : null;
  return block;
}

/** v1's "+0100" as v3's hours (1); "+0530" is 5.5. */
function hoursOf(offset: string | null): number | null {
  const match = offset ? /^([+-])(\d{2}):?(\d{2})$/.exec(offset) : null;
  if (!match) return null;
  const hours = Number(match[2]) + Number(match[3]) / 60;
  return match[1] === '-' ? -hours : hours;
}

function ageAt(dateOfBirth: string | null, at: Date): number | null {
  const match = dateOfBirth ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateOfBirth) : null;
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const birthdayPassed = at.getUTCMonth() + 1 > month || (at.getUTCMonth() + 1 === month && at.getUTCDate() >= day);
  return at.getUTCFullYear() - year - (birthdayPassed ? 0 : 1);
}

function lifecycle(at: Date, types: string[]): Json[] {
  return types.map((type, index) => ({
    type,
    timestamp: isoTimestamp(new Date(at.getTime() - (types.length - 1 - index) * 20_000)),
    fee: 0,
    details: null,
  }));
}

const LANGUAGES: Record<string, string> = { ES: 'es', DE: 'de', FR: 'fr', GB: 'en' };
const PHONE_PREFIXES: Record<string, string> = { ES: '+34', DE: '+49', FR: '+33', GB: '+44' };

/** The number the applicant verified: the one the session was created with, else a made-up one in their country. */
function phoneOf(session: SessionRecord, countryCode: string | null, countryName: string | null): Json {
  const given = stringField(session.contactDetails, 'phone');
  if (given) {
    const code = Object.keys(PHONE_PREFIXES).find((c) => given.startsWith(PHONE_PREFIXES[c]!));
    return {
      full_number: given,
      phone_number: code ? given.slice(PHONE_PREFIXES[code]!.length) : given.replace(/^\+/, ''),
      phone_number_prefix: code ? PHONE_PREFIXES[code] : null,
      country_code: code ?? null,
      country_name: code && code === countryCode ? countryName : null,
    };
  }
  const prefix = (countryCode && PHONE_PREFIXES[countryCode]) || '+44';
  const digits = BigInt(`0x${createHash('sha256').update(`phone:${session.id}`).digest('hex').slice(0, 12)}`) % 100_000_000n;
  const local = `6${digits.toString().padStart(8, '0')}`;
  return { full_number: `${prefix}${local}`, phone_number: local, phone_number_prefix: prefix, country_code: countryCode, country_name: countryName };
}

/** "Lucía Fernández Ruiz" → "lucia.fernandez.ruiz@example.com". */
function emailFor(first: string | null, last: string | null): string {
  const local = [first, last]
    .filter(Boolean)
    .join(' ')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '.')
    .replace(/^\.|\.$/g, '');
  return `${local || 'applicant'}@example.com`;
}

function stringField(object: Json | null, key: string): string | null {
  const value = object?.[key];
  return typeof value === 'string' && value.length > 0 ? value : null;
}
