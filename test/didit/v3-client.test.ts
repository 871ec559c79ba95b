import { afterEach, describe, expect, it } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import { DiditBadRequestError, DiditInvalidInputError, DiditUnavailableError } from '../../src/didit/errors.ts';
import { json, startFakeUpstream, type RecordedRequest } from '../support/fake-upstream.ts';

const KEY = 'test-api-key-0123456789';
const SESSION = '3f0c8c2e-8a51-4b8e-9a3a-0f1f7b9e2d11';
const WORKFLOW = 'a2b4c6d8-1234-4abc-8def-0123456789ab';
const CREATED = {
  session_id: SESSION,
  session_number: 7,
  session_token: 'tok',
  url: 'https://verify.didit.me/session/tok',
  vendor_data: 'user-1',
  metadata: { plan: 'gold' },
  status: 'Not Started',
  workflow_id: WORKFLOW,
  callback: 'https://app.example.com/done',
};
/** A v3 decision as Didit documents it (trimmed), with a second ID step and a non-array list. */
const DECISION = {
  session_id: SESSION,
  session_number: 7,
  session_url: 'https://verify.didit.me/session/tok',
  status: 'Approved',
  workflow_id: WORKFLOW,
  features: ['ID_VERIFICATION', 'LIVENESS', 'FACE_MATCH', 'AML', 'IP_ANALYSIS', 'POA'],
  vendor_data: 'user-1',
  metadata: { plan: 'gold' },
  callback: 'https://app.example.com/done',
  created_at: '2026-04-28T09:52:23.753587Z',
  id_verifications: [
    { node_id: 'feature_ocr', status: 'Approved', document_type: 'Passport', full_name: 'Ana Lima', date_of_birth: '1990-01-15', warnings: [] },
    { node_id: 'feature_ocr_2', status: 'Declined', document_type: 'Identity Card', warnings: [{ risk: 'DOCUMENT_EXPIRED', feature: 'ID_VERIFICATION', node_id: 'feature_ocr_2', log_type: 'error', short_description: 'Expired', long_description: 'The document has expired', additional_data: null }] },
  ],
  liveness_checks: [{ node_id: 'feature_liveness', status: 'Approved', method: 'FLASHING', score: 99.03, age_estimation: 27.3, video_url: null, warnings: [] }],
  face_matches: [{ node_id: 'feature_face_match', status: 'Approved', score: 95.26, source_image: 'https://m.example/s.jpg', target_image: 'https://m.example/t.jpg', warnings: [] }],
  aml_screenings: [{ node_id: 'feature_aml', status: 'In Review', total_hits: 1, score: 92, hits: [{ id: 'hit-1', caption: 'Ana Lima', match: false, score: 0.92, datasets: ['PEP'] }], warnings: [] }],
  ip_analyses: [
    {
      node_id: 'feature_ip_analysis',
      status: 'Approved',
      ip_address: '203.0.113.42',
      ip_country: 'Portugal',
      is_vpn_or_tor: false,
      time_zone_offset: 0,
      ip: { location: { latitude: 38.7, longitude: -9.1 }, distance_from_id_document: { distance: 12.5, direction: 'NE' } },
      id_document: { location: { latitude: 38.8, longitude: -9.2 } },
      warnings: [],
    },
  ],
  poa_verifications: [{ node_id: 'feature_poa', status: 'Approved', document_type: 'UTILITY_BILL', poa_address: 'Rua 1, Lisboa', warnings: [] }],
  nfc_verifications: null,
  phone_verifications: 'not a list',
  email_verifications: null,
  database_validations: null,
  reviews: [{ actor_display: 'API Client', new_status: 'Approved', comment: 'ok', created_at: '2026-04-28T10:00:00Z' }],
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(routes: Parameters<typeof startFakeUpstream>[0], options: { maxRetries?: number } = {}) {
  const upstream = await startFakeUpstream(routes);
  const client = createDiditClient({ apiKey: KEY, apiUrl: upstream.url, defaultWorkflowId: WORKFLOW, retryMinDelayMs: 5, retryMaxDelayMs: 10, maxRetries: options.maxRetries ?? 2 });
  cleanups.push(async () => {
    await client.close();
    await upstream.close();
  });
  return { upstream, client };
}

const keyOf = (request: RecordedRequest) => request.headers['x-api-key'];

describe('Didit v3 client on the wire', () => {
  it('creates a session with the documented body and the API key, and no token request', async () => {
    const { upstream, client } = await setup({ 'POST /v3/session/': (_, res) => json(res, 201, CREATED) });
    const created = await client.createSession({
      callback: 'https://app.example.com/done',
      vendorData: 'user-1',
      metadata: { plan: 'gold' },
      language: 'pt',
      callbackMethod: 'both',
      contactDetails: { email: 'ana@example.com', sendNotificationEmails: true, emailLang: 'pt', phone: '+351912345678' },
      expectedDetails: { firstName: 'Ana', dateOfBirth: '1990-01-15', idCountry: 'PRT' },
    });
    expect(created.id).toBe(SESSION);
    expect(upstream.unexpected).toEqual([]);
    const [request] = upstream.requests;
    expect(keyOf(request!)).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({
      workflow_id: WORKFLOW,
      vendor_data: 'user-1',
      callback: 'https://app.example.com/done',
      callback_method: 'both',
      metadata: { plan: 'gold' },
      language: 'pt',
      contact_details: { email: 'ana@example.com', send_notification_emails: true, email_lang: 'pt', phone: '+351912345678' },
      expected_details: { first_name: 'Ana', date_of_birth: '1990-01-15', id_country: 'PRT' },
    });
  });

  it('refuses v1-only and malformed input before any request', async () => {
    const { upstream, client } = await setup({});
    const refusals: Array<[Parameters<typeof client.createSession>[0], string]> = [
      [{ features: ['OCR'] }, 'features'],
      [{ workflowId: 'not-a-uuid' }, 'workflowId'],
      [{ language: 'Portuguese' }, 'language'],
      [{ metadata: [] as unknown as Record<string, unknown> }, 'metadata'],
      [{ contactDetails: { phone: '912345678' } }, 'contactDetails.phone'],
      [{ expectedDetails: { shoeSize: '42' } }, 'expectedDetails.shoeSize'],
      [{ expectedDetails: { dateOfBirth: '15/01/1990' } }, 'expectedDetails.dateOfBirth'],
      [{ callbackMethod: 'sometimes' as 'both' }, 'callbackMethod'],
    ];
    for (const [params, field] of refusals) {
      const error = await client.createSession(params).catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(DiditInvalidInputError);
      expect((error as DiditInvalidInputError).field).toBe(field);
    }
    await expect(client.updateStatus(SESSION, { status: 'Approved', nodesToResubmit: [{ node_id: 'feature_ocr' }] })).rejects.toBeInstanceOf(DiditInvalidInputError);
    await expect(client.updateStatus(SESSION, { status: 'Resubmitted', sendEmail: true })).rejects.toBeInstanceOf(DiditInvalidInputError);
    expect(upstream.requests).toEqual([]);
  });

  it('normalises the v3 decision into the model the schema reads, and keeps every step list', async () => {
    const { upstream, client } = await setup({ [`GET /v3/session/${SESSION}/decision/`]: (_, res) => json(res, 200, DECISION) });
    const decision = await client.getDecision(SESSION.toUpperCase());
    expect(upstream.unexpected).toEqual([]);
    expect(keyOf(upstream.requests[0]!)).toBe(KEY);
    expect(decision.features).toEqual(['OCR', 'FACE', 'AML']);
    expect(decision.kyc).toMatchObject({ nodeId: 'feature_ocr', fullName: 'Ana Lima' });
    expect(decision.face).toMatchObject({ faceMatchSimilarity: 95.26, livenessConfidence: 99.03, faceMatchStatus: 'Approved', livenessStatus: 'Approved' });
    expect(decision.aml).toMatchObject({ totalHits: 1, hits: [{ id: 'hit-1' }] });
    expect(decision.location).toMatchObject({
      ipCountry: 'Portugal',
      timeZoneOffset: '0',
      ipLocation: { latitude: 38.7, longitude: -9.1 },
      documentLocation: { latitude: 38.8, longitude: -9.2 },
      distanceFromDocumentToIpKm: { distance: 12.5, direction: 'NE' },
    });
    expect(decision.warnings.map((w) => w.risk)).toEqual(['DOCUMENT_EXPIRED']);
    expect(decision.reviews).toEqual([{ user: 'API Client', newStatus: 'Approved', previousStatus: null, activityType: null, comment: 'ok', createdAt: '2026-04-28T10:00:00Z' }]);
    expect(decision.idVerifications).toHaveLength(2);
    expect(decision.poaVerifications?.[0]).toMatchObject({ address: 'Rua 1, Lisboa', raw: expect.objectContaining({ poa_address: 'Rua 1, Lisboa' }) });
    expect(decision.phoneVerifications).toBeNull();
    expect(decision.workflowId).toBe(WORKFLOW);
  });

  it('retries a create with vendor data after a lost answer, and never one without', async () => {
    let calls = 0;
    const { upstream, client } = await setup({
      'POST /v3/session/': (_, res) => (++calls === 1 ? json(res, 503, { detail: 'busy' }) : json(res, 201, CREATED)),
    });
    await expect(client.createSession({ vendorData: 'user-1' })).resolves.toMatchObject({ id: SESSION });
    expect(upstream.requests).toHaveLength(2);
    calls = 0;
    await expect(client.createSession({})).rejects.toBeInstanceOf(DiditUnavailableError);
    expect(upstream.requests).toHaveLength(3);
  });

  it('retries update-status, and takes "same status" as done when the session has it', async () => {
    let patches = 0;
    let status = 'In Review';
    const { upstream, client } = await setup({
      [`PATCH /v3/session/${SESSION}/update-status/`]: (req, res) => {
        patches += 1;
        const wanted = JSON.parse(req.body).new_status;
        if (patches === 1) {
          // The change is made, but the answer is lost.
          status = wanted;
          return void res.destroy();
        }
        if (wanted === status) return json(res, 400, { detail: 'The new status is the same as the current status.' });
        status = wanted;
        json(res, 200, { session_id: SESSION });
      },
      [`GET /v3/session/${SESSION}/decision/`]: (_, res) => json(res, 200, { ...DECISION, status }),
    });
    await client.updateStatus(SESSION, { status: 'Resubmitted', comment: 'Document blurred', nodesToResubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }] });
    expect(status).toBe('Resubmitted');
    expect(upstream.unexpected).toEqual([]);
    expect(JSON.parse(upstream.requests[0]!.body)).toEqual({ new_status: 'Resubmitted', comment: 'Document blurred', nodes_to_resubmit: [{ node_id: 'feature_ocr', feature: 'OCR' }] });
    // A real refusal (a status the session does not have) still fails.
    const refused = await startFakeUpstream({
      [`PATCH /v3/session/${SESSION}/update-status/`]: (_, res) => json(res, 400, { detail: 'Wrong Current Status' }),
      [`GET /v3/session/${SESSION}/decision/`]: (_, res) => json(res, 200, { ...DECISION, status: 'In Progress' }),
    });
    const strict = createDiditClient({ apiKey: KEY, apiUrl: refused.url, maxRetries: 0 });
    cleanups.push(async () => {
      await strict.close();
      await refused.close();
    });
    await expect(strict.updateStatus(SESSION, { status: 'Approved' })).rejects.toBeInstanceOf(DiditBadRequestError);
  });

  it('streams the PDF from the slashed path with the key', async () => {
    const { upstream, client } = await setup({
      [`GET /v3/session/${SESSION}/generate-pdf/`]: (_, res) => res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': '8' }).end('%PDF-1.7'),
    });
    const pdf = await client.streamPdf(SESSION);
    const chunks: Buffer[] = [];
    for await (const chunk of pdf.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('%PDF-1.7');
    expect(pdf.filename).toBe(`session_${SESSION}.pdf`);
    expect(keyOf(upstream.requests[0]!)).toBe(KEY);
    expect(upstream.unexpected).toEqual([]);
  });
});
