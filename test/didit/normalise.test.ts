import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/domain/model.ts';
import { fromV1Decision } from '../../src/didit/normalise.ts';
import { fromV3Decision } from '../../src/didit/normalise-v3.ts';

const SESSION = '3f0c8c2e-8a51-4b8e-9a3a-0f1f7b9e2d11';

/** Every value of the model is of its declared kind: checked by walking it against the types' rules. */
function expectWellTyped(d: Decision) {
  const strOrNull = (v: unknown, where: string) => expect(v === null || typeof v === 'string', `${where}: ${JSON.stringify(v)}`).toBe(true);
  const numOrNull = (v: unknown, where: string) => expect(v === null || (typeof v === 'number' && Number.isFinite(v)), `${where}: ${JSON.stringify(v)}`).toBe(true);
  const boolOrNull = (v: unknown, where: string) => expect(v === null || typeof v === 'boolean', where).toBe(true);
  expect(typeof d.sessionId).toBe('string');
  expect(typeof d.status).toBe('string');
  numOrNull(d.sessionNumber, 'sessionNumber');
  for (const key of ['sessionUrl', 'vendorData', 'callback', 'workflowId', 'createdAt'] as const) strOrNull(d[key], key);
  expect(d.features.every((f) => typeof f === 'string')).toBe(true);
  expect(d.extraImages.every((u) => typeof u === 'string')).toBe(true);
  for (const k of [d.kyc, ...(d.idVerifications ?? [])]) {
    if (!k) continue;
    for (const [key, value] of Object.entries(k)) {
      if (key === 'isNfcVerified') boolOrNull(value, key);
      else if (key !== 'parsedAddress') strOrNull(value, `kyc.${key}`);
    }
  }
  for (const a of [d.aml, ...(d.amlScreenings ?? [])]) {
    if (!a) continue;
    expect(Number.isSafeInteger(a.totalHits)).toBe(true);
    numOrNull(a.score, 'aml.score');
    for (const hit of a.hits) {
      expect(typeof hit.id).toBe('string');
      expect(hit.datasets.every((x) => typeof x === 'string')).toBe(true);
    }
  }
  if (d.face) {
    for (const key of ['status', 'faceMatchStatus', 'livenessStatus', 'sourceImage', 'targetImage', 'videoUrl'] as const) strOrNull(d.face[key], `face.${key}`);
    for (const key of ['faceMatchSimilarity', 'livenessConfidence', 'ageEstimation'] as const) numOrNull(d.face[key], `face.${key}`);
  }
  for (const l of [d.location, ...(d.ipAnalyses ?? [])]) {
    if (!l) continue;
    for (const point of [l.documentLocation, l.ipLocation]) {
      if (point) expect(Number.isFinite(point.latitude) && Number.isFinite(point.longitude)).toBe(true);
    }
    numOrNull(l.latitude, 'latitude');
    boolOrNull(l.isVpnOrTor, 'isVpnOrTor');
  }
  for (const w of d.warnings) {
    expect(typeof w.feature).toBe('string');
    expect(typeof w.risk).toBe('string');
  }
  for (const r of d.reviews) for (const key of ['user', 'newStatus', 'previousStatus', 'comment', 'createdAt'] as const) strOrNull(r[key], `review.${key}`);
}

/** Any JSON at all in the places Didit fills, and sometimes a plausible object. */
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(fc.constantFrom('status', 'node_id', 'full_name', 'score', 'hits', 'warnings', 'id', 'location', 'ip', 'gender_estimation', 'liveness_status'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }));
const list = fc.oneof(value, fc.array(value, { maxLength: 3 }));

describe('normalising Didit answers into the model', () => {
  it('keeps every value of the model of its declared kind, whatever Didit sends (v1)', () => {
    fc.assert(
      fc.property(fc.record({ kyc: value, aml: value, face: value, location: value, warnings: list, reviews: list, extra_images: list, features: value, session_number: value, session_url: value, callback: value }, { requiredKeys: [] }), (body) => {
        expectWellTyped(fromV1Decision({ session_id: SESSION, status: 'Approved', ...body }));
      }),
    );
  });

  it('keeps every value of the model of its declared kind, whatever Didit sends (v3)', () => {
    const lists = ['id_verifications', 'nfc_verifications', 'liveness_checks', 'face_matches', 'poa_verifications', 'phone_verifications', 'email_verifications', 'aml_screenings', 'ip_analyses', 'database_validations', 'reviews'];
    fc.assert(
      fc.property(fc.record(Object.fromEntries([...lists, 'features', 'workflow_id', 'metadata'].map((key) => [key, list])), { requiredKeys: [] }), (body) => {
        expectWellTyped(fromV3Decision({ session_id: SESSION, status: 'In Review', ...body }));
      }),
    );
  });

  it('keeps a status Didit adds later as it came, in both APIs', () => {
    const v1 = fromV1Decision({ session_id: SESSION, status: 'Pending Audit', kyc: { status: 'Escalated' }, reviews: [{ new_status: 'Pending Audit' }] });
    expect([v1.status, v1.kyc?.status, v1.reviews[0]?.newStatus]).toEqual(['Pending Audit', 'Escalated', 'Pending Audit']);
    const v3 = fromV3Decision({ session_id: SESSION, status: 'Pending Audit', id_verifications: [{ status: 'Escalated' }], liveness_checks: [{ status: 'Escalated' }] });
    expect([v3.status, v3.kyc?.status, v3.livenessChecks?.[0]?.status, v3.face?.status]).toEqual(['Pending Audit', 'Escalated', 'Escalated', 'Escalated']);
  });

  it('names the same features and the same first blocks from either API', () => {
    const v1 = fromV1Decision({ session_id: SESSION, status: 'Approved', features: 'OCR + FACE', kyc: { full_name: 'Ana Lima', node_id: null }, face: { liveness_status: 'Approved', face_match_status: 'Approved', status: 'Approved' } });
    const v3 = fromV3Decision({ session_id: SESSION, status: 'Approved', features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'], id_verifications: [{ full_name: 'Ana Lima' }], liveness_checks: [{ status: 'Approved' }], face_matches: [{ status: 'Approved' }] });
    expect(v3.features).toEqual(v1.features);
    expect(v3.kyc).toEqual(v1.kyc);
    expect(v3.face?.status).toBe(v1.face?.status);
    expect(v1.idVerifications).toBeNull();
  });
});
