/**
 * The verification data of a finished sandbox session: who the applicant is (one of the personas
 * in `persona-data.ts`, picked by hashing the session id, so a session always yields the same
 * person), and check results consistent with the outcome the session was finished with.
 *
 * For the watch-listed persona (the seed's Sergey Kozlov) an AML check adds the seed's warning,
 * so code written against the seed's decision sees it again here.
 */
import { createHash } from 'node:crypto';
import { featuresFromWire } from '../didit/features.ts';
import type { Aml, Face, FinalStatus, Kyc, Location, Warning } from './wire.ts';
import { PERSONAS, type Persona } from './persona-data.ts';

/** The parts of a decision that exist once a session is finished. */
export interface Verification {
  kyc: Kyc;
  aml: Aml | null;
  face: Face | null;
  location: Location;
  warnings: Warning[];
}

/** The seed's AML warning, verbatim. */
const AML_WARNING: Warning = {
  feature: 'AML',
  risk: 'POSSIBLE_MATCH_FOUND',
  additional_data: null,
  log_type: 'warning',
  short_description: 'Possible match found in AML screening',
  long_description:
    'The Anti-Money Laundering (AML) screening process identified potential matches with watchlists or high-risk databases, requiring further review.',
};

/** The persona of a session: a hash of its id, so the same session is always the same person. */
export function personaFor(sessionId: string): Persona {
  const hash = createHash('sha256').update(sessionId.toLowerCase()).digest();
  return PERSONAS[hash.readUInt32BE(0) % PERSONAS.length]!;
}

/** Didit's timestamps: ISO 8601 in UTC with microseconds, e.g. "2024-07-28T06:46:39.354000Z". */
export function isoTimestamp(at: Date): string {
  return at.toISOString().replace(/Z$/, '000Z');
}

type Check = 'OCR' | 'FACE' | 'AML';

/** Warnings for a check that did not pass, by check and outcome. */
const CHECK_WARNINGS: Record<Exclude<Check, 'AML'>, Record<Exclude<FinalStatus, 'Approved'>, Warning>> = {
  FACE: {
    Declined: {
      feature: 'LIVENESS',
      risk: 'LOW_LIVENESS_SCORE',
      additional_data: null,
      log_type: 'error',
      short_description: 'Low liveness score',
      long_description:
        'The liveness check scored below the threshold, suggesting the selfie may not come from a live person present during the verification.',
    },
    'In Review': {
      feature: 'FACE',
      risk: 'LOW_FACE_MATCH_SIMILARITY',
      additional_data: null,
      log_type: 'warning',
      short_description: 'Low face match similarity',
      long_description:
        'The selfie matches the document portrait with a similarity below the threshold for automatic approval, so a reviewer should compare them.',
    },
  },
  OCR: {
    Declined: {
      feature: 'OCR',
      risk: 'DATA_INCONSISTENT',
      additional_data: null,
      log_type: 'error',
      short_description: 'Inconsistent document data',
      long_description: 'The data read from the machine-readable zone does not match the data printed on the document.',
    },
    'In Review': {
      feature: 'OCR',
      risk: 'POSSIBLE_DUPLICATED_USER',
      additional_data: null,
      log_type: 'warning',
      short_description: 'Possible duplicated user',
      long_description:
        'Another verification with the same document data was found, so a reviewer should check whether it is the same person.',
    },
  },
};

export interface VerificationInput {
  sessionId: string;
  /** The session's features string, e.g. "OCR + FACE + AML". */
  features: string;
  status: FinalStatus;
  /** When the applicant finished: the KYC's `created_at`. */
  at: Date;
  /** Fields that replace the persona's, e.g. to follow recognisable data through a flow. */
  kyc?: Partial<Kyc>;
}

/**
 * The verification data of a session finished with `status`. Only the checks its features ask
 * for are there (`face` without FACE is null, `aml` without AML is null); OCR and the location
 * always are. A Declined or In Review outcome shows in one check: AML for a watch-listed person
 * screened for AML, otherwise the face, otherwise the document.
 */
