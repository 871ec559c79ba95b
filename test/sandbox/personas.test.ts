/** Generated verification data: deterministic per session, plausible, consistent with the outcome. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FINAL_STATUSES } from '../../src/sandbox/wire.ts';
import { PERSONAS } from '../../src/sandbox/persona-data.ts';
import { buildVerification, isoTimestamp, KycOverrideError, parseKycOverrides, personaFor } from '../../src/sandbox/personas.ts';
import { seedDecision } from '../support/sandbox.ts';

const FEATURE_SETS = ['OCR', 'OCR + NFC', 'OCR + AML', 'OCR + NFC + AML', 'OCR + FACE', 'OCR + NFC + FACE', 'OCR + FACE + AML', 'OCR + NFC + FACE + AML'];
const at = new Date('2025-01-02T03:04:05.678Z');

/** A fixed session id for each persona, found by scanning a deterministic list of UUIDs. */
const idFor = new Map<string, string>();
for (let i = 0; idFor.size < PERSONAS.length && i < 10_000; i++) {
  const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  if (!idFor.has(personaFor(id).key)) idFor.set(personaFor(id).key, id);
}

describe('personas', () => {
  it('gives the same session id the same persona and data, and uses every persona', () => {
    expect(idFor.size).toBe(PERSONAS.length);
    const id = randomUUID();
    expect(personaFor(id)).toBe(personaFor(id.toUpperCase()));
    const input = { sessionId: id, features: 'OCR + NFC + FACE + AML', status: 'Approved' as const, at };
    expect(buildVerification(input)).toEqual(buildVerification(input));
  });

  it('makes the watch-listed persona the seed\'s applicant, with the seed\'s AML hit and warning', () => {
    const id = idFor.get('sergey-kozlov')!;
    expect(personaFor(id).watchlist).toBe(true);
    const v = buildVerification({ sessionId: id, features: 'OCR + FACE + AML', status: 'In Review', at });
    expect(v.aml).toEqual(seedDecision.aml);
    expect(v.warnings).toEqual(seedDecision.warnings);
    expect(v.location).toEqual(seedDecision.location);
    expect(v.kyc.full_name).toBe('Sergey Kozlov');
    expect(v.kyc.created_at).toBe('2025-01-02T03:04:05.678000Z');
  });

  it('includes only the checks the features ask for, and the location always', () => {
    for (const [key, id] of idFor) {
      for (const features of FEATURE_SETS) {
        const v = buildVerification({ sessionId: id, features, status: 'Approved', at });
        const label = `${key} ${features}`;
        expect(v.face === null, label).toBe(!features.includes('FACE'));
        expect(v.aml === null, label).toBe(!features.includes('AML'));
        expect(v.kyc.is_nfc_verified, label).toBe(features.includes('NFC'));
        expect(v.kyc.epassport_status !== null, label).toBe(features.includes('NFC'));
        expect(v.location.distance_from_document_to_ip_km!.distance, label).toBeGreaterThanOrEqual(0);
        expect(Object.values(v.kyc).filter((x) => x === undefined), label).toEqual([]);
      }
    }
  });

  it('shows the outcome in the checks: all Approved, or one check Declined / In Review with a warning', () => {
    for (const [key, id] of idFor) {
      for (const features of FEATURE_SETS) {
        for (const status of FINAL_STATUSES) {
          const v = buildVerification({ sessionId: id, features, status, at });
          const checks = [v.kyc.status, v.face?.status, v.aml?.status].filter((s) => s !== undefined);
          const label = `${key} ${features} ${status}`;
          if (status === 'Approved') expect(new Set(checks), label).toEqual(new Set(['Approved']));
          else {
            expect(checks, label).toContain(status);
            expect(v.warnings.length, label).toBeGreaterThan(0);
          }
        }
      }
    }
    // A watch-listed applicant screened for AML is flagged by AML; otherwise by the face.
    expect(buildVerification({ sessionId: idFor.get('sergey-kozlov')!, features: 'OCR + FACE + AML', status: 'Declined', at }).aml!.status).toBe('Declined');
    const face = buildVerification({ sessionId: idFor.get('priya-nair')!, features: 'OCR + FACE + AML', status: 'Declined', at });
    expect(face).toMatchObject({ face: { status: 'Declined', liveness_status: 'Declined' }, aml: { status: 'Approved', total_hits: 0 } });
  });

  it('applies KYC overrides and checks them', () => {
    const v = buildVerification({ sessionId: randomUUID(), features: 'OCR', status: 'Approved', at, kyc: { last_name: 'Doe', first_name: 'Jane' } });
    expect(v.kyc.full_name).toBe('Jane Doe');
    const overrides = () => ({ full_name: null, is_nfc_verified: true, parsed_address: { city: 'X' } });
    expect(parseKycOverrides(overrides())).toEqual(overrides());
    expect(() => parseKycOverrides({ nope: 'x' })).toThrow(KycOverrideError);
    expect(() => parseKycOverrides({ is_nfc_verified: 'yes' })).toThrow(KycOverrideError);
    expect(() => parseKycOverrides([])).toThrow(KycOverrideError);
  });

  it('writes timestamps as Didit does', () => {
    expect(isoTimestamp(new Date('2024-07-28T06:46:39.354Z'))).toBe('2024-07-28T06:46:39.354000Z');
  });
});
