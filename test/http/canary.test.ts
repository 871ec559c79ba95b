import type { DiditV1Client } from '../../src/didit/v1.ts';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CreateSessionDocument, FullDecisionDocument, GenerateSessionPdfDocument, UpdateSessionStatusDocument } from '../../src/generated/graphql.ts';
import { STATUS_SUBSCRIPTION, subscribeSse } from '../support/subscriptions.ts';
import { startTracing, type Tracing } from '../../src/tracing-sdk.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { setOtelEnv, startOtlpReceiver, type OtlpReceiver } from '../support/otlp.ts';

/** Recognisable personal data and secrets: none may appear in a log line or an error. */
const PERSON = {
  first_name: 'Quennevieve',
  last_name: 'Zarkowitzsky',
  full_name: 'Quennevieve Zarkowitzsky',
  document_number: 'CNRY4815162342',
  personal_number: 'PN-99887766-CANARY',
  date_of_birth: '1911-11-11',
  address: '42 Canarywharf Lane, Ploughtown',
  formatted_address: '42 Canarywharf Lane, 99999 Ploughtown, Utopia',
  place_of_birth: 'Canaryville',
  portrait_image: 'https://images.example.com/portrait-canary-7731.jpg',
};
const SECRETS = {
  SANDBOX_CLIENT_SECRET: 'canary-didit-client-secret-5521',
  AUTH_JWT_SECRET: 'canary-jwt-secret-that-is-long-enough-3377',
  PDF_LINK_SECRET: 'canary-pdf-link-secret-that-is-long-enough-9913',
  DIDIT_WEBHOOK_SECRET: 'canary-webhook-secret-4242',
};
const SUB = 'applicant-canary-sub-6060';

let gw: TestGateway;
// Traces on, exported to a real OTLP receiver: spans are checked like logs.
let receiver: OtlpReceiver;
let tracing: Tracing | undefined;
let restoreEnv: () => void;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  restoreEnv = setOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '20' });
  tracing = await startTracing(process.env);
  gw = await startTestGateway({ ...SECRETS, LOG_LEVEL: 'trace' });
});
afterAll(async () => {
  await gw.close();
  await tracing?.shutdown();
  restoreEnv();
  await receiver.close();
});

it('a whole flow with recognisable personal data leaves none of it, nor any secret, in logs, errors or spans', async () => {
  const applicant = await gw.token(SUB);
  const reviewer = await gw.token('canary-office', ['reviewer']);
  const stranger = await gw.token('stranger');
  const errors: unknown[] = [];
  const keep = <T extends { errors?: unknown[] }>(result: T) => {
    errors.push(...(result.errors ?? []));
    return result;
  };

  const created = keep(await gw.run(applicant, CreateSessionDocument, { input: { callback: 'http://localhost:3000/done', features: ['OCR', 'FACE', 'AML'] } }));
  const id = created.data!.createSession.session.id;
  const sub = subscribeSse(gw.url, applicant, STATUS_SUBSCRIPTION, { id });
  await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));
  gw.sandboxInstance.complete(id, 'In Review', { kyc: PERSON });
  await sub.next(2);
  await sub.close();

  const read = keep(await gw.run(reviewer, FullDecisionDocument, { id }));
  expect(read.data!.session!.decision!.kyc!.fullName).toBe(PERSON.full_name); // the data flows where it should
  keep(await gw.run(stranger, FullDecisionDocument, { id }));
  keep(await gw.run(applicant, CreateSessionDocument, { input: { callback: `https://evil.example/${PERSON.full_name}`, vendorData: PERSON.document_number } }));
  keep(await gw.post(applicant, 'query($id: ID!) { session(id: $id) { id } }', { id: PERSON.document_number }));
  keep(await gw.post(reviewer, 'mutation($i: UpdateSessionStatusInput!) { updateSessionStatus(input: $i) { session { id } } }', { i: { sessionId: id, status: 'APPROVED', comment: `${PERSON.full_name} ${'x'.repeat(1000)}` } }));
  for (const fault of ['malformed', 'status', 'drop'] as const) {
    gw.sandboxInstance.injectFault({ kind: fault, endpoint: 'decision', times: 5 });
    gw.services.decisionCache.delete(id);
    keep(await gw.run(reviewer, FullDecisionDocument, { id }));
    gw.sandboxInstance.clearFaults();
  }
  keep(await gw.run(reviewer, UpdateSessionStatusDocument, { input: { sessionId: id, status: 'DECLINED', comment: `Declined: ${PERSON.full_name}` } }));
  const pdf = keep(await gw.run(reviewer, GenerateSessionPdfDocument, { sessionId: id }));
  const link = new URL(pdf.data!.generateSessionPdf.url);
  const download = await fetch(`${gw.url}${link.pathname}${link.search}`);
  expect(download.status).toBe(200);
  await download.arrayBuffer();
  const badLink = await (await fetch(`${gw.url}${link.pathname}?expires=1&signature=x`)).text();
  const webhook = await (await fetch(`${gw.url}/webhooks/didit`, { method: 'POST', headers: { 'x-signature': 'ab', 'x-timestamp': '1' }, body: JSON.stringify({ full_name: PERSON.full_name }) })).text();

  const diditToken = await (gw.services.didit as DiditV1Client).tokens.get();
  const forbidden = [...Object.values(PERSON), ...Object.values(SECRETS), SUB, applicant, reviewer, diditToken, link.searchParams.get('signature')!];
  const logs = gw.logs.text;
  const errorText = JSON.stringify(errors) + badLink + webhook;
  // Every request of the flow is in the spans (the last one, the webhook, ends its trace).
  await vi.waitFor(() => expect(receiver.spans.some((span) => span.name === 'POST /webhooks/didit' && span.attributes['http.response.status_code'] === 401)).toBe(true));
  const spans = JSON.stringify(receiver.raw);
  expect(receiver.spans.some((span) => span.name === 'GET /v1/session/{id}/decision/')).toBe(true);
  expect(receiver.spans.some((span) => span.name === 'query FullDecision')).toBe(true);
  expect(errors.length).toBe(7);
  expect(gw.logs.lines.length).toBeGreaterThan(5);
  for (const value of forbidden) {
    expect(logs, `log contains ${value.slice(0, 12)}…`).not.toContain(value);
    expect(errorText, `error contains ${value.slice(0, 12)}…`).not.toContain(value);
    expect(spans, `a span contains ${value.slice(0, 12)}…`).not.toContain(value);
  }
});
