import type * as Wire from '../didit/types.ts';
import { builder } from './builder.ts';
import { Aml, Decision, Kyc, Location, amlOf, forReviewers, warnOf } from './decision.ts';
import { CheckStatus, toCheckStatus } from './enums.ts';
import { asDate, asDateTime, asUrl } from './scalars.ts';

/**
 * What Didit's v3 API adds to a decision: one list per workflow step (a workflow may run a step
 * twice), and steps v1 does not have (proof of address, phone, email, NFC, database validation).
 * Every list is null in v1 mode and until its step has run. Who sees what:
 * - the applicant sees what they submitted themselves (document, face, address proof, phone,
 *   email, NFC chip);
 * - risk signals are the back office's alone: AML screenings, IP analyses, database validations,
 *   and the disposable / virtual / breached flags of a phone or an email;
 * - `raw` (the step as Didit sent it, for fields the schema does not type yet) is reviewers only.
 */

type Item = Wire.FeatureItem;
const str = (value: unknown) => (typeof value === 'string' ? value : null);
const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const bool = (value: unknown) => (typeof value === 'boolean' ? value : null);

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
type StepFields = (t: PothosSchemaTypes.ObjectFieldBuilder<Types, Item>) => Record<string, PothosSchemaTypes.FieldRef<Types>>;

/** A v3 step type: its node in the workflow, its status, its own fields, and the raw item for reviewers. */
function stepType(name: string, description: string, fields: StepFields) {
  const ref = builder.objectRef<Item>(name);
  ref.implement({
    description,
    fields: (t) => ({
      nodeId: t.string({ resolve: (i) => str(i.node_id) }),
      status: t.field({ type: CheckStatus, resolve: (i, _, ctx) => toCheckStatus(i.status, warnOf(ctx)) }),
      ...fields(t),
      raw: t.field({ type: 'JSON', description: 'The step as Didit sent it. Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i as unknown, null) }),
    }),
  });
  return ref;
}

const LivenessCheck = stepType('LivenessCheck', 'A liveness step.', (t) => ({
  method: t.string({ resolve: (i) => str(i.method) }),
  score: t.float({ description: 'From 0 to 100.', resolve: (i) => num(i.score) }),
  referenceImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.reference_image) }),
  videoUrl: t.field({ type: 'URL', resolve: (i) => asUrl(i.video_url) }),
  ageEstimation: t.float({ resolve: (i) => num(i.age_estimation) }),
}));

const FaceMatch = stepType('FaceMatch', 'A face-match step: the selfie against a reference portrait.', (t) => ({
  score: t.float({ description: 'Similarity from 0 to 100.', resolve: (i) => num(i.score) }),
  sourceImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.source_image) }),
  targetImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.target_image) }),
}));

const NfcVerification = stepType('NfcVerification', "A read of the document's NFC chip.", (t) => ({
  portraitImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.portrait_image) }),
  signatureImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.signature_image) }),
  chipData: t.field({ type: 'JSON', description: 'What the chip holds (name, dates, document number, …).', resolve: (i) => i.chip_data ?? null }),
  authenticity: t.field({ type: 'JSON', description: 'Integrity checks of the chip data. Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.authenticity ?? null, null) }),
}));

const ProofOfAddress = stepType('ProofOfAddress', 'A proof-of-address step (utility bill, bank statement, …).', (t) => ({
  documentType: t.string({ resolve: (i) => str(i.document_type) }),
  documentFile: t.field({ type: 'URL', resolve: (i) => asUrl(i.document_file) }),
  issuer: t.string({ resolve: (i) => str(i.issuer) }),
  issuingState: t.string({ resolve: (i) => str(i.issuing_state) }),
  issueDate: t.field({ type: 'Date', resolve: (i) => asDate(i.issue_date) }),
  nameOnDocument: t.string({ resolve: (i) => str(i.name_on_document) }),
  address: t.string({ resolve: (i) => str(i.poa_address) }),
  formattedAddress: t.string({ resolve: (i) => str(i.poa_formatted_address) }),
}));

const PhoneVerification = stepType('PhoneVerification', 'A phone-number check.', (t) => ({
  fullNumber: t.string({ resolve: (i) => str(i.full_number) }),
  countryCode: t.string({ resolve: (i) => str(i.country_code) }),
  verificationMethod: t.string({ resolve: (i) => str(i.verification_method) }),
  verifiedAt: t.field({ type: 'DateTime', resolve: (i) => asDateTime(i.verified_at) }),
  isDisposable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, bool(i.is_disposable), null) }),
  isVirtual: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, bool(i.is_virtual), null) }),
}));

const EmailVerification = stepType('EmailVerification', 'An email-address check.', (t) => ({
  email: t.string({ resolve: (i) => str(i.email) }),
  verifiedAt: t.field({ type: 'DateTime', resolve: (i) => asDateTime(i.verified_at) }),
  isBreached: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, bool(i.is_breached), null) }),
  isDisposable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, bool(i.is_disposable), null) }),
  isUndeliverable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, bool(i.is_undeliverable), null) }),
}));

const DatabaseValidation = stepType('DatabaseValidation', "A check of the applicant's data against government databases. Reviewers only.", (t) => ({
  issuingState: t.string({ resolve: (i) => str(i.issuing_state) }),
  validationType: t.string({ resolve: (i) => str(i.validation_type) }),
  matchType: t.string({ resolve: (i) => str(i.match_type) }),
}));

/** A step list as it came (null: v1, or not run yet), without anything that is not an object. */
const steps = <T>(value: T[] | null | undefined): T[] | null => (Array.isArray(value) ? value.filter((v) => v && typeof v === 'object') : null);

builder.objectFields(Decision, (t) => ({
  workflowId: t.id({ description: 'v3: the workflow the session ran.', resolve: (d) => str(d.v3?.workflow_id) }),
  idVerifications: t.field({ type: [Kyc], description: 'v3: every identity-document step. Owner or reviewer.', resolve: (d) => steps(d.v3?.id_verifications) }),
  nfcVerifications: t.field({ type: [NfcVerification], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.nfc_verifications) }),
  livenessChecks: t.field({ type: [LivenessCheck], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.liveness_checks) }),
  faceMatches: t.field({ type: [FaceMatch], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.face_matches) }),
  poaVerifications: t.field({ type: [ProofOfAddress], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.poa_verifications) }),
  phoneVerifications: t.field({ type: [PhoneVerification], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.phone_verifications) }),
  emailVerifications: t.field({ type: [EmailVerification], description: 'v3. Owner or reviewer.', resolve: (d) => steps(d.v3?.email_verifications) }),
  amlScreenings: t.field({ type: [Aml], description: 'v3. Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, steps(d.v3?.aml_screenings)?.flatMap((a) => amlOf(d, a) ?? []) ?? null, null) }),
  ipAnalyses: t.field({ type: [Location], description: 'v3. Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, steps(d.v3?.ip_analyses), null) }),
  databaseValidations: t.field({
    type: [DatabaseValidation],
    description: 'v3. Reviewers only.',
    resolve: (d, _, ctx) => forReviewers(ctx, steps(d.v3?.database_validations), null),
  }),
}));

