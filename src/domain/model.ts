/**
 * The gateway's own model of a session and its decision, camelCase, whatever Didit API it came
 * from. Each adapter of `didit/` normalises its wire answer into these shapes once (types checked,
 * odd values null, lists that are not lists empty or null), so that everything above reads them
 * plainly. What a shape cannot tell in one API is null there (the step lists are null with v1).
 * Statuses are Didit's strings (`status.ts`): one Didit adds later is kept as it came.
 */
import type { CheckStatus, SessionStatus } from './status.ts';

/** A session as far as the gateway knows it without its decision: created, a search row, or its decision's view. */
export interface Session {
  /** Lower-case UUID. */
  id: string;
  number: number | null;
  /** Where the applicant verifies. */
  url: string | null;
  status: SessionStatus;
  vendorData: string | null;
  callback: string | null;
  /** v1's feature names as Didit gave them (OCR, NFC, FACE, AML, or one Didit adds later). */
  features: string[];
  workflowId: string | null;
  /** The JSON object given at creation (v3). */
  metadata: unknown;
  createdAt: string | null;
  fullName: string | null;
  documentType: string | null;
  /** The document's issuing country (ISO 3166-1 alpha-3). */
  country: string | null;
}

/** Identity-document data read by OCR (and NFC): v1's `kyc`, v3's ID verification steps. */
export interface IdVerification {
  nodeId: string | null;
  status: CheckStatus | null;
  ocrStatus: CheckStatus | null;
  epassportStatus: CheckStatus | null;
  documentType: string | null;
  documentNumber: string | null;
  personalNumber: string | null;
  portraitImage: string | null;
  frontImage: string | null;
  frontVideo: string | null;
  backImage: string | null;
  backVideo: string | null;
  fullFrontImage: string | null;
  fullBackImage: string | null;
  dateOfBirth: string | null;
  expirationDate: string | null;
  dateOfIssue: string | null;
  issuingState: string | null;
  issuingStateName: string | null;
  firstName: string | null;
  lastName: string | null;
  fullName: string | null;
  gender: string | null;
  address: string | null;
  formattedAddress: string | null;
  isNfcVerified: boolean | null;
  parsedAddress: unknown;
  placeOfBirth: string | null;
  maritalStatus: string | null;
  nationality: string | null;
  createdAt: string | null;
}

export interface AmlHit {
  /** The watch-list entry's own id. */
  id: string;
  match: boolean | null;
  score: number | null;
  target: boolean | null;
  caption: string | null;
  datasets: string[];
  features: unknown;
  properties: unknown;
  firstSeen: string | null;
  lastSeen: string | null;
  lastChange: string | null;
}

export interface AmlScreening {
  nodeId: string | null;
  status: CheckStatus | null;
  totalHits: number;
  score: number | null;
  hits: AmlHit[];
}

export interface Face {
  /** The worst of liveness and face match (`didit/face-status.ts`): never an approval over a failure. */
  status: CheckStatus | null;
  faceMatchStatus: CheckStatus | null;
  livenessStatus: CheckStatus | null;
  faceMatchSimilarity: number | null;
  livenessConfidence: number | null;
  sourceImage: string | null;
  targetImage: string | null;
  videoUrl: string | null;
  ageEstimation: number | null;
  genderEstimation: { male: number | null; female: number | null } | null;
}

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

/** Device and IP location: v1's `location`, v3's IP analysis steps. */
export interface IpAnalysis {
  nodeId: string | null;
  status: CheckStatus | null;
  deviceBrand: string | null;
  deviceModel: string | null;
  browserFamily: string | null;
  osFamily: string | null;
  platform: string | null;
  ipCountry: string | null;
  ipCountryCode: string | null;
  ipState: string | null;
  ipCity: string | null;
  latitude: number | null;
  longitude: number | null;
  ipAddress: string | null;
  isp: string | null;
  organization: string | null;
  isVpnOrTor: boolean | null;
  isDataCenter: boolean | null;
  timeZone: string | null;
  timeZoneOffset: string | null;
  documentLocation: GeoPoint | null;
  ipLocation: GeoPoint | null;
  distanceFromDocumentToIpKm: { distance: number; direction: string | null } | null;
}

