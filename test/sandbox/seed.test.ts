/**
 * Requests made exactly as the seed's examples make them get the seed's status codes and every
 * field of the seed's responses, with the same JSON types.
 */
import { describe, expect, it } from 'vitest';
import { isSessionId } from '../../src/didit/session-id.ts';
import type { Decision, TokenResponse } from '../../src/sandbox/wire.ts';
import {
  api,
  completeSession,
  createSession,
  createWatchlistSession,
  getToken,
  requestToken,
  seedDecision,
  seedResponses,
  shape,
  startSandbox,
} from '../support/sandbox.ts';

describe('POST /auth/v2/token/', () => {
  it('answers 200 with every field of the seed, and a fresh token each time', async () => {
    const { url } = await startSandbox({ tokenTtlSeconds: 86400 });
    const res = await requestToken(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as TokenResponse;
    expect(shape(body)).toEqual(shape(seedResponses.token));
    expect(body).toMatchObject({ iss: 'https://didit.me', client_id: 'sandbox-client', expires_in: 86400 });
    expect(body.exp - body.iat).toBe(86400);
    expect(isSessionId(body.sub) && isSessionId(body.organization_id)).toBe(true);

    const again = (await (await requestToken(url)).json()) as TokenResponse;
    expect(again.access_token).not.toBe(body.access_token);
    expect(again.sub).toBe(body.sub);
  });
});

describe('POST /v1/session/', () => {
  it('answers 201 with every field of the seed for the seed\'s body', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const res = await api(url, token, 'POST', '/v1/session/', {
      callback: 'https://example.com/verification/callback',
      features: 'OCR + NFC + FACE',
      vendor_data: 'your-vendor-data',
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(shape(body)).toEqual(shape(seedResponses.createSession));
    expect(body).toMatchObject({
      session_number: 1,
      vendor_data: 'your-vendor-data',
      status: 'Not Started',
      callback: 'https://example.com/verification/callback',
      features: 'OCR + NFC + FACE',
      url: `${url}/session/${body.session_token}`,
    });
    // A version 4 UUID.
    expect(body.session_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('numbers sessions in order, defaults features to "OCR + FACE" and builds urls on publicUrl', async () => {
    const { url } = await startSandbox({ publicUrl: 'https://verify.example.test/' });
    const token = await getToken(url);
    const first = await createSession(url, token, { callback: 'https://example.com/cb' });
    const second = await createSession(url, token, { callback: 'https://example.com/cb' });
    expect([first.session_number, second.session_number]).toEqual([1, 2]);
    expect(first.features).toBe('OCR + FACE');
    expect(first.vendor_data).toBeNull();
    expect(first.url).toBe(`https://verify.example.test/session/${first.session_token}`);
  });
});

describe('GET /v1/session/{id}/decision/', () => {
  it('answers 200 with every key for a session not finished, null or empty where nothing is known', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const res = await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/`);
    expect(res.status).toBe(200);
    const decision = (await res.json()) as Decision;
    expect(Object.keys(decision).sort()).toEqual(Object.keys(seedDecision).sort());
    expect(decision).toMatchObject({
      session_id: session.session_id,
      session_number: session.session_number,
      session_url: session.url,
      status: 'Not Started',
      vendor_data: 'user-1',
      features: 'OCR + FACE',
      kyc: null,
      aml: null,
      face: null,
      location: null,
      warnings: [],
      reviews: [],
      extra_images: [],
    });
    expect(decision.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('has, for a finished AML session reviewed as in the seed, exactly the seed\'s keys and types', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createWatchlistSession(url, token, 'OCR + NFC + FACE + AML');
    expect((await completeSession(url, session.session_id, { status: 'In Review' })).status).toBe(200);

    const update = await api(url, token, 'PATCH', `/v1/session/${session.session_id}/update-status/`, {
      new_status: 'Declined',
      comment: 'Duplicated user',
    });
    expect(update.status).toBe(200);
    const updated = await update.json();
    expect(shape(updated)).toEqual(shape(seedResponses.updateStatus));
    expect(updated.session_id).toBe(session.session_id);

    const decision = (await (await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/`)).json()) as Decision;
    const ours = shape(decision);
    const seed = shape(seedDecision);
    expect([...ours.keys()].sort()).toEqual([...seed.keys()].sort());
    for (const [path, type] of seed) {
      if (type !== 'null') expect(`${path}: ${ours.get(path)}`).toBe(`${path}: ${type}`);
    }

    // The watch-listed persona is the seed's applicant: same person, AML hit, warning, location.
    expect(decision.status).toBe('Declined');
    expect(decision.aml).toEqual({ ...seedDecision.aml, status: 'In Review' });
    expect(decision.warnings).toEqual(seedDecision.warnings);
    expect(decision.location).toEqual(seedDecision.location);
    const { full_name, document_number, date_of_birth, address, nationality } = seedDecision.kyc!;
    expect(decision.kyc).toMatchObject({ full_name, document_number, date_of_birth, address, nationality });
    expect(decision.face).toMatchObject({ ...seedDecision.face, source_image: expect.any(String), target_image: expect.any(String), video_url: expect.any(String) });
    expect(decision.reviews).toEqual([
      { user: 'sandbox-client@sandbox.local', new_status: 'Declined', comment: 'Duplicated user', created_at: expect.stringMatching(/Z$/) },
    ]);
  });
});

describe('GET /v1/session/{id}/generate-pdf/', () => {
  it.each(['Approved', 'Declined', 'In Review'])('answers a real PDF for a %s session, with the seed\'s headers', async (status) => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token, { callback: 'https://example.com/cb', features: 'OCR + NFC + FACE + AML' });
    await completeSession(url, session.session_id, { status });
    // As the seed's example: only the Authorization header.
    const res = await fetch(`${url}/v1/session/${session.session_id}/generate-pdf/`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename=session_${session.session_id}.pdf`);
    const pdf = Buffer.from(await res.arrayBuffer()).toString('latin1');
    expect(pdf.startsWith('%PDF-')).toBe(true);
    expect(pdf).toMatch(/%%EOF\n?$/);
    expect(pdf).toContain('xref');
    // The same decision gives the same bytes.
    const again = await api(url, token, 'GET', `/v1/session/${session.session_id}/generate-pdf/`);
    expect(Buffer.from(await again.arrayBuffer()).toString('latin1')).toBe(pdf);
  });
});
