import type * as Model from '../domain/model.ts';
import { builder } from './builder.ts';
import { Aml, Decision, Kyc, Location, amlOf, forReviewers, warnOf } from './decision.ts';
import { CheckStatus, toCheckStatus } from './enums.ts';
import { asDate, asDateTime, asUrl } from './scalars.ts';

/**
 * A decision's workflow steps (Didit v3): one list per kind of step (a workflow may run a step
 * twice), including kinds v1 does not have (proof of address, phone, email, NFC, database
 * validation), mapped from the model's `DecisionSteps`. Every list is null in v1 mode and until
 * its step has run. Who sees what:
 * - the applicant sees what they submitted themselves (document, face, address proof, phone,
 *   email, NFC chip);
 * - risk signals are the back office's alone: AML screenings, IP analyses, database validations,
 *   and the disposable / virtual / breached flags of a phone or an email;
 * - `raw` (the step as Didit sent it, for fields the schema does not type yet) is reviewers only.
 */

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
type StepFields<S> = (t: PothosSchemaTypes.ObjectFieldBuilder<Types, S>) => Record<string, PothosSchemaTypes.FieldRef<Types>>;

/** A step type: its node in the workflow, its status, its own fields, and the raw item for reviewers. */
function stepType<S extends Model.Step>(name: string, description: string, fields: StepFields<S>) {
  const ref = builder.objectRef<S>(name);
  ref.implement({
    description,
    fields: (t) => ({
      nodeId: t.string({ resolve: (i) => i.nodeId }),
      status: t.field({ type: CheckStatus, resolve: (i, _, ctx) => toCheckStatus(i.status, warnOf(ctx)) }),
      ...fields(t),
      raw: t.field({ type: 'JSON', description: 'The step as Didit sent it. Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.raw ?? null, null) }),
    }),
  });
  return ref;
}

const LivenessCheck = stepType<Model.LivenessCheck>('LivenessCheck', 'A liveness step.', (t) => ({
  method: t.string({ resolve: (i) => i.method }),
  score: t.float({ description: 'From 0 to 100.', resolve: (i) => i.score }),
  referenceImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.referenceImage) }),
  videoUrl: t.field({ type: 'URL', resolve: (i) => asUrl(i.videoUrl) }),
  ageEstimation: t.float({ resolve: (i) => i.ageEstimation }),
}));

const FaceMatch = stepType<Model.FaceMatch>('FaceMatch', 'A face-match step: the selfie against a reference portrait.', (t) => ({
  score: t.float({ description: 'Similarity from 0 to 100.', resolve: (i) => i.score }),
  sourceImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.sourceImage) }),
  targetImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.targetImage) }),
}));

const NfcVerification = stepType<Model.NfcVerification>('NfcVerification', "A read of the document's NFC chip.", (t) => ({
  portraitImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.portraitImage) }),
  signatureImage: t.field({ type: 'URL', resolve: (i) => asUrl(i.signatureImage) }),
  chipData: t.field({ type: 'JSON', description: 'What the chip holds (name, dates, document number, …).', resolve: (i) => i.chipData ?? null }),
  authenticity: t.field({ type: 'JSON', description: 'Integrity checks of the chip data. Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.authenticity ?? null, null) }),
}));

const ProofOfAddress = stepType<Model.ProofOfAddress>('ProofOfAddress', 'A proof-of-address step (utility bill, bank statement, …).', (t) => ({
  documentType: t.string({ resolve: (i) => i.documentType }),
  documentFile: t.field({ type: 'URL', resolve: (i) => asUrl(i.documentFile) }),
  issuer: t.string({ resolve: (i) => i.issuer }),
  issuingState: t.string({ resolve: (i) => i.issuingState }),
  issueDate: t.field({ type: 'Date', resolve: (i) => asDate(i.issueDate) }),
  nameOnDocument: t.string({ resolve: (i) => i.nameOnDocument }),
  address: t.string({ resolve: (i) => i.address }),
  formattedAddress: t.string({ resolve: (i) => i.formattedAddress }),
}));

const PhoneVerification = stepType<Model.PhoneVerification>('PhoneVerification', 'A phone-number check.', (t) => ({
  fullNumber: t.string({ resolve: (i) => i.fullNumber }),
  countryCode: t.string({ resolve: (i) => i.countryCode }),
  verificationMethod: t.string({ resolve: (i) => i.verificationMethod }),
  verifiedAt: t.field({ type: 'DateTime', resolve: (i) => asDateTime(i.verifiedAt) }),
  isDisposable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.isDisposable, null) }),
  isVirtual: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.isVirtual, null) }),
}));

const EmailVerification = stepType<Model.EmailVerification>('EmailVerification', 'An email-address check.', (t) => ({
  email: t.string({ resolve: (i) => i.email }),
  verifiedAt: t.field({ type: 'DateTime', resolve: (i) => asDateTime(i.verifiedAt) }),
  isBreached: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.isBreached, null) }),
  isDisposable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.isDisposable, null) }),
  isUndeliverable: t.boolean({ description: 'Reviewers only.', resolve: (i, _, ctx) => forReviewers(ctx, i.isUndeliverable, null) }),
}));

const DatabaseValidation = stepType<Model.DatabaseValidation>('DatabaseValidation', "A check of the applicant's data against government databases. Reviewers only.", (t) => ({
  issuingState: t.string({ resolve: (i) => i.issuingState }),
  validationType: t.string({ resolve: (i) => i.validationType }),
  matchType: t.string({ resolve: (i) => i.matchType }),
}));

builder.objectFields(Decision, (t) => ({
  workflowId: t.id({ description: 'v3: the workflow the session ran.', resolve: (d) => d.workflowId }),
  idVerifications: t.field({ type: [Kyc], description: 'v3: every identity-document step. Owner or reviewer.', resolve: (d) => d.idVerifications }),
  nfcVerifications: t.field({ type: [NfcVerification], description: 'v3. Owner or reviewer.', resolve: (d) => d.nfcVerifications }),
  livenessChecks: t.field({ type: [LivenessCheck], description: 'v3. Owner or reviewer.', resolve: (d) => d.livenessChecks }),
  faceMatches: t.field({ type: [FaceMatch], description: 'v3. Owner or reviewer.', resolve: (d) => d.faceMatches }),
  poaVerifications: t.field({ type: [ProofOfAddress], description: 'v3. Owner or reviewer.', resolve: (d) => d.poaVerifications }),
  phoneVerifications: t.field({ type: [PhoneVerification], description: 'v3. Owner or reviewer.', resolve: (d) => d.phoneVerifications }),
  emailVerifications: t.field({ type: [EmailVerification], description: 'v3. Owner or reviewer.', resolve: (d) => d.emailVerifications }),
  amlScreenings: t.field({ type: [Aml], description: 'v3. Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, d.amlScreenings?.flatMap((a) => amlOf(d, a) ?? []) ?? null, null) }),
  ipAnalyses: t.field({ type: [Location], description: 'v3. Reviewers only.', resolve: (d, _, ctx) => forReviewers(ctx, d.ipAnalyses, null) }),
  databaseValidations: t.field({
    type: [DatabaseValidation],
    description: 'v3. Reviewers only.',
    resolve: (d, _, ctx) => forReviewers(ctx, d.databaseValidations, null),
  }),
}));