export function buildVerification(input: VerificationInput): Verification {
  const persona = personaFor(input.sessionId);
  const features = new Set(featuresFromWire(input.features));
  const screened = features.has('AML');
  const flagged: Check | undefined =
    input.status === 'Approved' ? undefined : screened && persona.watchlist ? 'AML' : features.has('FACE') ? 'FACE' : 'OCR';
  const statusOf = (check: Check) => (check === flagged ? input.status : 'Approved');

  const warnings: Warning[] = [];
  if (screened && persona.amlHits.length > 0) warnings.push(AML_WARNING);
  if (flagged && flagged !== 'AML') warnings.push(CHECK_WARNINGS[flagged][input.status as Exclude<FinalStatus, 'Approved'>]);

  const kyc = buildKyc(persona, input, statusOf('OCR'), features.has('NFC'));
  return {
    kyc,
    aml: screened ? buildAml(persona, statusOf('AML'), kyc.full_name) : null,
    face: features.has('FACE') ? buildFace(persona, input, flagged === 'FACE' ? input.status : 'Approved') : null,
    location: buildLocation(persona),
    warnings,
  };
}

function buildKyc(persona: Persona, input: VerificationInput, status: string, nfc: boolean): Kyc {
  const media = mediaUrl(input.sessionId);
  const p = persona.kyc;
  // Keys in the seed's order, so the JSON reads like Didit's.
  const kyc: Kyc = {
    status,
    ocr_status: status,
    epassport_status: nfc ? 'Approved' : null,
    document_type: p.document_type,
    document_number: p.document_number,
    personal_number: p.personal_number,
    portrait_image: media('portrait.jpg'),
    front_image: media('front.jpg'),
    front_video: media('front.mp4'),
    back_image: persona.twoSided ? media('back.jpg') : null,
    back_video: persona.twoSided ? media('back.mp4') : null,
    full_front_image: media('full_front.jpg'),
    full_back_image: persona.twoSided ? media('full_back.jpg') : null,
    date_of_birth: p.date_of_birth,
    expiration_date: p.expiration_date,
    date_of_issue: p.date_of_issue,
    issuing_state: p.issuing_state,
    issuing_state_name: p.issuing_state_name,
    first_name: p.first_name,
    last_name: p.last_name,
    full_name: `${p.first_name} ${p.last_name}`,
    gender: p.gender,
    address: p.address,
    formatted_address: p.formatted_address,
    is_nfc_verified: nfc,
    parsed_address: null,
    place_of_birth: p.place_of_birth,
    marital_status: p.marital_status,
    nationality: p.nationality,
    created_at: isoTimestamp(input.at),
  };
  const overrides = input.kyc ?? {};
  // A new first or last name without a full name would leave the persona's full name behind.
  const renamed = ('first_name' in overrides || 'last_name' in overrides) && !('full_name' in overrides);
  const merged = { ...kyc, ...overrides };
  if (renamed) merged.full_name = [merged.first_name, merged.last_name].filter(Boolean).join(' ') || null;
  return merged;
}

/**
 * The screening of the name on the document. With the persona's own name, the seed's hits
 * verbatim; a name overridden at `complete` scores each hit by how many of its caption's words
 * it still shares (fewer shared words, lower score), as a screening of another spelling would.
 * So two sessions of the same watch-listed person can carry the same entry with different scores.
 */
function buildAml(persona: Persona, status: string, documentName: string | null): Aml {
  const own = `${persona.kyc.first_name} ${persona.kyc.last_name}`;
  const hits =
    documentName === own
      ? persona.amlHits
      : persona.amlHits.map((hit) => {
          const ratio = sharedWords(documentName, hit.caption) / Math.max(1, sharedWords(own, hit.caption));
          return { ...hit, score: typeof hit.score === 'number' ? Math.round(hit.score * ratio * 1e4) / 1e4 : hit.score };
        });
  const best = Math.max(0, ...hits.map((hit) => hit.score ?? 0));
  return { status, total_hits: hits.length, score: round2(best * 100), hits };
}

/** Words of `name` found in `caption`, ignoring case. */
function sharedWords(name: string | null, caption: string | null | undefined): number {
  const words = (text: string | null | undefined) => new Set((text ?? '').toLowerCase().split(/\s+/).filter(Boolean));
  const captionWords = words(caption);
  return [...words(name)].filter((word) => captionWords.has(word)).length;
}