export interface Warning {
  nodeId: string | null;
  feature: string;
  risk: string;
  additionalData: unknown;
  logType: string | null;
  shortDescription: string | null;
  longDescription: string | null;
}

/** A review, or (v3) an entry of a session's activity feed. */
export interface Review {
  user: string | null;
  newStatus: SessionStatus | null;
  previousStatus: SessionStatus | null;
  activityType: string | null;
  comment: string | null;
  createdAt: string | null;
}

/** What every v3 workflow step has; `raw` is the step as Didit sent it (reviewers only). */
export interface Step {
  nodeId: string | null;
  status: CheckStatus | null;
  raw: unknown;
}

export interface LivenessCheck extends Step {
  method: string | null;
  score: number | null;
  referenceImage: string | null;
  videoUrl: string | null;
  ageEstimation: number | null;
}

export interface FaceMatch extends Step {
  score: number | null;
  sourceImage: string | null;
  targetImage: string | null;
}

export interface NfcVerification extends Step {
  portraitImage: string | null;
  signatureImage: string | null;
  chipData: unknown;
  authenticity: unknown;
}

export interface ProofOfAddress extends Step {
  documentType: string | null;
  documentFile: string | null;
  issuer: string | null;
  issuingState: string | null;
  issueDate: string | null;
  nameOnDocument: string | null;
  address: string | null;
  formattedAddress: string | null;
}

export interface PhoneVerification extends Step {
  fullNumber: string | null;
  countryCode: string | null;
  verificationMethod: string | null;
  verifiedAt: string | null;
  isDisposable: boolean | null;
  isVirtual: boolean | null;
}

export interface EmailVerification extends Step {
  email: string | null;
  verifiedAt: string | null;
  isBreached: boolean | null;
  isDisposable: boolean | null;
  isUndeliverable: boolean | null;
}

export interface DatabaseValidation extends Step {
  issuingState: string | null;
  validationType: string | null;
  matchType: string | null;
}

/** A workflow's steps, one list each (a workflow may run a step twice); null until it ran, and with v1. */
export interface DecisionSteps {
  idVerifications: IdVerification[] | null;
  nfcVerifications: NfcVerification[] | null;
  livenessChecks: LivenessCheck[] | null;
  faceMatches: FaceMatch[] | null;
  poaVerifications: ProofOfAddress[] | null;
  phoneVerifications: PhoneVerification[] | null;
  emailVerifications: EmailVerification[] | null;
  amlScreenings: AmlScreening[] | null;
  ipAnalyses: IpAnalysis[] | null;
  databaseValidations: DatabaseValidation[] | null;
}

/** Didit's verdict on a session and the evidence behind it. */
export interface Decision extends DecisionSteps {
  /** As Didit wrote it. */
  sessionId: string;
  sessionNumber: number | null;
  sessionUrl: string | null;
  status: SessionStatus;
  vendorData: string | null;
  callback: string | null;
  features: string[];
  workflowId: string | null;
  metadata: unknown;
  createdAt: string | null;
  /** The first step of each kind (v3), or v1's single blocks. */
  kyc: IdVerification | null;
  face: Face | null;
  aml: AmlScreening | null;
  location: IpAnalysis | null;
  warnings: Warning[];
  reviews: Review[];
  extraImages: string[];
}

/** A verification workflow configured in the Didit console (v3). */
export interface Workflow {
  id: string;
  label: string | null;
  type: string | null;
  features: string[];
  isDefault: boolean;
  version: number | null;
}

/** A page of a list: `count` in all, and this page's items. */
export interface Page<T> {
  count: number;
  results: T[];
}

/** What a decision tells about its session. */
export function sessionOf(decision: Decision): Session {
  return {
    id: decision.sessionId.toLowerCase(),
    number: decision.sessionNumber,
    url: decision.sessionUrl,
    status: decision.status,
    vendorData: decision.vendorData,
    callback: decision.callback,
    features: decision.features,
    workflowId: decision.workflowId,
    metadata: decision.metadata,
    createdAt: decision.createdAt,
    fullName: decision.kyc?.fullName ?? null,
    documentType: decision.kyc?.documentType ?? null,
    country: decision.kyc?.issuingState ?? null,
  };
}
