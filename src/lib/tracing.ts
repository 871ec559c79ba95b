/**
 * OpenTelemetry traces, as the rest of the gateway uses them: a few helpers over the API. Until
 * `src/tracing-sdk.ts` starts the SDK (an OTLP endpoint is configured), every helper returns at
 * once without touching the API: no span, no context, no cost beyond one boolean test.
 *
 * What goes into spans is chosen here and at each call: method, route templates, statuses, counts,
 * outcomes, operation names and types, a caller's pseudonym. Never a token, a `sub`, a session id,
 * a variable, a body, a URL query or anything an applicant told Didit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, propagation, trace, type Attributes, type Span } from '@opentelemetry/api';

let tracer = trace.getTracer('didit-graphql-gateway');
let on = false;

/** Said by the SDK setup once its tracer provider is registered (true), and when it stops (false). */
export function setTracing(enabled: boolean): void {
  on = enabled;
  // The registered provider's own tracer (a provider registered later, in tests, gets a new one).
  if (enabled) tracer = trace.getTracer('didit-graphql-gateway');
}

export function tracingOn(): boolean {
  return on;
}

/** What kind of failure, for a span's status: an error code or class name, never a message. */
function failureOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : ((error as Error | null)?.name ?? 'Error');
}

/** Marks `span` failed by `error` (its code or class only). */
export function spanFailed(span: Span, error: unknown): void {
  const kind = failureOf(error);
  span.setAttribute('error.type', kind);
  span.setStatus({ code: SpanStatusCode.ERROR, message: kind });
}

/** Runs `fn` in a new active span that ends when it settles; without tracing, just runs `fn`. */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span?: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  if (!on) return fn();
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      spanFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Something that happened within the current span (a cache lookup's outcome...). */
export function spanEvent(name: string, attributes: Attributes): void {
  if (on) trace.getActiveSpan()?.addEvent(name, attributes);
}

/** Adds attributes to the current span, and names it anew when `name` is given. */
export function annotateSpan(attributes: Attributes, name?: string): void {
  if (!on) return;
  const span = trace.getActiveSpan();
  span?.setAttributes(attributes);
  if (name) span?.updateName(name);
}

/** The trace id of the current span when it is sampled (for metrics exemplars). */
export function sampledTraceId(): string | undefined {
  if (!on) return undefined;
  const span = trace.getActiveSpan()?.spanContext();
  return span && span.traceFlags & TraceFlags.SAMPLED ? span.traceId : undefined;
}

/** `headers` with the current trace's `traceparent` (and `tracestate`) for a call we make. */
export function withTraceHeaders<H extends Record<string, unknown>>(headers: H): H {
  if (!on) return headers;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return { ...headers, ...carrier };
}

/**
 * Runs an HTTP request's handling in a server span that continues the caller's `traceparent`.
 * `route` is a template (`/reports/{file}`), never the path itself; the span ends with the response.
 */
export function traceRequest(req: IncomingMessage, res: ServerResponse, routeOf: () => string, handle: () => Promise<void>): Promise<void> {
  if (!on) return handle();
  const route = routeOf();
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const method = req.method ?? 'GET';
  const span = tracer.startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } }, parent);
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  return context.with(trace.setSpan(parent, span), handle);
}

/** The active span's context as a `traceparent` value, to carry through Redis; undefined without one. */
export function currentTraceparent(): string | undefined {
  if (!on) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/**
 * Runs `fn` in a consumer span that continues `traceparent` (what another instance, or this one,
 * put in Redis beside an event); without tracing or without a parent, just runs it.
 */
export function continueTrace(name: string, traceparent: string | undefined, attributes: Attributes, fn: () => void): void {
  if (!on || !traceparent) return fn();
  const parent = propagation.extract(ROOT_CONTEXT, { traceparent });
  const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end();
  }
}

/**
 * Runs a WebSocket operation in a server span (`WS <path>`, as an HTTP request has its own),
 * continuing the first W3C `traceparent` found among `carriers`: the operation's `extensions`, the
 * connection parameters (or their `headers`), the upgrade request's headers. A browser cannot set a
 * WebSocket's headers; graphql-ws and Apollo's GraphQLWsLink pass an operation's extensions.
 */
export function traceWebSocketOperation<T>(path: string, carriers: readonly unknown[], handle: () => Promise<T>): Promise<T> {
  if (!on) return handle();
  const traceparent = carriers
    .map((carrier) => (carrier && typeof carrier === 'object' ? (carrier as Record<string, unknown>).traceparent : undefined))
    .find((value): value is string => typeof value === 'string' && value.length <= 64);
  const parent = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
  return context.with(parent, () => inSpan(`WS ${path}`, { 'network.protocol.name': 'websocket', 'http.route': path }, handle, SpanKind.SERVER));
}

/** The part of an ioredis client the Redis spans need. */
interface CommandSender {
  sendCommand(command: { name: string; promise: Promise<unknown> }, ...rest: never[]): unknown;
}

/**
 * Each command `redis` sends becomes a short client span (its name only: keys and arguments hold
 * session ids and pseudonyms). `component` says which part of the gateway sent it.
 */
export function traceRedisCommands(redis: object, component: string): void {
  if (!on) return;
  const client = redis as CommandSender;
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    const operation = command.name.toUpperCase();
    const span = tracer.startSpan(`redis ${operation}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': operation, 'gateway.component': component } });
    command.promise.then(
      () => span.end(),
      (error: unknown) => {
        spanFailed(span, error);
        span.end();
      },
    );
    return send(command, ...rest);
  };
}
