/**
 * The sandbox's Didit v3 workflows: three fixed, published ones, so tests, the README and a
 * gateway's `DIDIT_WORKFLOW_ID` can name them without asking first. Their ids never change:
 *
 *   KYC basic   workflow_id 11111111-1111-4111-8111-111111111111  ID + liveness + face match (the default)
 *   KYC + AML   workflow_id 22222222-2222-4222-8222-222222222222  + AML screening + IP analysis
 *   Full        workflow_id 33333333-3333-4333-8333-333333333333  + NFC, proof of address, phone, email, database validation
 *
 * Also the table of v3 steps: each feature's node id, its list in the decision, and the v1
 * feature it maps to, so one session reads the same over both APIs.
 */
import { featuresFromWire } from '../didit/features.ts';

/** A step of a workflow, as the v3 decision's `features` names it. */
export type V3Feature =
  | 'ID_VERIFICATION'
  | 'NFC'
  | 'LIVENESS'
  | 'FACE_MATCH'
  | 'POA'
  | 'PHONE'
  | 'EMAIL_VERIFICATION'
  | 'AML'
  | 'IP_ANALYSIS'
  | 'DATABASE_VALIDATION';

export interface Step {
  feature: V3Feature;
  /** The item's `node_id` (docs/didit-v3.md §3.2, values seen in Didit's test webhook). */
  nodeId: string;
  /** The decision's list the step's item goes into. */
  list: string;
  /**
   * The name in a workflow's `features` list: the workflow docs call the ID step "OCR" (docs/didit-v3.md §9);
   * the others are written as the decision writes them.
   */
  workflowName: string;
  /** Other names `nodes_to_resubmit[].feature` may use for it (Didit's own example says "OCR"). */
  aliases: readonly string[];
}

/** In the decision's order (docs/didit-v3.md §3). */
export const STEPS: readonly Step[] = [
  { feature: 'ID_VERIFICATION', nodeId: 'feature_ocr', list: 'id_verifications', workflowName: 'OCR', aliases: ['OCR'] },
  { feature: 'NFC', nodeId: 'feature_nfc', list: 'nfc_verifications', workflowName: 'NFC', aliases: [] },
  { feature: 'LIVENESS', nodeId: 'feature_liveness', list: 'liveness_checks', workflowName: 'LIVENESS', aliases: [] },
  { feature: 'FACE_MATCH', nodeId: 'feature_face_match', list: 'face_matches', workflowName: 'FACE_MATCH', aliases: [] },
  { feature: 'POA', nodeId: 'feature_proof_of_address', list: 'poa_verifications', workflowName: 'POA', aliases: [] },
  { feature: 'PHONE', nodeId: 'feature_phone_verification', list: 'phone_verifications', workflowName: 'PHONE', aliases: [] },
  { feature: 'EMAIL_VERIFICATION', nodeId: 'feature_email_verification', list: 'email_verifications', workflowName: 'EMAIL_VERIFICATION', aliases: ['EMAIL'] },
  { feature: 'AML', nodeId: 'feature_aml', list: 'aml_screenings', workflowName: 'AML', aliases: [] },
  { feature: 'IP_ANALYSIS', nodeId: 'feature_ip_analysis', list: 'ip_analyses', workflowName: 'IP_ANALYSIS', aliases: [] },
  { feature: 'DATABASE_VALIDATION', nodeId: 'feature_database_validation', list: 'database_validations', workflowName: 'DATABASE_VALIDATION', aliases: [] },
];

/** Lists of the decision no sandbox workflow fills: always null, but present as Didit's are. */
export const UNUSED_LISTS = ['document_ai_documents', 'questionnaire_responses'] as const;

export const stepOf = (feature: V3Feature): Step => STEPS.find((step) => step.feature === feature)!;

export interface Workflow {
  /** The stable id sessions are created with. */
  id: string;
  /** The id of this published version (`uuid` in the list). */
  settingsUuid: string;
  label: string;
  version: number;
  isDefault: boolean;
  features: readonly V3Feature[];
  /** The v1 features string of its sessions, for reading them over v1. */
  v1Features: string;
  totalPrice: string;
  /** Orders the list, newest first. */
  createdAt: string;
}

export const KYC_BASIC_WORKFLOW_ID = '11111111-1111-4111-8111-111111111111';
export const KYC_AML_WORKFLOW_ID = '22222222-2222-4222-8222-222222222222';
export const FULL_WORKFLOW_ID = '33333333-3333-4333-8333-333333333333';

export const WORKFLOWS: readonly Workflow[] = [
  {
    id: FULL_WORKFLOW_ID,
    settingsUuid: '33333333-3333-4333-8333-000000000001',
    label: 'Full',
    version: 1,
    isDefault: false,
    features: ['ID_VERIFICATION', 'NFC', 'LIVENESS', 'FACE_MATCH', 'POA', 'PHONE', 'EMAIL_VERIFICATION', 'AML', 'IP_ANALYSIS', 'DATABASE_VALIDATION'],
    v1Features: 'OCR + NFC + FACE + AML',
    totalPrice: '1.10',
    createdAt: '2025-03-01T09:00:00.000000Z',
  },
  {
    id: KYC_AML_WORKFLOW_ID,
    settingsUuid: '22222222-2222-4222-8222-000000000001',
    label: 'KYC + AML',
    version: 1,
    isDefault: false,
    features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH', 'AML', 'IP_ANALYSIS'],
    v1Features: 'OCR + FACE + AML',
    totalPrice: '0.45',
    createdAt: '2025-02-01T09:00:00.000000Z',
  },
  {
    id: KYC_BASIC_WORKFLOW_ID,
    settingsUuid: '11111111-1111-4111-8111-000000000001',
    label: 'KYC basic',
    version: 1,
    isDefault: true,
    features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'],
    v1Features: 'OCR + FACE',
    totalPrice: '0.15',
    createdAt: '2025-01-01T09:00:00.000000Z',
  },
];

/** The workflow with this id (any case), if the sandbox has it. */
export function findWorkflow(id: string | null | undefined): Workflow | undefined {
  const wanted = id?.toLowerCase();
  return WORKFLOWS.find((workflow) => workflow.id === wanted);
}

/**
 * The v3 steps of a session created over v1 (no workflow): its document, NFC, face and AML
 * features, plus the IP analysis every v1 decision carries (its `location`).
 */
export function stepsOfV1Features(features: string): V3Feature[] {
  const names = new Set(featuresFromWire(features));
  const steps: V3Feature[] = ['ID_VERIFICATION'];
  if (names.has('NFC')) steps.push('NFC');
  if (names.has('FACE')) steps.push('LIVENESS', 'FACE_MATCH');
  if (names.has('AML')) steps.push('AML');
  steps.push('IP_ANALYSIS');
  return steps;
}

/**
 * How long a session stays open, in minutes. The list's `session_expiration_time` is 1440 in the
 * newest docs edition; whether that is minutes or seconds is not documented (UNCERTAIN): the
 * sandbox reads it as minutes, so `expires_at` is one day after `created_at`.
 */
export const SESSION_EXPIRATION_MINUTES = 1440;
