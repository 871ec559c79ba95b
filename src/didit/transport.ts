/**
 * How the gateway talks HTTP to Didit, whatever the API version: undici pools with bounded
 * timeouts, retries with backoff where a call is safe to repeat, bounded reads, and the one
 * mapping from HTTP answers and network faults to `DiditError`s. The API adapters (`v1.ts`,
 * `v3.ts`) say which paths, headers and bodies; this file says how they travel.
 */
import { Pool, interceptors, errors as undiciErrors, type Dispatcher } from 'undici';
import {
  DiditAbortedError,
  DiditBadRequestError,
  DiditBadResponseError,
  DiditError,
  DiditForbiddenError,
  DiditNotFoundError,
  DiditRateLimitedError,
  DiditUnauthorizedError,
  DiditUnavailableError,
  parseFieldErrors,
} from './errors.ts';
import type { DiditEndpoint, PdfStream } from './port.ts';
import type { RetryWait } from './resilience.ts';
import { SpanKind } from '@opentelemetry/api';
import { inSpan, tracingOn, withTraceHeaders } from '../lib/tracing.ts';

export interface TransportOptions {
  /** TCP + TLS connect timeout. Default 5,000 ms. */
  connectTimeoutMs?: number;
  /** Time to the response headers. Default 15,000 ms (Didit renders PDFs before answering). */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. Default 30,000 ms. */
  bodyTimeoutMs?: number;
  /** Retries of a call that is safe to repeat, after the first try. Default 4 (about 3 s of backoff at most). */
  maxRetries?: number;
  /** First backoff delay; doubled each retry, with jitter. Default 200 ms. */
  retryMinDelayMs?: number;
  /** Longest backoff delay. Default 2,000 ms. */
  retryMaxDelayMs?: number;
  /** Longest `Retry-After` the client waits out itself; longer ones surface as rate limited. Default 5 s. */
  maxRetryAfterSeconds?: number;
  /** Upstream calls in flight at once (sockets per origin). Default 64. */
  maxConcurrentCalls?: number;
  /** Told about every upstream exchange (not each retry), for metrics. Never given bodies. */
  onCall?: (call: { endpoint: DiditEndpoint; status: number | 'error'; durationMs: number }) => void;
  /** Waits before a retry (`RetryWait`); false: the call fails with its last error. Without it, retries wait their delay only. */
  beforeRetry?: (endpoint: DiditEndpoint, wait: RetryWait) => Promise<boolean>;
}

