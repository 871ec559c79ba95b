/**
 * The OpenTelemetry SDK, started by `index.ts` before the gateway when an OTLP endpoint is set,
 * and configured the standard way, by its environment variables:
 *
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces`
 *   added): where spans go. Neither set: the SDK is not even loaded, nothing is sent anywhere.
 * - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (default)
 *   or `http/json`; `grpc` is refused (its exporter is not shipped).
 * - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` (+ `_ARG`),
 *   `OTEL_BSP_SCHEDULE_DELAY` and the other `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`,
 *   `OTEL_EXPORTER_OTLP_TIMEOUT`...: read by the SDK itself. `OTEL_SDK_DISABLED=true` or
 *   `OTEL_TRACES_EXPORTER=none` turn it off.
 *
 * Only W3C `traceparent`/`tracestate` are read from callers and sent to Didit (no baggage: a
 * caller's baggage is theirs, not Didit's).
 */
import { ConfigError } from './config/env.ts';
import { setTracing } from './lib/tracing.ts';

type Env = Record<string, string | undefined>;

export interface Tracing {
  /** Sends what is still queued, then stops. */
  shutdown(): Promise<void>;
}

const value = (env: Env, name: string) => {
  const raw = env[name]?.trim();
  return raw === '' ? undefined : raw;
};

/** Which exporter the environment asks for, or undefined when tracing stays off. Throws a ConfigError for a protocol we do not ship. */
export function tracingSettings(env: Env): { protocol: 'http/protobuf' | 'http/json' } | undefined {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  if (value(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase() === 'none') return undefined;
  if (!value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') && !value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')) return undefined;
  const name = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(env, name) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') throw new ConfigError(name, 'must be http/protobuf or http/json (grpc is not supported)');
  return { protocol };
}

/** Starts the SDK when the environment asks for traces (see above); undefined when it does not. */
export async function startTracing(env: Env = process.env): Promise<Tracing | undefined> {
  const settings = tracingSettings(env);
  if (!settings) return undefined;
  // Loaded only now: without an endpoint none of the SDK is in memory.
  const [{ trace, context, propagation }, { W3CTraceContextPropagator }, { NodeTracerProvider, BatchSpanProcessor }, resources, exporter] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    settings.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'didit-graphql-gateway' }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new exporter.OTLPTraceExporter())] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  setTracing(true);
  return {
    async shutdown() {
      setTracing(false);
      await provider.shutdown();
      // Globals back to the API's no-ops, so a later start (tests) can register again.
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
