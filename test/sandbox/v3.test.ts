/** The sandbox's Didit v3 API: every route, its status rules and error shapes, over the store v1 shares. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Decision } from '../../src/sandbox/wire.ts';
import { createDiditV3Client } from '../../src/didit/v3.ts';
import { personaFor } from '../../src/sandbox/personas.ts';
import { FULL_WORKFLOW_ID, KYC_AML_WORKFLOW_ID, KYC_BASIC_WORKFLOW_ID } from '../../src/sandbox/server.ts';
import { api, createSession, getToken, startSandbox } from '../support/sandbox.ts';
import { API_KEY, control, createV3, decisionV3, v3, v3Json } from '../support/sandbox-v3.ts';

afterEach(() => {
  vi.useRealTimers();
});

const LISTS = [
  'id_verifications',
  'nfc_verifications',
  'liveness_checks',
  'face_matches',
  'poa_verifications',
  'document_ai_documents',
  'phone_verifications',
  'email_verifications',
  'aml_screenings',
  'ip_analyses',
  'database_validations',
  'questionnaire_responses',
];

describe('v3 auth', () => {
  const routes = (id: string) =>
    [
      ['POST', '/v3/session/', { workflow_id: KYC_BASIC_WORKFLOW_ID }],
      ['GET', `/v3/session/${id}/decision/`, undefined],
      ['GET', `/v3/session/${id}/generate-pdf/`, undefined],
      ['PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Approved' }],
      ['DELETE', `/v3/session/${id}/delete/`, undefined],
      ['GET', '/v3/sessions/', undefined],
      ['GET', `/v3/sessions/${id}/reviews/`, undefined],
      ['POST', `/v3/sessions/${id}/reviews/`, { new_status: 'Approved' }],
      ['GET', '/v3/workflows/', undefined],
    ] as const;

  it('answers 403 without a key and 401 with a wrong one, on every route, changing nothing', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'In Review' });
    for (const [method, path, body] of routes(session.session_id)) {
      const missing = await v3(url, method, path, body, null);
      expect(`${method} ${path} ${missing.status}`).toBe(`${method} ${path} 403`);
      expect(await missing.json()).toEqual({ detail: 'You do not have permission to perform this action.' });
      const wrong = await v3(url, method, path, body, `${API_KEY}x`);
      expect(`${method} ${path} ${wrong.status}`).toBe(`${method} ${path} 401`);
      expect(await wrong.json()).toEqual({ detail: 'Invalid or missing API key' });
    }
    const after = await decisionV3(url, session.session_id);
    expect(after.status).toBe('In Review');
    expect((await v3Json(url, 'GET', '/v3/sessions/')).body.count).toBe(1);
  });

  it('takes the configured key only, and a v1 Bearer token is no key', async () => {
    const { url } = await startSandbox({ apiKey: 'another-key' });
    expect((await v3(url, 'GET', '/v3/workflows/')).status).toBe(401);
    expect((await v3(url, 'GET', '/v3/workflows/', undefined, 'another-key')).status).toBe(200);
    const token = await getToken(url);
    expect((await api(url, token, 'GET', '/v3/workflows/')).status).toBe(403);
  });
});

describe('GET /v3/workflows/', () => {
  it('lists the three fixed workflows as a bare array, newest first', async () => {
    const { url } = await startSandbox();
    const { status, body } = await v3Json(url, 'GET', '/v3/workflows/');
    expect(status).toBe(200);
    expect(Array.isArray(body)).toBe(true);
    const list = body as unknown as Record<string, any>[];
    expect(list.map((w) => w.workflow_id)).toEqual([FULL_WORKFLOW_ID, KYC_AML_WORKFLOW_ID, KYC_BASIC_WORKFLOW_ID]);
    expect(list.map((w) => w.workflow_label)).toEqual(['Full', 'KYC + AML', 'KYC basic']);
    expect(list.filter((w) => w.is_default).map((w) => w.workflow_id)).toEqual([KYC_BASIC_WORKFLOW_ID]);
    expect(list[2]).toMatchObject({
      workflow_type: 'kyc',
      features: ['OCR', 'LIVENESS', 'FACE_MATCH'],
      version: 1,
      status: 'published',
      is_archived: false,
      total_price: '0.15',
      session_expiration_time: 1440,
    });
    expect(list[2]!.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(list[2]!.uuid).not.toBe(list[2]!.workflow_id);
    expect(list[2]).not.toHaveProperty('id');
  });
});

describe('POST /v3/session/', () => {
  it('creates a session on a workflow: 201 with the documented fields, the page at its url', async () => {
    const { url } = await startSandbox();
    const res = await v3(url, 'POST', '/v3/session/', {
      workflow_id: KYC_AML_WORKFLOW_ID.toUpperCase(),
      vendor_data: 'user-123',
      callback: 'https://example.com/verification/callback',
      callback_method: 'both',
      language: 'es',
      metadata: { user_type: 'premium', account_id: 'ABC123' },
      contact_details: { email: 'ana@example.com', phone: '+34612345678' },
      expected_details: { first_name: 'Ana', date_of_birth: '1990-05-01', id_country: 'ESP', gender: null, ip_address: '::1' },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, any>;
    expect(Object.keys(body).sort()).toEqual(
      ['callback', 'metadata', 'session_id', 'session_kind', 'session_number', 'session_token', 'status', 'url', 'vendor_data', 'workflow_id', 'workflow_version'].sort(),
    );
    expect(body).toMatchObject({
      session_number: 1,
      vendor_data: 'user-123',
      metadata: { user_type: 'premium', account_id: 'ABC123' },
      status: 'Not Started',
      workflow_id: KYC_AML_WORKFLOW_ID,
      workflow_version: 1,
      callback: 'https://example.com/verification/callback',
      session_kind: 'user',
    });
    expect(body.url).toBe(`${url}/session/${body.session_token}`);
    expect((await fetch(body.url)).status).toBe(200);

    const decision = await decisionV3(url, body.session_id);
    expect(decision).toMatchObject({
      status: 'In Progress',
      features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH', 'AML', 'IP_ANALYSIS'],
      contact_details: { email: 'ana@example.com', email_lang: 'en', send_notification_emails: false, phone: '+34612345678' },
      expected_details: { first_name: 'Ana', date_of_birth: '1990-05-01', id_country: 'ESP', gender: null, ip_address: '::1' },
    });
  });

  it('takes metadata as a JSON string too, and needs no callback or vendor_data', async () => {
    const { url } = await startSandbox();
    const body = await createV3(url, { metadata: '{"plan": "gold"}', callback: undefined, vendor_data: undefined });
    expect(body).toMatchObject({ metadata: { plan: 'gold' }, callback: null, vendor_data: null });
    // With no callback the done page has no link back, and still renders.
    await control(url, body.session_id, 'complete', { status: 'Approved' });
    const page = await (await fetch(body.url)).text();
    expect(page).toContain('<strong id="outcome">Approved</strong>');
    expect(page).not.toContain('Continue');
  });

  it('answers DRF field errors for every bad field at once, and creates nothing', async () => {
    const { url } = await startSandbox();
    const res = await v3(url, 'POST', '/v3/session/', {
      workflow_id: 'not-a-uuid',
      vendor_data: 42,
      callback: 'ftp://example.com',
      callback_method: 'sometimes',
      language: 'xx',
      metadata: [1, 2],
      contact_details: { email: 'nope', send_notification_emails: 'yes', phone: '612345678' },
      expected_details: { date_of_birth: '1990-13-01', nationality: 'es', gender: 'X', ip_address: '999.1.1.1', expected_document_types: 'P' },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      workflow_id: ['Must be a valid UUID.'],
      vendor_data: ['Not a valid string.'],
      callback: ['Enter a valid URL.'],
      callback_method: ['"sometimes" is not a valid choice.'],
      language: ['"xx" is not a valid choice.'],
      metadata: ['Must be a JSON object.'],
      contact_details: {
        email: ['Enter a valid email address.'],
        send_notification_emails: ['Must be a valid boolean.'],
        phone: [expect.stringContaining('E.164')],
      },
      expected_details: {
        date_of_birth: ['Date has wrong format. Use one of these formats instead: YYYY-MM-DD.'],
        nationality: [expect.stringContaining('alpha-3')],
        gender: ['"X" is not a valid choice.'],
        ip_address: ['Enter a valid IPv4 or IPv6 address.'],
        expected_document_types: ['Expected a list of items but got type "str".'],
      },
    });
    const more = [
      [{}, { workflow_id: ['This field is required.'] }],
      [{ workflow_id: randomUUID() }, { workflow_id: [expect.stringContaining('/v3/workflows/')] }],
      [{ workflow_id: KYC_BASIC_WORKFLOW_ID, contact_details: 'x' }, { contact_details: { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] } }],
      [{ workflow_id: KYC_BASIC_WORKFLOW_ID, metadata: '{not json' }, { metadata: ['Value must be valid JSON.'] }],
    ] as const;
    for (const [body, errors] of more) {
      const answer = await v3(url, 'POST', '/v3/session/', body);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual(errors);
    }
    expect((await v3Json(url, 'GET', '/v3/sessions/')).body.count).toBe(0);
  });

  it('returns the unfinished session with the same vendor_data on the same workflow, callback and metadata overwritten', async () => {
    const { url } = await startSandbox();
    const first = await createV3(url, { vendor_data: 'user-7', metadata: { n: 1 } });
    const again = await createV3(url, { vendor_data: 'user-7', metadata: { n: 2 }, callback: 'https://example.com/other' });
    expect(again.session_id).toBe(first.session_id);
    expect(again).toMatchObject({ session_number: first.session_number, url: first.url, metadata: { n: 2 }, callback: 'https://example.com/other' });
    expect(await decisionV3(url, first.session_id)).toMatchObject({ metadata: { n: 2 }, callback: 'https://example.com/other' });

    // Still reused once the applicant has opened the page; not on another workflow, nor without vendor_data.
    await fetch(first.url);
    expect((await createV3(url, { vendor_data: 'user-7' })).session_id).toBe(first.session_id);
    expect((await createV3(url, { vendor_data: 'user-7', workflow_id: FULL_WORKFLOW_ID })).session_id).not.toBe(first.session_id);
    const anonymous = await createV3(url, { vendor_data: undefined });
    expect((await createV3(url, { vendor_data: undefined })).session_id).not.toBe(anonymous.session_id);

    // A finished session is never reused.
    await control(url, first.session_id, 'complete', { status: 'Approved' });
    const fresh = await createV3(url, { vendor_data: 'user-7' });
    expect(fresh.session_id).not.toBe(first.session_id);
    expect(fresh.status).toBe('Not Started');
  });
});

describe('GET /v3/session/{id}/decision/', () => {
  it('has every list, null until the session is finished, then one item per step of the workflow', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url, { workflow_id: KYC_BASIC_WORKFLOW_ID, vendor_data: 'user-d' });
    const before = await decisionV3(url, session.session_id);
    expect(before).toMatchObject({
      session_id: session.session_id,
      session_kind: 'user',
      session_number: session.session_number,
      session_url: session.url,
      status: 'Not Started',
      workflow_id: KYC_BASIC_WORKFLOW_ID,
      features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH'],
      vendor_data: 'user-d',
      metadata: null,
      callback: 'https://example.com/cb',
      reviews: [],
    });
    expect(before.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.parse(before.expires_at) - Date.parse(before.created_at)).toBe(86_400_000);
    for (const list of LISTS) expect(before[list]).toBeNull();

    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const after = await decisionV3(url, session.session_id);
    const v1 = (await (await control(url, session.session_id, 'kyc-expire')).json()) as Decision;
    const persona = personaFor(session.session_id);
    expect(after.status).toBe('Approved');
    expect(after.id_verifications).toEqual([
      expect.objectContaining({
        node_id: 'feature_ocr',
        status: 'Approved',
        warnings: [],
        document_type: persona.kyc.document_type,
        document_number: persona.kyc.document_number,
        full_name: `${persona.kyc.first_name} ${persona.kyc.last_name}`,
        date_of_birth: persona.kyc.date_of_birth,
        age: expect.any(Number),
        portrait_image: v1.kyc!.portrait_image,
        extra_files: [],
        matches: [],
      }),
    ]);
    expect(after.liveness_checks).toEqual([
      expect.objectContaining({ node_id: 'feature_liveness', status: 'Approved', method: 'FLASHING', score: persona.face.liveness_confidence, warnings: [] }),
    ]);
    expect(after.face_matches).toEqual([
      { node_id: 'feature_face_match', status: 'Approved', score: persona.face.face_match_similarity, source_image: v1.face!.source_image, target_image: v1.face!.target_image, source_image_session_id: null, warnings: [] },
    ]);
    for (const list of LISTS.filter((l) => !['id_verifications', 'liveness_checks', 'face_matches'].includes(l))) expect(after[list]).toBeNull();
  });

  it('fills AML (hits, warnings) and the IP analysis with its geo blocks', async () => {
    const { url } = await startSandbox();
    let session: Record<string, any> | undefined;
    for (let i = 0; i < 200 && !session; i++) {
      const candidate = await createV3(url, { workflow_id: KYC_AML_WORKFLOW_ID, vendor_data: `aml-${i}` });
      if (personaFor(candidate.session_id).watchlist) session = candidate;
    }
    await control(url, session!.session_id, 'complete', { status: 'Declined' });
    const decision = await decisionV3(url, session!.session_id);
    const aml = decision.aml_screenings[0];
    expect(aml).toMatchObject({
      node_id: 'feature_aml',
      status: 'Declined',
      entity_type: 'person',
      total_hits: 1,
      score: 70.35,
      screened_data: { full_name: 'Sergey Kozlov', date_of_birth: '1990-01-01', nationality: 'ESP', document_number: 'BK123456' },
      is_ongoing_monitoring_enabled: false,
    });
    expect(aml.hits[0]).toMatchObject({
      id: 'aaaaaaa-1111-2222-3333-4444-555555555555',
      caption: 'Kozlov Sergey Alexandrovich',
      match: false,
      score: 0.7034920634920635,
      match_score: 70,
      datasets: ['ru_acf_bribetakers'],
      pep_matches: [],
      properties: expect.objectContaining({ name: ['Kozlov Sergey Alexandrovich'] }),
    });
    expect(aml.warnings).toEqual([
      expect.objectContaining({ risk: 'POSSIBLE_MATCH_FOUND', feature: 'AML', node_id: 'feature_aml', log_type: 'warning', additional_data: null }),
    ]);
    // The flagged step is AML: the others passed.
    expect([decision.id_verifications[0].status, decision.face_matches[0].status]).toEqual(['Approved', 'Approved']);

    const ip = decision.ip_analyses[0];
    expect(ip).toMatchObject({
      node_id: 'feature_ip_analysis',
      status: 'Approved',
      ip_address: '83.50.226.71',
      ip_country_code: 'ES',
      time_zone_offset: 1,
      is_vpn_or_tor: false,
      ip: { location: { latitude: 41.4022, longitude: 2.1407 }, distance_from_id_document: { distance: expect.any(Number), direction: expect.any(String) }, distance_from_poa_document: null },
      id_document: { location: { latitude: 4, longitude: -72 }, distance_from_ip: { distance: 8393.68, direction: expect.any(String) }, distance_from_poa_document: null },
      poa_document: null,
    });
    expect(ip.ip.distance_from_id_document.distance).toBe(8393.68);
  });

  it('fills NFC, proof of address, phone, email and database validation on the Full workflow', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url, { workflow_id: FULL_WORKFLOW_ID, contact_details: { email: 'ana@example.com', phone: '+34612345678' } });
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const d = await decisionV3(url, session.session_id);
    for (const list of LISTS) expect([list, Array.isArray(d[list])]).toEqual([list, !['document_ai_documents', 'questionnaire_responses'].includes(list)]);
    expect(d.nfc_verifications[0]).toMatchObject({ node_id: 'feature_nfc', status: 'Approved', authenticity: { dg_integrity: true, sod_integrity: true } });
    expect(d.nfc_verifications[0].certificate_summary.serial_number).toBe(1.1812083616449413e38);
    expect(d.poa_verifications[0]).toMatchObject({ node_id: 'feature_proof_of_address', status: 'Approved', document_type: 'UTILITY_BILL', warnings: [] });
    expect(d.phone_verifications[0]).toMatchObject({
      node_id: 'feature_phone_verification',
      full_number: '+34612345678',
      phone_number_prefix: '+34',
      phone_number: '612345678',
      country_code: 'ES',
      carrier: { type: 'mobile' },
      lifecycle: expect.arrayContaining([expect.objectContaining({ type: 'PHONE_VERIFICATION_APPROVED' })]),
    });
    expect(d.email_verifications[0]).toMatchObject({ node_id: 'feature_email_verification', status: 'Approved', email: 'ana@example.com', breaches: [] });
    expect(d.database_validations[0]).toMatchObject({ node_id: 'feature_database_validation', validation_type: 'one_by_one', match_type: 'full_match' });
    expect(d.ip_analyses[0].poa_document).toMatchObject({ distance_from_ip: { distance: expect.any(Number) } });
  });

  it('answers 404 {detail} for an unknown or malformed id', async () => {
    const { url } = await startSandbox();
    for (const id of [randomUUID(), 'nope']) {
      const res = await v3(url, 'GET', `/v3/session/${id}/decision/`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ detail: 'Not found.' });
    }
  });
});

describe('GET /v3/session/{id}/generate-pdf/', () => {
  it('serves the report for Approved, Declined, In Review and Kyc Expired, 403 otherwise', async () => {
    const { url } = await startSandbox();
    const open = await createV3(url);
    const refused = await v3(url, 'GET', `/v3/session/${open.session_id}/generate-pdf/`);
    expect(refused.status).toBe(403);
    expect((await refused.json()).detail).toContain('Not Started');

    const done = await createV3(url, { vendor_data: 'pdf' });
    await control(url, done.session_id, 'complete', { status: 'Approved' });
    await control(url, done.session_id, 'kyc-expire');
    const pdf = await v3(url, 'GET', `/v3/session/${done.session_id}/generate-pdf/`);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toBe(`attachment; filename=session_${done.session_id}.pdf`);
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');

    await control(url, open.session_id, 'expire');
    expect((await v3(url, 'GET', `/v3/session/${open.session_id}/generate-pdf/`)).status).toBe(403);
    // Without its slash the path is redirected, as Django does.
    const slashless = await v3(url, 'GET', `/v3/session/${done.session_id}/generate-pdf`);
    expect(slashless.status).toBe(301);
    expect(slashless.headers.get('location')).toBe(`/v3/session/${done.session_id}/generate-pdf/`);
  });
});

describe('PATCH /v3/session/{id}/update-status/', () => {
  const update = (url: string, id: string, body: unknown) => v3Json(url, 'PATCH', `/v3/session/${id}/update-status/`, body);

  it('refuses an unfinished session before reading the body', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    const res = await update(url, session.session_id, { new_status: 'Bogus' });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('Not Started');
  });

  it('checks the body: In Review is no target, an email needs an address', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'In Review' });
    expect(await update(url, session.session_id, { new_status: 'In Review' })).toEqual({ status: 400, body: { new_status: ['"In Review" is not a valid choice.'] } });
    expect(await update(url, session.session_id, {})).toEqual({ status: 400, body: { new_status: ['This field is required.'] } });
    expect(await update(url, session.session_id, { new_status: 'Approved', send_email: true })).toEqual({
      status: 400,
      body: { email_address: ['This field is required when send_email is true.'] },
    });
    expect(await update(url, session.session_id, { new_status: 'Approved', email_address: 'x', email_language: 'tlh', comment: 5 })).toEqual({
      status: 400,
      body: { email_address: ['Enter a valid email address.'], email_language: ['"tlh" is not a valid choice.'], comment: ['Not a valid string.'] },
    });
    expect((await decisionV3(url, session.session_id)).status).toBe('In Review');
  });

  it('sets Approved or Declined with a review row; the same status again changes nothing', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'In Review' });
    expect(await update(url, session.session_id, { new_status: 'Approved', comment: 'Checked', send_email: true, email_address: 'a@example.com' })).toEqual({
      status: 200,
      body: { session_id: session.session_id },
    });
    const decision = await decisionV3(url, session.session_id);
    expect(decision.status).toBe('Approved');
    expect(decision.reviews).toEqual([{ user: 'API Client', new_status: 'Approved', comment: 'Checked', created_at: expect.any(String) }]);
    expect(await update(url, session.session_id, { new_status: 'Approved' })).toEqual({ status: 200, body: { session_id: session.session_id } });
    const feed = await v3Json(url, 'GET', `/v3/sessions/${session.session_id}/reviews/`);
    expect(feed.body.count).toBe(1);
    expect(feed.body.results[0]).toMatchObject({
      activity_type: 'STATUS_UPDATED',
      actor_display: 'API Client',
      actor_type: 'API_KEY',
      new_status: 'Approved',
      previous_status: 'In Review',
      comment: 'Checked',
      previous_value: { status: 'In Review' },
      new_value: { status: 'Approved' },
      changed_fields: ['status'],
    });
    expect((await update(url, session.session_id, { new_status: 'Declined' })).status).toBe(200);
    expect((await decisionV3(url, session.session_id)).status).toBe('Declined');
  });

  it('resubmits named steps: the same page opens again, the steps are Not Finished until the applicant finishes', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    await control(url, session.session_id, 'complete', { status: 'Declined' });
    const body = { new_status: 'Resubmitted', comment: 'Selfie too dark', nodes_to_resubmit: [{ node_id: 'feature_face_match', feature: 'FACE_MATCH' }] };
    expect((await update(url, session.session_id, body)).status).toBe(200);
    const reopened = await decisionV3(url, session.session_id);
    expect(reopened.status).toBe('Resubmitted');
    expect(reopened.face_matches).toEqual([
      { node_id: 'feature_face_match', status: 'Not Finished', score: null, source_image: null, target_image: null, source_image_session_id: null, warnings: [] },
    ]);
    expect(reopened.id_verifications[0].status).toBe('Approved');
    expect(await update(url, session.session_id, body)).toEqual({ status: 400, body: { detail: 'The new status is the same as the current status.' } });

    const page = await (await fetch(session.url)).text();
    expect(page).toContain(`<form method="post" action="/session/${session.session_token}/complete">`);
    const posted = await fetch(`${url}/session/${session.session_token}/complete`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ status: 'Approved' }),
      redirect: 'manual',
    });
    expect(posted.status).toBe(303);
    const finished = await decisionV3(url, session.session_id);
    expect(finished.status).toBe('Approved');
    expect(finished.face_matches[0]).toMatchObject({ status: 'Approved', score: expect.any(Number) });
  });

  it('resubmits the failed steps when none is named, and refuses when none failed or a name is wrong', async () => {
    const { url } = await startSandbox();
    const declined = await createV3(url, { vendor_data: 'a' });
    await control(url, declined.session_id, 'complete', { status: 'Declined' });
    expect((await update(url, declined.session_id, { new_status: 'Resubmitted' })).status).toBe(200);
    const reopened = await decisionV3(url, declined.session_id);
    // A Declined face check shows in the liveness step (KYC basic has no AML).
    expect(reopened.liveness_checks[0].status).toBe('Not Finished');
    expect(reopened.face_matches[0].status).toBe('Approved');

    const approved = await createV3(url, { vendor_data: 'b' });
    await control(url, approved.session_id, 'complete', { status: 'Approved' });
    const nothing = await update(url, approved.session_id, { new_status: 'Resubmitted' });
    expect(nothing.status).toBe(400);
    expect(nothing.body.detail).toContain('nodes_to_resubmit');
    const unknown = await update(url, approved.session_id, { new_status: 'Resubmitted', nodes_to_resubmit: [{ node_id: 'feature_aml' }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.nodes_to_resubmit[0]).toContain('feature_ocr');
    // Didit's own example names the ID step's feature "OCR".
    expect((await update(url, approved.session_id, { new_status: 'Resubmitted', nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }] })).status).toBe(200);
    expect((await decisionV3(url, approved.session_id)).id_verifications[0].status).toBe('Not Finished');
  });
});

describe('DELETE /v3/session/{id}/delete/', () => {
  it('answers 204, then the session is gone from every API, the list and the page', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createV3(url);
    const kept = await createV3(url, { vendor_data: 'kept' });
    await control(url, session.session_id, 'complete', { status: 'Approved' });
    const deleted = await v3(url, 'DELETE', `/v3/session/${session.session_id}/delete/`);
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    const id = session.session_id;
    for (const [method, path, body] of [
      ['GET', `/v3/session/${id}/decision/`, undefined],
      ['GET', `/v3/session/${id}/generate-pdf/`, undefined],
      ['PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Declined' }],
      ['GET', `/v3/sessions/${id}/reviews/`, undefined],
      ['DELETE', `/v3/session/${id}/delete/`, undefined],
    ] as const) {
      const res = await v3(url, method, path, body);
      expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 404`);
      expect(await res.json()).toEqual({ detail: 'Not found.' });
    }
    expect((await api(url, token, 'GET', `/v1/session/${id}/decision/`)).status).toBe(404);
    expect((await fetch(session.url)).status).toBe(404);
    expect((await control(url, id, 'complete', { status: 'Approved' })).status).toBe(404);
    const list = await v3Json(url, 'GET', '/v3/sessions/');
    expect(list.body.results.map((r: { session_id: string }) => r.session_id)).toEqual([kept.session_id]);
  });
});

describe('GET /v3/sessions/', () => {
  it('lists newest first in pages with absolute next/previous links', async () => {
    const { url } = await startSandbox();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createV3(url, { vendor_data: `user-${i}` })).session_id);
    const newestFirst = [...ids].reverse();

    const all = await v3Json(url, 'GET', '/v3/sessions/');
    expect(all.body).toMatchObject({ count: 5, next: null, previous: null });
    expect(all.body.results.map((r: { session_id: string }) => r.session_id)).toEqual(newestFirst);

    const first = await v3Json(url, 'GET', '/v3/sessions/?limit=2&vendor_data=');
    // An empty vendor_data matches no session here: the filter is exact.
    expect(first.body.count).toBe(0);

    const page1 = await v3Json(url, 'GET', '/v3/sessions/?limit=2');
    expect(page1.body.count).toBe(5);
    expect(page1.body.results.map((r: { session_id: string }) => r.session_id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.body.previous).toBeNull();
    expect(page1.body.next).toBe(`${url}/v3/sessions/?limit=2&offset=2`);
    const page2 = (await (await v3(url, 'GET', page1.body.next.slice(url.length))).json()) as Record<string, any>;
    expect(page2.results.map((r: { session_id: string }) => r.session_id)).toEqual(newestFirst.slice(2, 4));
    expect(page2.previous).toBe(`${url}/v3/sessions/?limit=2`);
    expect(page2.next).toBe(`${url}/v3/sessions/?limit=2&offset=4`);
    const page3 = (await (await v3(url, 'GET', page2.next.slice(url.length))).json()) as Record<string, any>;
    expect(page3.results).toHaveLength(1);
    expect(page3.next).toBeNull();
    expect(page3.previous).toBe(`${url}/v3/sessions/?limit=2&offset=2`);

    // A limit past 100 is cut to 100; a bad one is the default.
    expect((await v3Json(url, 'GET', '/v3/sessions/?limit=1000')).body.results).toHaveLength(5);
    expect((await v3Json(url, 'GET', '/v3/sessions/?limit=abc&offset=-1')).body.results).toHaveLength(5);
    const redirected = await v3(url, 'GET', '/v3/sessions?limit=2');
    expect(redirected.status).toBe(301);
    expect(redirected.headers.get('location')).toBe('/v3/sessions/?limit=2');
  });

  it('filters by vendor_data, status list, workflow, country, search and dates; rows in the documented shape', async () => {
    const { url } = await startSandbox();
    const a = await createV3(url, { vendor_data: 'alpha' });
    const b = await createV3(url, { vendor_data: 'beta', workflow_id: KYC_AML_WORKFLOW_ID });
    const c = await createV3(url, { vendor_data: 'gamma', workflow_id: FULL_WORKFLOW_ID, contact_details: { email: 'g@example.com' } });
    await control(url, a.session_id, 'complete', { status: 'Approved', kyc: { first_name: 'Zoë', last_name: 'Quill', issuing_state: 'PRT', document_type: 'Passport' } });
    await control(url, c.session_id, 'complete', { status: 'Declined' });
    const ids = async (query: string) => {
      const res = await v3Json(url, 'GET', `/v3/sessions/?${query}`);
      expect(res.status).toBe(200);
      return res.body.results.map((r: { session_id: string }) => r.session_id);
    };
    expect(await ids('vendor_data=beta')).toEqual([b.session_id]);
    expect(await ids('status=Approved,Declined')).toEqual([c.session_id, a.session_id]);
    expect(await ids('status=Not%20Started')).toEqual([b.session_id]);
    expect(await ids(`workflow_id=${FULL_WORKFLOW_ID.toUpperCase()}`)).toEqual([c.session_id]);
    expect(await ids('country=prt')).toEqual([a.session_id]);
    expect(await ids('search=zo%C3%AB')).toEqual([a.session_id]);
    expect(await ids('search=GAMM')).toEqual([c.session_id]);
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    expect(await ids(`date_from=${today}&date_to=${today}`)).toHaveLength(3);
    expect(await ids(`date_to=${yesterday}`)).toEqual([]);
    expect(await ids('session_kind=business')).toEqual([]);
    expect(await ids('session_kind=all')).toHaveLength(3);
    expect(await v3Json(url, 'GET', '/v3/sessions/?session_kind=robots&date_from=soon')).toEqual({
      status: 400,
      body: { session_kind: ['"robots" is not a valid choice.'], date_from: ['Date has wrong format. Use one of these formats instead: YYYY-MM-DD.'] },
    });

    const rows = (await v3Json(url, 'GET', '/v3/sessions/')).body.results as Record<string, any>[];
    const rowA = rows.find((r) => r.session_id === a.session_id)!;
    expect(rowA).toEqual({
      session_id: a.session_id,
      session_number: a.session_number,
      session_kind: 'user',
      session_url: a.url,
      portrait_image: expect.stringContaining(a.session_id),
      document_type: 'P',
      full_name: 'Zoë Quill',
      country: 'PRT',
      status: 'Approved',
      vendor_data: 'alpha',
      created_at: expect.stringMatching(/Z$/),
      features: [
        { feature: 'ID_VERIFICATION', status: 'Approved' },
        { feature: 'LIVENESS', status: 'Approved' },
        { feature: 'FACE_MATCH', status: 'Approved' },
      ],
      phone_number: null,
      email_address: null,
    });
    const rowB = rows.find((r) => r.session_id === b.session_id)!;
    expect(rowB).toMatchObject({ full_name: null, document_type: null, country: null, portrait_image: null });
    expect(rowB.features.every((f: { status: string }) => f.status === 'Not Finished')).toBe(true);
    const rowC = rows.find((r) => r.session_id === c.session_id)!;
    expect(rowC.email_address).toEqual({ email: 'g@example.com', is_verified: true });
    expect(rowC.phone_number).toEqual({ number: expect.stringMatching(/^\+\d+$/), is_verified: true });
  });
});

describe('/v3/sessions/{id}/reviews/', () => {
  it('posts a review that sets the status, and lists the feed newest first in pages', async () => {
    const { url } = await startSandbox();
    const session = await createV3(url);
    const path = `/v3/sessions/${session.session_id}/reviews/`;
    expect((await v3Json(url, 'POST', path, { new_status: 'Approved' })).status).toBe(400);
    expect(await v3Json(url, 'GET', path)).toEqual({ status: 200, body: { count: 0, next: null, previous: null, results: [] } });

    await control(url, session.session_id, 'complete', { status: 'Approved' });
    expect(await v3Json(url, 'POST', path, { new_status: 'Resubmitted' })).toEqual({ status: 400, body: { new_status: ['"Resubmitted" is not a valid choice.'] } });
    expect(await v3Json(url, 'POST', path, { comment: 'x'.repeat(10_001) })).toEqual({
      status: 400,
      body: { new_status: ['This field is required.'], comment: ['Ensure this field has no more than 10000 characters.'] },
    });
    const posted = await v3Json(url, 'POST', path, { new_status: 'In Review', comment: 'Second look' });
    expect(posted).toEqual({ status: 201, body: { user: 'API Client', new_status: 'In Review', comment: 'Second look', created_at: expect.stringMatching(/Z$/) } });
    expect((await decisionV3(url, session.session_id)).status).toBe('In Review');
    await v3Json(url, 'PATCH', `/v3/session/${session.session_id}/update-status/`, { new_status: 'Declined', comment: 'Fake' });

    const feed = await v3Json(url, 'GET', path);
    expect(feed.body.count).toBe(2);
    expect(feed.body.results.map((r: { new_status: string; previous_status: string }) => [r.previous_status, r.new_status])).toEqual([
      ['In Review', 'Declined'],
      ['Approved', 'In Review'],
    ]);
    expect(feed.body.results[0].uuid).toMatch(/^[0-9a-f-]{36}$/);
    const oldest = await v3Json(url, 'GET', `${path}?ordering=created_at&limit=1`);
    expect(oldest.body.results.map((r: { new_status: string }) => r.new_status)).toEqual(['In Review']);
    expect(oldest.body.next).toBe(`${url}${path}?ordering=created_at&limit=1&offset=1`);
  });
});

describe('control endpoints', () => {
  it('expire, abandon and Kyc-expire sessions, refusing what does not fit (409)', async () => {
    const { url } = await startSandbox();
    const expiring = await createV3(url, { vendor_data: 'e' });
    expect((await control(url, expiring.session_id, 'expire')).status).toBe(200);
    expect((await decisionV3(url, expiring.session_id)).status).toBe('Expired');
    expect((await control(url, expiring.session_id, 'expire')).status).toBe(409);
    const update = await v3Json(url, 'PATCH', `/v3/session/${expiring.session_id}/update-status/`, { new_status: 'Approved' });
    expect(update.status).toBe(400);

    const leaving = await createV3(url, { vendor_data: 'l' });
    expect((await control(url, leaving.session_id, 'abandon')).status).toBe(200);
    const abandoned = await decisionV3(url, leaving.session_id);
    expect(abandoned.status).toBe('Abandoned');
    expect(abandoned.id_verifications).toBeNull();
    // An abandoned session can be reopened for named steps.
    const reopen = await v3Json(url, 'PATCH', `/v3/session/${leaving.session_id}/update-status/`, {
      new_status: 'Resubmitted',
      nodes_to_resubmit: [{ node_id: 'feature_ocr' }],
    });
    expect(reopen.status).toBe(200);
    expect((await control(url, leaving.session_id, 'complete', { status: 'Approved' })).status).toBe(200);

    const approved = await createV3(url, { vendor_data: 'k' });
    expect((await control(url, approved.session_id, 'kyc-expire')).status).toBe(409);
    await control(url, approved.session_id, 'complete', { status: 'Approved' });
    const kycExpired = await control(url, approved.session_id, 'kyc-expire');
    expect(kycExpired.status).toBe(200);
    expect(((await kycExpired.json()) as Decision).kyc!.status).toBe('Expired');
    const decision = await decisionV3(url, approved.session_id);
    expect([decision.status, decision.id_verifications[0].status]).toEqual(['Kyc Expired', 'Expired']);
    expect((await v3Json(url, 'PATCH', `/v3/session/${approved.session_id}/update-status/`, { new_status: 'Approved' })).status).toBe(200);
    expect((await control(url, randomUUID(), 'abandon')).status).toBe(404);
  });
});

describe('one session, both APIs', () => {
  it('reads a v1 session over v3 and a v3 session over v1, with the same data', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const v1Session = await createSession(url, token, { callback: 'https://example.com/cb', features: 'OCR + FACE + AML', vendor_data: 'v1-user' });
    await control(url, v1Session.session_id, 'complete', { status: 'Approved' });
    const overV3 = await decisionV3(url, v1Session.session_id);
    const overV1 = (await (await api(url, token, 'GET', `/v1/session/${v1Session.session_id}/decision/`)).json()) as Decision;
    expect(overV3).toMatchObject({ workflow_id: null, features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH', 'AML', 'IP_ANALYSIS'], vendor_data: 'v1-user' });
    expect(overV3.id_verifications[0]).toMatchObject({ document_number: overV1.kyc!.document_number, full_name: overV1.kyc!.full_name });
    expect(overV3.aml_screenings[0].total_hits).toBe(overV1.aml!.total_hits);
    expect(overV3.ip_analyses[0].ip_address).toBe(overV1.location!.ip_address);

    const v3Session = await createV3(url, { workflow_id: KYC_AML_WORKFLOW_ID });
    await control(url, v3Session.session_id, 'complete', { status: 'In Review' });
    await v3Json(url, 'PATCH', `/v3/session/${v3Session.session_id}/update-status/`, { new_status: 'Approved', comment: 'ok' });
    const v1Read = (await (await api(url, token, 'GET', `/v1/session/${v3Session.session_id}/decision/`)).json()) as Decision;
    const v3Read = await decisionV3(url, v3Session.session_id);
    expect(v1Read).toMatchObject({ status: 'Approved', features: 'OCR + FACE + AML', reviews: v3Read.reviews });
    expect(v1Read.kyc!.document_number).toBe(v3Read.id_verifications[0].document_number);
    expect(v1Read.face!.face_match_similarity).toBe(v3Read.face_matches[0].score);
    // And v1's update-status works on it too, seen over v3.
    await api(url, token, 'PATCH', `/v1/session/${v3Session.session_id}/update-status/`, { new_status: 'Declined' });
    expect((await decisionV3(url, v3Session.session_id)).status).toBe('Declined');
  });
});

describe('v3 rate limits', () => {
  it('adds X-RateLimit-* headers to an injected 429 on v3 routes only', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createV3(url);
    sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 7, times: 2 });
    const throttled = await v3(url, 'GET', `/v3/session/${session.session_id}/decision/`);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    expect(throttled.headers.get('x-ratelimit-limit')).toBe('100');
    expect(throttled.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(throttled.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 6);
    const v1 = await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/`);
    expect(v1.status).toBe(429);
    expect(v1.headers.get('x-ratelimit-limit')).toBeNull();
    // The new endpoint names can be faulted too.
    sandbox.injectFault({ kind: 'status', endpoint: 'list', status: 502 });
    expect((await v3(url, 'GET', '/v3/sessions/')).status).toBe(502);
    expect((await v3(url, 'GET', '/v3/sessions/')).status).toBe(200);
  });

  it('with rateLimits on, allows 100 decisions a minute per key, then 429 until the window moves (fake clock)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { url } = await startSandbox({ rateLimits: true });
    const session = await createV3(url);
    const path = `/v3/session/${session.session_id}/decision/`;
    let last: Response | undefined;
    for (let i = 0; i < 100; i++) {
      last = await v3(url, 'GET', path);
      expect(last.status).toBe(200);
    }
    expect(last!.headers.get('x-ratelimit-limit')).toBe('100');
    expect(last!.headers.get('x-ratelimit-remaining')).toBe('0');
    const refused = await v3(url, 'GET', path);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toEqual({ detail: expect.stringContaining('throttled') });
    // Other scopes are not full.
    expect((await v3(url, 'GET', '/v3/workflows/')).status).toBe(200);
    vi.advanceTimersByTime(60_000);
    const again = await v3(url, 'GET', path);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-ratelimit-remaining')).toBe('99');
  });
});

describe('state file', () => {
  it('keeps a v3 session, its workflow, review feed and reuse across a restart', async () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'sandbox-v3-')), 'state.json');
    const first = await startSandbox({ stateFile });
    const open = await createV3(first.url, { vendor_data: 'keep-open', metadata: { k: 1 } });
    const done = await createV3(first.url, { vendor_data: 'keep-done' });
    await control(first.url, done.session_id, 'complete', { status: 'In Review' });
    await v3Json(first.url, 'POST', `/v3/sessions/${done.session_id}/reviews/`, { new_status: 'Approved' });
    await first.sandbox.close();

    const second = await startSandbox({ stateFile });
    expect(await decisionV3(second.url, open.session_id)).toMatchObject({ workflow_id: KYC_BASIC_WORKFLOW_ID, metadata: { k: 1 } });
    expect((await createV3(second.url, { vendor_data: 'keep-open' })).session_id).toBe(open.session_id);
    expect((await v3Json(second.url, 'GET', `/v3/sessions/${done.session_id}/reviews/`)).body.count).toBe(1);
    expect((await createV3(second.url, { vendor_data: 'new' })).session_number).toBe(3);
  });
});

describe('the gateway\'s own v3 client', () => {
  it('creates, reads, reviews, resubmits and downloads against the sandbox', async () => {
    const { url } = await startSandbox();
    const client = createDiditV3Client({ apiKey: API_KEY, apiUrl: url, defaultWorkflowId: KYC_AML_WORKFLOW_ID, maxRetries: 0 });
    try {
      const created = await client.createSession({ vendorData: 'gw-1', callback: 'https://example.com/cb', metadata: { a: 1 }, contactDetails: { email: 'x@example.com' } });
      expect(created).toMatchObject({ workflowId: KYC_AML_WORKFLOW_ID, status: 'Not Started', metadata: { a: 1 } });
      await control(url, created.id, 'complete', { status: 'In Review' });
      const decision = await client.getDecision(created.id);
      expect(decision).toMatchObject({ status: 'In Review', features: ['OCR', 'FACE', 'AML'] });
      expect(decision.kyc?.documentNumber).toBe(personaFor(created.id).kyc.document_number);
      expect(decision.face?.faceMatchSimilarity).toEqual(expect.any(Number));
      expect(decision.location?.documentLocation).toEqual(expect.objectContaining({ latitude: expect.any(Number) }));
      expect(decision.amlScreenings?.[0]?.nodeId).toBe('feature_aml');
      await client.updateStatus(created.id, { status: 'Approved', comment: 'ok' });
      // The same status again is a no-op upstream, so the client sees success too.
      await client.updateStatus(created.id, { status: 'Approved' });
      const pdf = await client.streamPdf(created.id);
      expect(pdf.contentType).toBe('application/pdf');
      pdf.body.resume();
      await client.updateStatus(created.id, { status: 'Resubmitted', nodesToResubmit: [{ node_id: 'feature_liveness', feature: 'LIVENESS' }] });
      expect((await client.getDecision(created.id)).livenessChecks?.[0]?.status).toBe('Not Finished');
    } finally {
      await client.close();
    }
  });
});