export interface Transport {
  /**
   * Sends one request to `origin` (one of those the transport was made for). `retry` lists the
   * methods that may be repeated for this request: GET always, a write only where the API makes
   * the repeat harmless.
   */
  send(origin: string, endpoint: DiditEndpoint, request: Dispatcher.RequestOptions, retry: readonly string[]): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

/** A JSON answer larger than this is refused rather than buffered. */
const MAX_JSON_BYTES = 5 * 1024 * 1024;

/** Error codes undici raises for network faults and timeouts that are safe to retry. */
const RETRYABLE_ERROR_CODES = [
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
];
const RETRYABLE_STATUS = [429, 500, 502, 503, 504];
/** Of those, the ones that mean the request never reached Didit (no connection was made). */
const NOT_SENT_ERROR_CODES = ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT'];

type RetryFn = (
  err: Error,
  context: { state: { counter: number }; opts: { method: string; retryOptions?: { methods?: string[] } } },
  callback: (err?: Error | null) => void,
) => void;

export function createTransport(origins: readonly string[], options: TransportOptions): Transport {
  const maxRetries = options.maxRetries ?? 4;
  const minDelay = options.retryMinDelayMs ?? 200;
  const maxDelay = options.retryMaxDelayMs ?? 2000;
  const maxRetryAfterMs = (options.maxRetryAfterSeconds ?? 5) * 1000;
  const maxConcurrent = options.maxConcurrentCalls ?? 64;

  /**
   * Decides whether undici's retry interceptor tries again, and when. Only the methods listed
   * per request are retried; a `Retry-After` longer than the cap ends the retries so the caller
   * hears "rate limited" at once.
   */
  const retry: RetryFn = (err, { state, opts }, cb) => {
    const { statusCode, code, headers } = err as { statusCode?: number; code?: string; headers?: Record<string, unknown> };
    const methods = opts.retryOptions?.methods ?? [];
    if (!methods.includes(opts.method)) return cb(err);
    if (code && code !== 'UND_ERR_REQ_RETRY' && !RETRYABLE_ERROR_CODES.includes(code)) return cb(err);
    if (statusCode !== undefined && !RETRYABLE_STATUS.includes(statusCode)) return cb(err);
    if (state.counter > maxRetries) return cb(err);
    let delay: number;
    const retryAfter = parseRetryAfter(headers?.['retry-after']);
    if (retryAfter !== undefined) {
      if (retryAfter * 1000 > maxRetryAfterMs) return cb(err);
      delay = retryAfter * 1000;
    } else {
      // Capped exponential backoff with "equal jitter": half fixed, half random.
      const base = Math.min(maxDelay, minDelay * 2 ** (state.counter - 1));
      delay = base / 2 + Math.random() * (base / 2);
    }
    const attempt = (opts as { attempt?: Attempt }).attempt;
    if (attempt) attempt.retries++;
    if (!attempt || !options.beforeRetry) {
      setTimeout(() => cb(null), delay).unref?.();
      return;
    }
    const sent = statusCode !== undefined || !NOT_SENT_ERROR_CODES.includes(code ?? '');
    options.beforeRetry(attempt.endpoint, { delayMs: delay, rateLimited: statusCode === 429, sent }).then(
      (go) => cb(go ? null : err),
      () => cb(err),
    );
  };

  const pools = new Map<string, Pool>();
  const dispatchers = new Map<string, Dispatcher>();
  for (const origin of new Set(origins)) {
    const pool = new Pool(origin, {
      // As many sockets as calls may be in flight (the cap in resilience.ts), so none waits for a socket.
      connections: maxConcurrent,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs ?? 5000 },
      headersTimeout: options.headersTimeoutMs ?? 15_000,
      bodyTimeout: options.bodyTimeoutMs ?? 30_000,
    });
    pools.set(origin, pool);
    dispatchers.set(origin, pool.compose(interceptors.retry({ retry, maxRetries, throwOnError: true, statusCodes: RETRYABLE_STATUS })));
  }

  const dispatch = async (origin: string, endpoint: DiditEndpoint, request: Dispatcher.RequestOptions, methods: readonly string[], attempt: Attempt) => {
    const dispatcher = dispatchers.get(origin);
    if (!dispatcher) throw new Error(`no pool for ${origin}`);
    const started = performance.now();
    try {
      const response = await dispatcher.request({ ...request, retryOptions: { methods: [...methods] }, attempt } as Dispatcher.RequestOptions);
      options.onCall?.({ endpoint, status: response.statusCode, durationMs: performance.now() - started });
      return response;
    } catch (error) {
      const mapped = fromTransportError(error, request.signal as AbortSignal | undefined);
      options.onCall?.({ endpoint, status: mapped.status ?? 'error', durationMs: performance.now() - started });
      throw mapped;
    }
  };

