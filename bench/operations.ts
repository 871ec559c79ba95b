/**
 * What the benchmark sends: the GraphQL operations, the callers' tokens, the request bodies, and
 * the checks that a sample answer is what it should be (a wrong query would make the numbers
 * meaningless: errors are cheap to produce).
 */
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';

/** The seed decision the stub serves for every session id. */
export const SEED = JSON.parse(readFileSync(new URL('../test/fixtures/seed-decision.json', import.meta.url), 'utf8'));
/** The applicant owns every session: their `sub` is the seed's `vendor_data`. */
export const APPLICANT_SUB: string = SEED.vendor_data;
export const CALLBACK = 'https://app.example.com/done';

/** What a frontend shows the applicant. */
export const FRONTEND_QUERY = `query ApplicantSession($id: ID!) {
  session(id: $id) { status decision { status kyc { fullName documentNumber dateOfBirth } face { status } } }
}`;

/** The back office reads everything: every field of Decision, Kyc, Face, Aml (with hits), Location, warnings, reviews. */
export const BACK_OFFICE_QUERY = `query FullDecision($id: ID!) {
  session(id: $id) {
    id number url status vendorData callback features
    decision {
      sessionId sessionNumber sessionUrl status vendorData callback features extraImages createdAt
      kyc {
        status ocrStatus epassportStatus documentType documentNumber personalNumber portraitImage frontImage frontVideo
        backImage backVideo fullFrontImage fullBackImage dateOfBirth expirationDate dateOfIssue issuingState issuingStateName
        firstName lastName fullName gender address formattedAddress isNfcVerified parsedAddress placeOfBirth maritalStatus
        nationality createdAt
      }
      face {
        status faceMatchStatus livenessStatus faceMatchSimilarity livenessConfidence sourceImage targetImage videoUrl
        ageEstimation genderEstimation { male female }
      }
      aml { status totalHits score hits { id match score target caption datasets features properties firstSeen lastSeen lastChange } }
      location {
        status deviceBrand deviceModel browserFamily osFamily platform ipCountry ipCountryCode ipState ipCity latitude
        longitude ipAddress isp organization isVpnOrTor isDataCenter timeZone timeZoneOffset
        documentLocation { latitude longitude } ipLocation { latitude longitude } distanceFromDocumentToIpKm { distance direction }
      }
      warnings { feature risk additionalData logType shortDescription longDescription }
      reviews { user newStatus comment createdAt }
    }
  }
}`;

export const CREATE_MUTATION = `mutation Start {
  createSession(input: { callback: "${CALLBACK}", features: [OCR, FACE] }) { session { id number url status vendorData callback features } }
}`;

export const PDF_MUTATION = (sessionId: string) => `mutation { generateSessionPdf(sessionId: "${sessionId}") { url expiresAt filename } }`;

export const graphqlBody = (query: string, variables?: Record<string, unknown>) => JSON.stringify({ query, variables });

/** HS256 caller tokens as the gateway verifies them with AUTH_JWT_SECRET. */
export async function signCallers(secret: string) {
  const key = new TextEncoder().encode(secret);
  const sign = (sub: string, roles: string[]) =>
    new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('2h').sign(key);
  return { applicant: await sign(APPLICANT_SUB, []), reviewer: await sign('bench-reviewer', ['reviewer']) };
}

type Json = Record<string, any>;

/** Posts one operation; returns its data, or throws naming what went wrong. */
export async function postGraphql(origin: string, token: string, body: string): Promise<Json> {
  const response = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`status ${response.status}: ${text.slice(0, 300)}`);
  const result = JSON.parse(text) as { data?: Json; errors?: unknown[] };
  if (result.errors) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors).slice(0, 300)}`);
  return result.data!;
}

/** Throws with every field whose value differs from the expected one. */
function expectFields(what: string, actual: unknown, expected: Record<string, unknown>): void {
  const wrong = Object.entries(expected)
    .map(([path, want]) => [path, want, path.split('.').reduce<any>((node, key) => node?.[key], actual)] as const)
    .filter(([, want, got]) => JSON.stringify(got) !== JSON.stringify(want))
    .map(([path, want, got]) => `${path}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  if (wrong.length) throw new Error(`${what} answer is wrong: ${wrong.join('; ')}`);
}

export function checkFrontend(data: Json): void {
  expectFields('frontend query', data, {
    'session.status': 'DECLINED',
    'session.decision.status': 'DECLINED',
    'session.decision.kyc.fullName': SEED.kyc.full_name,
    'session.decision.kyc.documentNumber': SEED.kyc.document_number,
    'session.decision.kyc.dateOfBirth': SEED.kyc.date_of_birth,
    'session.decision.face.status': 'APPROVED',
  });
}

export function checkBackOffice(data: Json, id: string): void {
  const hit = SEED.aml.hits[0];
  expectFields('back-office query', data, {
    'session.id': id,
    'session.status': 'DECLINED',
    'session.vendorData': SEED.vendor_data,
    'session.features': ['OCR', 'FACE'],
    'session.decision.sessionId': id,
    'session.decision.sessionNumber': SEED.session_number,
    'session.decision.kyc.documentType': SEED.kyc.document_type,
    'session.decision.kyc.expirationDate': SEED.kyc.expiration_date,
    'session.decision.kyc.isNfcVerified': SEED.kyc.is_nfc_verified,
    'session.decision.face.faceMatchSimilarity': SEED.face.face_match_similarity,
    'session.decision.face.genderEstimation.male': SEED.face.gender_estimation.male,
    'session.decision.aml.totalHits': SEED.aml.total_hits,
    'session.decision.aml.score': SEED.aml.score,
    'session.decision.aml.hits.0.caption': hit.caption,
    'session.decision.aml.hits.0.datasets': hit.datasets,
    'session.decision.aml.hits.0.properties': hit.properties,
    'session.decision.location.ipCity': SEED.location.ip_city,
    'session.decision.location.distanceFromDocumentToIpKm.distance': SEED.location.distance_from_document_to_ip_km.distance,
    'session.decision.warnings.0.risk': SEED.warnings[0].risk,
    'session.decision.reviews.0.user': SEED.reviews[0].user,
    'session.decision.reviews.0.newStatus': 'DECLINED',
  });
}

export function checkCreated(data: Json): void {
  const session = data.createSession?.session;
  expectFields('createSession', data, {
    'createSession.session.status': 'NOT_STARTED',
    'createSession.session.vendorData': APPLICANT_SUB,
    'createSession.session.callback': CALLBACK,
    'createSession.session.features': ['OCR', 'FACE'],
  });
  if (!/^[0-9a-f-]{36}$/.test(session?.id ?? '') || !session?.url) throw new Error(`createSession answer is wrong: ${JSON.stringify(data)}`);
}
