import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreateSessionDocument, FullDecisionDocument } from '../../src/generated/graphql.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { tracingOn } from '../../src/lib/tracing.ts';
import { routeTemplate } from '../../src/didit/transport.ts';
import { startTracing, tracingSettings, type Tracing } from '../../src/tracing-sdk.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { setOtelEnv, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp.ts';
import { startRedis } from '../support/redis.ts';
import { subscribeWs } from '../support/subscriptions.ts';

/** The caller's own trace, which the gateway must continue. */
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

describe.each(['http/protobuf', 'http/json'] as const)('traces over OTLP %s, one read end to end', (protocol) => {
  let receiver: OtlpReceiver;
  let tracing: Tracing | undefined;
  let restoreEnv: () => void;
  let redis: ChildProcess;
  let gw: TestGateway;
  let read: ReceivedSpan[];
  let sessionId: string;
  let token: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    restoreEnv = setOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_SERVICE_NAME: 'gateway-under-test', OTEL_BSP_SCHEDULE_DELAY: '50' });
    tracing = await startTracing(process.env);
    const port = await freePort();
    redis = await startRedis(port);
    gw = await startTestGateway({ REDIS_URL: `redis://127.0.0.1:${port}`, DECISION_CACHE_KEY: randomBytes(32).toString('base64') });

    token = await gw.token('traced-office', ['reviewer']);
    const created = await gw.run(token, CreateSessionDocument, { input: { callback: 'http://localhost:3000/done', vendorData: 'traced-applicant' } });
    sessionId = created.data!.createSession.session.id;
    gw.sandboxInstance.complete(sessionId, 'Approved');
    gw.sandboxInstance.resetRequests();
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ query: (await import('graphql')).print(FullDecisionDocument), variables: { id: sessionId }, operationName: 'FullDecision' }),
    });
    expect(response.status).toBe(200);
    await response.json();
    await vi.waitFor(() => expect(receiver.spans.filter((s) => s.traceId === CALLER_TRACE).some((s) => s.kind === SpanKind.SERVER + 1)).toBe(true), { timeout: 5000 });
    await vi.waitFor(() => expect(receiver.spans.some((s) => s.traceId === CALLER_TRACE && s.name.startsWith('GET /v'))).toBe(true), { timeout: 5000 });
    read = receiver.spans.filter((s) => s.traceId === CALLER_TRACE);
  });
  afterAll(async () => {
    await gw?.close();
    await tracing?.shutdown();
    restoreEnv();
    redis?.kill();
    await receiver.close();
  });

  const one = (predicate: (span: ReceivedSpan) => boolean, what: string) => {
    const found = read.filter(predicate);
    expect(found, `${what} in ${read.map((s) => s.name).join(', ')}`).toHaveLength(1);
    return found[0]!;
  };

  it('exports with the chosen protocol and service name', () => {
    expect([...receiver.contentTypes]).toEqual([protocol === 'http/json' ? 'application/json' : 'application/x-protobuf']);
    expect(read.every((span) => span.service === 'gateway-under-test')).toBe(true);
  });

  it('continues the caller\'s trace: HTTP server span, GraphQL operation, budget, cache, Didit call, Redis', () => {
    // OTLP's SpanKind is the API's plus one (0 is "unspecified").
    const server = one((s) => s.name === 'POST /graphql', 'the server span');
    expect(server.parentSpanId).toBe(CALLER_SPAN);
    expect(server.kind).toBe(SpanKind.SERVER + 1);
    expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 });

    const operation = one((s) => s.name === 'query FullDecision', 'the operation span');
    expect(operation.parentSpanId).toBe(server.spanId);
    expect(operation.attributes).toMatchObject({ 'graphql.operation.type': 'query', 'graphql.operation.name': 'FullDecision', 'gateway.caller.reviewer': true });
    expect(operation.attributes['enduser.pseudo.id']).toMatch(/^[\w-]{22}$/);

    // The decision was not kept (complete() dropped nothing, but no read happened yet): a miss, then Didit.
    const lookups = read.flatMap((s) => s.events).filter((e) => e.name === 'decision_cache.lookup');
    expect(lookups.map((e) => e.attributes['cache.outcome'])).toContain('miss');

    const charge = one((s) => s.name === 'budget.charge', 'the budget span');
    expect(charge.attributes).toMatchObject({ 'didit.endpoint': 'decision' });

    const didit = one((s) => s.name === 'GET /v1/session/{id}/decision/', 'the Didit client span');
    expect(didit.kind).toBe(SpanKind.CLIENT + 1);
    expect(didit.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.template': '/v1/session/{id}/decision/', 'http.response.status_code': 200, 'http.request.resend_count': 0, 'didit.endpoint': 'decision' });
    // The traceparent Didit got names this trace and the client span.
    const sent = gw.sandboxInstance.requests.filter((r) => r.endpoint === 'decision');
    expect(sent.map((r) => r.traceparent)).toEqual([`00-${CALLER_TRACE}-${didit.spanId}-01`]);

    const redisSpans = read.filter((s) => s.attributes['db.system.name'] === 'redis');
    expect(new Set(redisSpans.map((s) => s.attributes['gateway.component']))).toEqual(new Set(['budget', 'decision-cache']));
    expect(redisSpans.every((s) => /^redis [A-Z]+$/.test(s.name))).toBe(true);
  });

  it('traces a Didit webhook through to the published event', async () => {
    const approved = (s: ReceivedSpan) => s.name === 'status_events.publish' && s.attributes['didit.status'] === 'Approved';
    await vi.waitFor(() => expect(receiver.spans.some(approved)).toBe(true), { timeout: 5000 });
    const publish = receiver.spans.find(approved)!;
    const server = receiver.spans.find((s) => s.spanId === publish.parentSpanId)!;
    expect(server.name).toBe('POST /webhooks/didit');
    expect(server.events).toContainEqual({ name: 'webhook.delivery', attributes: { 'webhook.outcome': 'accepted' } });
    // The event went through Redis (status events' commands), within the publish span, and its
    // delivery from the stream (on every instance; here the one) continues the same trace.
    expect(receiver.spans.some((s) => s.parentSpanId === publish.spanId && s.attributes['gateway.component'] === 'status-events')).toBe(true);
    await vi.waitFor(() => expect(receiver.spans.some((s) => s.name === 'status_events.deliver' && s.parentSpanId === publish.spanId)).toBe(true), { timeout: 5000 });
    const deliver = receiver.spans.find((s) => s.name === 'status_events.deliver' && s.parentSpanId === publish.spanId)!;
    expect(deliver).toMatchObject({ traceId: publish.traceId, kind: SpanKind.CONSUMER + 1, attributes: { 'didit.status': 'Approved' } });
  });

  it('gives latencies exemplars with the trace id, in OpenMetrics', async () => {
    const response = await fetch(`${gw.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    const text = await response.text();
    expect(text).toMatch(new RegExp(`gateway_graphql_operation_duration_seconds_bucket\\{[^}]*operation="FullDecision"[^}]*\\} 1 # \\{trace_id="${CALLER_TRACE}"\\}`));
    expect(text).toMatch(new RegExp(`gateway_didit_request_duration_seconds_bucket\\{[^}]*endpoint="decision"[^}]*\\} 1 # \\{trace_id="${CALLER_TRACE}"\\}`));
    // Counter samples keep their names (OpenMetrics names the family without _total).
    expect(text).toContain('gateway_decision_cache_lookups_total{outcome="miss"}');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('gives a WebSocket operation a server span that continues the traceparent of its extensions', async () => {
    const [traceId, parentId] = [randomBytes(16).toString('hex'), randomBytes(8).toString('hex')];
    const ws = subscribeWs(gw.url, token, 'query WsRead($id: ID!) { session(id: $id) { status } }', { id: sessionId }, { traceparent: `00-${traceId}-${parentId}-01` });
    expect((await ws.next(1))[0]).toMatchObject({ data: { session: { status: 'APPROVED' } } });
    await ws.close();
    const server = (s: ReceivedSpan) => s.traceId === traceId && s.name === 'WS /graphql';
    await vi.waitFor(() => expect(receiver.spans.some(server)).toBe(true), { timeout: 5000 });
    const span = receiver.spans.find(server)!;
    expect(span).toMatchObject({ kind: SpanKind.SERVER + 1, parentSpanId: parentId });
    await vi.waitFor(() => expect(receiver.spans.some((s) => s.traceId === traceId && s.name === 'query WsRead')).toBe(true), { timeout: 5000 });
  });

  it('puts no token, sub, session id or variable in any span', () => {
    const text = JSON.stringify(receiver.raw);
    for (const secret of [token, 'traced-office', sessionId, 'traced-applicant']) expect(text).not.toContain(secret);
  });
});

describe('tracing off', () => {
  it('starts nothing without an endpoint, and refuses a protocol it does not ship', async () => {
    expect(tracingSettings({})).toBeUndefined();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toEqual({ protocol: 'http/protobuf' });
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf or http\/json/);
    expect(await startTracing({})).toBeUndefined();
    expect(tracingOn()).toBe(false);
  });

  it('templates Didit routes without their ids or queries', () => {
    expect(routeTemplate('/v1/session/9e1d8a7c-3f4b-4c2d-8e9f-0a1b2c3d4e5f/decision/')).toBe('/v1/session/{id}/decision/');
    expect(routeTemplate('/v3/sessions/?vendor_data=user-42&limit=10')).toBe('/v3/sessions/');
    expect(routeTemplate('/auth/v2/token/')).toBe('/auth/v2/token/');
  });
});