function buildFace(persona: Persona, input: VerificationInput, status: string): Face {
  const media = mediaUrl(input.sessionId);
  // The numbers move with the outcome, so a failed check also looks failed.
  const liveness = status === 'Declined' ? 'Declined' : 'Approved';
  const match = status === 'In Review' ? 'In Review' : 'Approved';
  return {
    status,
    face_match_status: match,
    liveness_status: liveness,
    face_match_similarity: match === 'In Review' ? 61.37 : persona.face.face_match_similarity,
    liveness_confidence: liveness === 'Declined' ? 12.48 : persona.face.liveness_confidence,
    source_image: media('source.jpg'),
    target_image: media('target.jpg'),
    video_url: media('video.mp4'),
    age_estimation: persona.face.age_estimation,
    gender_estimation: persona.face.gender_estimation,
  };
}

function buildLocation(persona: Persona): Location {
  const { ip, device } = persona;
  return {
    ...device,
    ip_country: ip.ip_country,
    ip_country_code: ip.ip_country_code,
    ip_state: ip.ip_state,
    ip_city: ip.ip_city,
    latitude: ip.latitude,
    longitude: ip.longitude,
    ip_address: ip.ip_address,
    isp: ip.isp,
    organization: ip.organization,
    is_vpn_or_tor: false,
    is_data_center: false,
    time_zone: ip.time_zone,
    time_zone_offset: ip.time_zone_offset,
    status: 'Approved',
    document_location: persona.documentLocation,
    ip_location: { longitude: ip.longitude, latitude: ip.latitude },
    distance_from_document_to_ip_km: distance(persona.documentLocation, ip),
  };
}

/** Where a session's images and videos would be; never served, as Didit's need a login anyway. */
export function mediaUrl(sessionId: string): (file: string) => string {
  return (file) => `https://example.com/sandbox/${sessionId}/${file}`;
}

export type Point = { latitude: number; longitude: number };

/** Great-circle distance (haversine, Earth radius 6371 km, as the seed's 8393.68 shows) and compass direction. */
export function distance(from: Point, to: Point): { distance: number; direction: string } {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const [φ1, φ2] = [rad(from.latitude), rad(to.latitude)];
  const Δφ = φ2 - φ1;
  const Δλ = rad(to.longitude - from.longitude);
  const a = Math.sin(Δφ / 2) ** 2 + Math.cos(φ1) * Math.cos(φ2) * Math.sin(Δλ / 2) ** 2;
  const km = 2 * 6371 * Math.asin(Math.sqrt(a));
  const bearing = Math.atan2(Math.sin(Δλ) * Math.cos(φ2), Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(Δλ));
  const compass = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];
  const octant = Math.round((((bearing * 180) / Math.PI + 360) % 360) / 45) % 8;
  return { distance: round2(km), direction: compass[octant]! };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Every field of `Kyc`: those of a KYC built here, which the type checker holds to exactly `Kyc`'s. */
const KYC_FIELDS = new Set(
  Object.keys(buildKyc(PERSONAS[0]!, { sessionId: '', features: 'OCR', status: 'Approved', at: new Date(0) }, '', false)),
);

/** A KYC override that cannot be applied; the message says which field and why. */
export class KycOverrideError extends Error {
  override name = 'KycOverrideError';
}

/**
 * Checks `kyc` overrides from a JSON body: only `Kyc` fields, strings or null, except
 * `is_nfc_verified` (boolean or null) and `parsed_address` (any JSON).
 */
export function parseKycOverrides(value: unknown): Partial<Kyc> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new KycOverrideError('Expected an object of KYC fields.');
  for (const [key, field] of Object.entries(value)) {
    if (!KYC_FIELDS.has(key)) throw new KycOverrideError(`Unknown KYC field: ${key.slice(0, 50)}.`);
    const ok =
      key === 'parsed_address' || field === null || (key === 'is_nfc_verified' ? typeof field === 'boolean' : typeof field === 'string');
    if (!ok) throw new KycOverrideError(`Wrong type for KYC field: ${key}.`);
  }
  return value as Partial<Kyc>;
}
