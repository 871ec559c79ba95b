/**
 * The verification data of a finished sandbox session: who the applicant is (one of a few
 * personas, picked by hashing the session id, so a session always yields the same person), and
 * check results consistent with the outcome the session was finished with.
 *
 * One persona, Sergey Kozlov, is the seed's example to the letter (document, face, location, AML
 * hit and warning), so code written against the seed's decision sees it again here.
 */
import { createHash } from 'node:crypto';
import { featuresFromWire } from '../didit/features.ts';
import type { Aml, AmlHit, Face, FinalStatus, Kyc, Location, Warning } from '../didit/types.ts';

/** The parts of a decision that exist once a session is finished. */
export interface Verification {
  kyc: Kyc;
  aml: Aml | null;
  face: Face | null;
  location: Location;
  warnings: Warning[];
}

/** The KYC fields of the person on the document; the rest of `Kyc` describes the check. */
type PersonalKyc = Pick<
  Kyc,
  | 'document_type'
  | 'document_number'
  | 'personal_number'
  | 'date_of_birth'
  | 'expiration_date'
  | 'date_of_issue'
  | 'issuing_state'
  | 'issuing_state_name'
  | 'first_name'
  | 'last_name'
  | 'gender'
  | 'address'
  | 'formatted_address'
  | 'place_of_birth'
  | 'marital_status'
  | 'nationality'
>;

type Device = Pick<Location, 'device_brand' | 'device_model' | 'browser_family' | 'os_family' | 'platform'>;
type Ip = Pick<
  Location,
  'ip_country' | 'ip_country_code' | 'ip_state' | 'ip_city' | 'ip_address' | 'isp' | 'organization' | 'time_zone' | 'time_zone_offset'
> & { latitude: number; longitude: number };

export interface Persona {
  /** A stable name for tests and logs. */
  key: string;
  /** Whether the person is on a watch list: their AML screening has hits. */
  watchlist: boolean;
  kyc: PersonalKyc;
  /** Whether the document has a back side (ID cards do, passports do not). */
  twoSided: boolean;
  face: Pick<Face, 'face_match_similarity' | 'liveness_confidence' | 'age_estimation' | 'gender_estimation'>;
  device: Device;
  ip: Ip;
  /** Where the document places the person; for Kozlov, the seed's (odd but faithful) point. */
  documentLocation: { latitude: number; longitude: number };
  amlHits: AmlHit[];
}

/** The seed's AML hit, verbatim. */
const KOZLOV_HIT: AmlHit = {
  id: 'aaaaaaa-1111-2222-3333-4444-555555555555',
  match: false,
  score: 0.7034920634920635,
  target: true,
  caption: 'Kozlov Sergey Alexandrovich',
  datasets: ['ru_acf_bribetakers'],
  features: { person_name_jaro_winkler: 0.8793650793650793, person_name_phonetic_match: 0.5 },
  last_seen: '2024-07-20T17:53:03',
  first_seen: '2023-06-23T12:02:51',
  properties: {
    name: ['Kozlov Sergey Alexandrovich'],
    alias: ['Козлов Сергей Александрович'],
    notes: [
      'Assistant Prosecutor of the Soviet District of Voronezh. Involved in the case against the Ukrainian pilot Nadiya Savchenko',
    ],
    gender: ['male'],
    topics: ['poi'],
    position: ['Organizers of political repressions', 'Организаторы политических репрессий'],
  },
  last_change: '2024-02-27T17:53:01',
};

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

const IPHONE: Device = { device_brand: 'Apple', device_model: 'iPhone', browser_family: 'Mobile Safari', os_family: 'iOS', platform: 'mobile' };