  return {
    send(origin, endpoint, request, methods) {
      if (!tracingOn()) return dispatch(origin, endpoint, request, methods, { endpoint, retries: 0 });
      // A client span per call (its retries included), with the route's template, never its ids.
      const route = routeTemplate(request.path);
      const attributes = { 'http.request.method': request.method, 'url.template': route, 'server.address': new URL(origin).hostname, 'didit.endpoint': endpoint };
      return inSpan(`${request.method} ${route}`, attributes, async (span) => {
        const attempt = { endpoint, retries: 0 };
        try {
          const headers = withTraceHeaders((request.headers ?? {}) as Record<string, string>);
          const response = await dispatch(origin, endpoint, { ...request, headers }, methods, attempt);
          span!.setAttribute('http.response.status_code', response.statusCode);
          return response;
        } catch (error) {
          if (error instanceof DiditError && error.status) span!.setAttribute('http.response.status_code', error.status);
          throw error;
        } finally {
          span!.setAttribute('http.request.resend_count', attempt.retries);
        }
      }, SpanKind.CLIENT);
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
  };
}

/** One call: its endpoint, and the retries made (counted by the retry decision, read by its span). */
interface Attempt {
  endpoint: DiditEndpoint;
  retries: number;
}

/** A Didit path as a template: the query dropped, every segment that is not a plain word (an id) replaced. */
export function routeTemplate(path: string): string {
  return path
    .split('?')[0]!
    .split('/')
    .map((segment) => (segment === '' || /^(?:[a-z][a-z_-]*|v\d+)$/.test(segment) ? segment : '{id}'))
    .join('/');
}

/** Throws the `DiditError` for any status other than `expected`, after draining the body. */
async function expectStatus(response: Dispatcher.ResponseData, expected: number): Promise<void> {
  const status = response.statusCode;
  if (status === expected) return;
  if (status === 400) {
    const body = await readLimited(response.body, 64 * 1024).catch(() => undefined);
    let parsed: unknown;
    try {
      parsed = body === undefined ? undefined : JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    throw new DiditBadRequestError(parseFieldErrors(parsed));
  }
  await response.body.dump().catch(() => {});
  throw errorForStatus(status, response.headers['retry-after']);
}

function errorForStatus(status: number, retryAfterHeader: unknown): DiditError {
  if (status === 401) return new DiditUnauthorizedError();
  if (status === 403) return new DiditForbiddenError();
  if (status === 404) return new DiditNotFoundError();
  if (status === 429) return new DiditRateLimitedError(parseRetryAfter(retryAfterHeader) ?? 1);
  if (status >= 500) return new DiditUnavailableError(`status ${status}`, status);
  return new DiditBadResponseError(`unexpected status ${status}`, status);
}

/** Reads a JSON answer of the expected status, refusing other content types and oversized bodies. */
export async function readJson<T>(response: Dispatcher.ResponseData, expected: number): Promise<T> {
  await expectStatus(response, expected);
  const contentType = headerValue(response.headers['content-type']) ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(contentType)) {
    await response.body.dump().catch(() => {});
    throw new DiditBadResponseError('answer is not JSON', response.statusCode);
  }
  let text: string;
  try {
    text = await readLimited(response.body, MAX_JSON_BYTES);
  } catch (error) {
    throw error instanceof DiditError ? error : fromTransportError(error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DiditBadResponseError('malformed JSON', response.statusCode);
  }
  if (!value || typeof value !== 'object') {
    throw new DiditBadResponseError('answer is not a JSON object', response.statusCode);
  }
  return value as T;
}

async function readLimited(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new DiditBadResponseError('answer too large');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The report from a 200 answer to a PDF request, streamed, or a `DiditError`. */
export async function pdfFrom(response: Dispatcher.ResponseData, fallbackName: string): Promise<PdfStream> {
  await expectStatus(response, 200);
  const contentType = headerValue(response.headers['content-type']) ?? '';
  if (!/^application\/pdf\b/i.test(contentType)) {
    await response.body.dump();
    throw new DiditBadResponseError('report is not a PDF', response.statusCode);
  }
  const length = Number(headerValue(response.headers['content-length']));
  return {
    body: response.body,
    contentType: 'application/pdf',
    filename: filenameFrom(headerValue(response.headers['content-disposition'])) ?? fallbackName,
    contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
  };
}

/**
 * Maps what undici throws (network faults, timeouts, exhausted retries) to a `DiditError`. A
 * request our own caller aborted (a client leaving a download) is not Didit's failure.
 */
function fromTransportError(error: unknown, signal?: AbortSignal): DiditError {
  if (error instanceof DiditError) return error;
  if (error instanceof undiciErrors.RequestRetryError) {
    // Retries exhausted (or declined) on a retryable status: report that status.
    return errorForStatus(error.statusCode, (error.headers as Record<string, unknown> | undefined)?.['retry-after']);
  }
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (code === 'UND_ERR_ABORTED' || (error as Error)?.name === 'AbortError') {
    return signal?.aborted ? new DiditAbortedError() : new DiditUnavailableError('request aborted');
  }
  if (/TIMEOUT/.test(code)) return new DiditUnavailableError('timed out');
  return new DiditUnavailableError('connection failed');
}

/** `Retry-After` in seconds, from a number of seconds or an HTTP date; undefined if absent or bad. */
function parseRetryAfter(value: unknown): number | undefined {
  const text = headerValue(value);
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function headerValue(value: unknown): string | undefined {
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** A safe file name from `Content-Disposition`, or undefined. */
function filenameFrom(disposition: string | undefined): string | undefined {
  const match = disposition && /filename="?([^";]+)"?/i.exec(disposition);
  const name = match?.[1]?.trim();
  return name && /^[\w.-]{1,200}$/.test(name) ? name : undefined;
}
