import type { KeyingConfig } from '@urql/exchange-graphcache';

/**
 * How graphcache identifies each type. `Session`, `Decision`, `AmlHit` and `Workflow` have an
 * `id`, which graphcache uses by itself (select it). Every other type has no identity of its own: `null` stores it embedded in its parent (a session's `kyc` lives inside
 * its decision), and tells graphcache that is on purpose, instead of a warning per result.
 *
 * test/examples/web-cache.test.ts checks this list against schema/schema.graphql.
 */
const embedded = () => null;

export const keys = {
  // Payloads and events: wrappers around a session.
  CreateSessionPayload: embedded,
  UpdateSessionStatusPayload: embedded,
  SessionPayload: embedded,
  DeleteSessionPayload: embedded,
  SessionStatusEvent: embedded,
  ResubmitStep: embedded,
  SessionPdf: embedded,
  SessionConnection: embedded,
  SessionEdge: embedded,
  PageInfo: embedded,
  // The audit trail's pages and check (an AuditEvent has an id).
  AuditEventConnection: embedded,
  AuditEventEdge: embedded,
  AuditPageInfo: embedded,
  AuditIntegrity: embedded,
  // Parts of a decision.
  Kyc: embedded,
  Face: embedded,
  GenderEstimation: embedded,
  Aml: embedded,
  Location: embedded,
  GeoPoint: embedded,
  GeoDistance: embedded,
  Warning: embedded,
  Review: embedded,
  DatabaseValidation: embedded,
  EmailVerification: embedded,
  PhoneVerification: embedded,
  FaceMatch: embedded,
  LivenessCheck: embedded,
  NfcVerification: embedded,
  ProofOfAddress: embedded,
} satisfies KeyingConfig;