export const PERSONAS: readonly Persona[] = [
  {
    key: 'sergey-kozlov',
    watchlist: true,
    kyc: {
      document_type: 'Passport',
      document_number: 'BK123456',
      personal_number: '999999999',
      date_of_birth: '1990-01-01',
      expiration_date: '2026-03-24',
      date_of_issue: '2019-03-24',
      issuing_state: 'ESP',
      issuing_state_name: 'Spain',
      first_name: 'Sergey',
      last_name: 'Kozlov',
      gender: 'M',
      address: 'C Clot 36 P02,Barcelona,Barcelona Esp',
      formatted_address: 'Carrer del Clot, 36, p02, Sant Martí, 08018 Barcelona, Spain',
      place_of_birth: 'Madrid, Spain',
      marital_status: 'SINGLE',
      nationality: 'ESP',
    },
    twoSided: false,
    face: { face_match_similarity: 97.99, liveness_confidence: 87.99, age_estimation: 24.3, gender_estimation: { male: 99.23, female: 0.77 } },
    device: IPHONE,
    ip: {
      ip_country: 'Spain',
      ip_country_code: 'ES',
      ip_state: 'Barcelona',
      ip_city: 'Barcelona',
      latitude: 41.4022,
      longitude: 2.1407,
      ip_address: '83.50.226.71',
      isp: null,
      organization: null,
      time_zone: 'Europe/Madrid',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 4, longitude: -72 },
    amlHits: [KOZLOV_HIT],
  },
  {
    key: 'lucia-fernandez',
    watchlist: false,
    kyc: {
      document_type: 'Identity Card',
      document_number: 'CAA482917',
      personal_number: '48291736K',
      date_of_birth: '1988-11-03',
      expiration_date: '2031-06-14',
      date_of_issue: '2021-06-14',
      issuing_state: 'ESP',
      issuing_state_name: 'Spain',
      first_name: 'Lucía',
      last_name: 'Fernández Ruiz',
      gender: 'F',
      address: 'C Alcala 120 3B,Madrid,Madrid Esp',
      formatted_address: 'Calle de Alcalá, 120, 3B, Salamanca, 28009 Madrid, Spain',
      place_of_birth: 'Sevilla, Spain',
      marital_status: 'MARRIED',
      nationality: 'ESP',
    },
    twoSided: true,
    face: { face_match_similarity: 95.42, liveness_confidence: 92.1, age_estimation: 35.8, gender_estimation: { male: 1.64, female: 98.36 } },
    device: { device_brand: 'Samsung', device_model: 'SM-S911B', browser_family: 'Chrome Mobile', os_family: 'Android', platform: 'mobile' },
    ip: {
      ip_country: 'Spain',
      ip_country_code: 'ES',
      ip_state: 'Madrid',
      ip_city: 'Madrid',
      latitude: 40.4168,
      longitude: -3.7038,
      ip_address: '88.27.143.9',
      isp: 'Telefonica de Espana',
      organization: 'Telefonica de Espana',
      time_zone: 'Europe/Madrid',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 40.4637, longitude: -3.7492 },
    amlHits: [],
  },
  {
    key: 'jonas-becker',
    watchlist: false,
    kyc: {
      document_type: 'Passport',
      document_number: 'C01X00T47',
      personal_number: null,
      date_of_birth: '1979-04-21',
      expiration_date: '2032-09-01',
      date_of_issue: '2022-09-01',
      issuing_state: 'DEU',
      issuing_state_name: 'Germany',
      first_name: 'Jonas',
      last_name: 'Becker',
      gender: 'M',
      address: null,
      formatted_address: null,
      place_of_birth: 'Hamburg',
      marital_status: 'UNKNOWN',
      nationality: 'DEU',
    },
    twoSided: false,
    face: { face_match_similarity: 93.07, liveness_confidence: 90.45, age_estimation: 44.9, gender_estimation: { male: 97.8, female: 2.2 } },
    device: { device_brand: 'Apple', device_model: 'Mac', browser_family: 'Safari', os_family: 'Mac OS X', platform: 'desktop' },
    ip: {
      ip_country: 'Germany',
      ip_country_code: 'DE',
      ip_state: 'Berlin',
      ip_city: 'Berlin',
      latitude: 52.52,
      longitude: 13.405,
      ip_address: '91.64.18.203',
      isp: 'Vodafone GmbH',
      organization: 'Vodafone GmbH',
      time_zone: 'Europe/Berlin',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 51.1657, longitude: 10.4515 },
    amlHits: [],
  },
  {
    key: 'amelie-dubois',
    watchlist: false,
    kyc: {
      document_type: 'Identity Card',
      document_number: 'X4RTBPFW4',
      personal_number: null,
      date_of_birth: '1996-02-09',
      expiration_date: '2033-01-17',
      date_of_issue: '2023-01-17',
      issuing_state: 'FRA',
      issuing_state_name: 'France',
      first_name: 'Amélie',
      last_name: 'Dubois',
      gender: 'F',
      address: '12 Rue Merciere,Lyon,Fra',
      formatted_address: '12 Rue Mercière, 69002 Lyon, France',
      place_of_birth: 'Lyon',
      marital_status: 'SINGLE',
      nationality: 'FRA',
    },
    twoSided: true,
    face: { face_match_similarity: 96.63, liveness_confidence: 89.3, age_estimation: 27.6, gender_estimation: { male: 3.05, female: 96.95 } },
    device: IPHONE,
    ip: {
      ip_country: 'France',
      ip_country_code: 'FR',
      ip_state: 'Auvergne-Rhone-Alpes',
      ip_city: 'Lyon',
      latitude: 45.764,
      longitude: 4.8357,
      ip_address: '90.44.71.152',
      isp: 'Orange S.A.',
      organization: 'Orange S.A.',
      time_zone: 'Europe/Paris',
      time_zone_offset: '+0100',
    },
    documentLocation: { latitude: 46.2276, longitude: 2.2137 },
    amlHits: [],
  },
  {
    key: 'priya-nair',
    watchlist: false,
    kyc: {
      document_type: 'Passport',
      document_number: '533401372',
      personal_number: null,
      date_of_birth: '1992-07-30',
      expiration_date: '2030-05-12',
      date_of_issue: '2020-05-12',
      issuing_state: 'GBR',
      issuing_state_name: 'United Kingdom',
      first_name: 'Priya',
      last_name: 'Nair',
      gender: 'F',
      address: null,
      formatted_address: null,
      place_of_birth: 'Leicester',
      marital_status: 'UNKNOWN',
      nationality: 'GBR',
    },
    twoSided: false,
    face: { face_match_similarity: 94.18, liveness_confidence: 91.72, age_estimation: 31.2, gender_estimation: { male: 4.4, female: 95.6 } },
    device: { device_brand: 'Google', device_model: 'Pixel 8', browser_family: 'Chrome Mobile', os_family: 'Android', platform: 'mobile' },
    ip: {
      ip_country: 'United Kingdom',
      ip_country_code: 'GB',
      ip_state: 'England',
      ip_city: 'London',
      latitude: 51.5072,
      longitude: -0.1276,
      ip_address: '86.12.205.64',
      isp: 'Virgin Media',
      organization: 'Virgin Media',
      time_zone: 'Europe/London',
      time_zone_offset: '+0000',
    },
    documentLocation: { latitude: 55.3781, longitude: -3.436 },
    amlHits: [],
  },
];

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

  return {
    kyc: buildKyc(persona, input, statusOf('OCR'), features.has('NFC')),
    aml: screened ? buildAml(persona, statusOf('AML')) : null,
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

function buildAml(persona: Persona, status: string): Aml {
  const best = Math.max(0, ...persona.amlHits.map((hit) => hit.score ?? 0));
  return { status, total_hits: persona.amlHits.length, score: round2(best * 100), hits: persona.amlHits };
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
function mediaUrl(sessionId: string): (file: string) => string {
  return (file) => `https://example.com/sandbox/${sessionId}/${file}`;
}

type Point = { latitude: number; longitude: number };

/** Great-circle distance (haversine, Earth radius 6371 km, as the seed's 8393.68 shows) and compass direction. */
function distance(from: Point, to: Point): { distance: number; direction: string } {
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
