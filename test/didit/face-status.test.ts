import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import { worstCheckStatus } from '../../src/didit/face-status.ts';
import { json, startFakeUpstream } from '../support/fake-upstream.ts';

const SESSION = '3f0c8c2e-8a51-4b8e-9a3a-0f1f7b9e2d11';
const KNOWN = ['Approved', 'Not Finished', 'In Review', 'Declined'] as const;
const PART = [...KNOWN, 'Some Status Didit Adds', null] as const;

/** The expected worst, written out as a table rather than computed by the same rule. */
function expected(liveness: string | null, match: string | null): string | null {
  const present = [liveness, match].filter((s): s is string => s !== null);
  if (present.length === 0) return null;
  for (const worst of ['Declined', 'Some Status Didit Adds', 'In Review', 'Not Finished', 'Approved']) {
    if (present.includes(worst)) return worst;
  }
  throw new Error('unreachable');
}

describe('face status: the worst of liveness and face match', () => {
  it('is APPROVED only when every face check present is approved (every combination)', () => {
    for (const liveness of PART) {
      for (const match of PART) expect(worstCheckStatus(liveness, match), `${liveness} + ${match}`).toBe(expected(liveness, match));
    }
  });

  it('never ranks an approval above a failure, whatever the order or the number of parts', () => {
    const status = fc.oneof(fc.constantFrom(...KNOWN), fc.string({ maxLength: 12 }), fc.constant(null), fc.integer());
    fc.assert(
      fc.property(fc.array(status, { maxLength: 6 }), (parts) => {
        const worst = worstCheckStatus(...parts);
        const strings = parts.filter((p): p is string => typeof p === 'string');
        expect(worst === null).toBe(strings.length === 0);
        if (worst === 'Approved') expect(strings.every((p) => p === 'Approved')).toBe(true);
        if (strings.includes('Declined')) expect(worst).toBe('Declined');
        // Order does not matter (two statuses Didit adds later rank alike: either may stand).
        const reversed = worstCheckStatus(...[...parts].reverse());
        if (worst === null || (KNOWN as readonly string[]).includes(worst)) expect(reversed).toBe(worst);
        else expect((KNOWN as readonly (string | null)[]).includes(reversed)).toBe(false);
      }),
    );
  });

  it.each([
    ['v3', `GET /v3/session/${SESSION}/decision/`, { session_id: SESSION, status: 'Declined', liveness_checks: [{ node_id: 'feature_liveness', status: 'Declined', score: 12 }], face_matches: [{ node_id: 'feature_face_match', status: 'Approved', score: 97 }] }],
    ['v1', `GET /v1/session/${SESSION}/decision/`, { session_id: SESSION, status: 'Declined', face: { status: 'Approved', liveness_status: 'Declined', face_match_status: 'Approved' } }],
  ] as const)('a declined liveness with an approved match reads Declined (%s)', async (api, route, body) => {
    const upstream = await startFakeUpstream({
      [route]: (_, res) => json(res, 200, body),
      'POST /auth/v2/token/': (_, res) => json(res, 200, { access_token: 'a.b.c', expires_in: 86400 }),
    });
    try {
      const client = createDiditClient(
        api === 'v3'
          ? { apiKey: 'test-api-key-0123456789', apiUrl: upstream.url, maxRetries: 0 }
          : { clientId: 'id', clientSecret: 'secret', apiUrl: upstream.url, authUrl: upstream.url, maxRetries: 0 },
      );
      const decision = await client.getDecision(SESSION);
      expect(decision.face).toMatchObject({ status: 'Declined', livenessStatus: 'Declined', faceMatchStatus: 'Approved' });
      expect(upstream.unexpected).toEqual([]);
      await client.close();
    } finally {
      await upstream.close();
    }
  });
});
