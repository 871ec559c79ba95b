import type { Readable } from 'node:stream';
import { Pool, interceptors, errors as undiciErrors, type Dispatcher } from 'undici';
import {
  DiditAbortedError,
  DiditBadRequestError,
  DiditBadResponseError,
  DiditError,
  DiditForbiddenError,
  DiditInvalidInputError,
  DiditNotFoundError,
  DiditRateLimitedError,
  DiditUnauthorizedError,
  DiditUnavailableError,
  parseFieldErrors,
} from './errors.ts';
import { isHttpUrl } from '../lib/url.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import { featuresToWire } from './features.ts';
import { createResilience, type BreakerState } from './resilience.ts';
import { isSessionId } from './session-id.ts';
import { createTokenProvider, type IssuedToken, type TokenProvider } from './token-provider.ts';
import type {
  CreateSessionRequest,
  CreateSessionResponse,
  Decision,
  ReviewStatus,
  TokenResponse,
  UpdateStatusRequest,
  UpdateStatusResponse,
} from './types.ts';

/** The Didit endpoints, as named in metrics and logs. */
export type DiditEndpoint = 'token' | 'create' | 'decision' | 'pdf' | 'update';

export interface DiditClientOptions {
  clientId: string;
  clientSecret: string;
  /** Origin of `POST /auth/v2/token/`, e.g. `https://apx.didit.me`. */
  authUrl: string;
  /** Origin of `/v1/session/...`, e.g. `https://verification.didit.me`. */
  apiUrl: string;
  /** TCP + TLS connect timeout. Default 5,000 ms. */
  connectTimeoutMs?: number;
  /** Time to the response headers. Default 15,000 ms (Didit renders PDFs before answering). */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. Default 30,000 ms. */
  bodyTimeoutMs?: number;
  /** Retries of an idempotent call after the first try. Default 4 (about 3 s of backoff at most). */
  maxRetries?: number;
  /** First backoff delay; doubled each retry, with jitter. Default 200 ms. */
  retryMinDelayMs?: number;
  /** Longest backoff delay. Default 2,000 ms. */
  retryMaxDelayMs?: number;
  /** Longest `Retry-After` the client waits out itself; longer ones surface as rate limited. Default 5 s. */
  maxRetryAfterSeconds?: number;
  /** Told about every upstream exchange (not each retry), for metrics. Never given bodies. */
  onCall?: (call: { endpoint: DiditEndpoint; status: number | 'error'; durationMs: number }) => void;
  /** Told about every token fetched. */
  onTokenRefresh?: () => void;
  /** Didit's published limits per minute, which the client paces itself under. Default 100 and 50. */
  decisionsPerMinute?: number;
  pdfsPerMinute?: number;
  /** Upstream calls in flight at once. Default 64. */
  maxConcurrentCalls?: number;
  /** Consecutive failed calls that open the circuit breaker, and how long it stays open. */
  breakerThreshold?: number;
  breakerHalfOpenAfterMs?: number;
  onBreakerChange?: (state: BreakerState) => void;
}

export interface CreateSessionParams {
  callback: string;
  /** Feature names (`OCR`, `NFC`, `FACE`, `AML`); omitted: the console's settings apply. */
  features?: readonly string[];
  vendorData?: string;
}

export interface PdfStream {
  body: Readable;
  contentType: string;
  filename: string;
  contentLength?: number;
}

export interface DiditClient {
  createSession(params: CreateSessionParams): Promise<CreateSessionResponse>;
  getDecision(sessionId: string): Promise<Decision>;
  /** The report as a byte stream; the caller must consume or destroy `body`. */
  streamPdf(sessionId: string, signal?: AbortSignal): Promise<PdfStream>;
  updateStatus(sessionId: string, status: ReviewStatus, comment?: string): Promise<UpdateStatusResponse>;
  readonly tokens: TokenProvider;
  breakerState(): BreakerState;
  close(): Promise<void>;
}

/** Upper bounds on what a caller may send upstream; Didit's own limits are undocumented. */
export const MAX_COMMENT_LENGTH = 1000;
export const MAX_VENDOR_DATA_LENGTH = 256;
const MAX_CALLBACK_LENGTH = 2048;
/** How much of a PDF is read from Didit at once (the stream stays bounded by this). */
const PDF_READ_CHUNK = 1024 * 1024;
/** A JSON answer larger than this is refused rather than buffered. */
const MAX_JSON_BYTES = 5 * 1024 * 1024;

/** Error codes undici raises for network faults and timeouts that are safe to retry on a GET. */
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

export function createDiditClient(options: DiditClientOptions): DiditClient {
  const maxRetries = options.maxRetries ?? 4;
  const minDelay = options.retryMinDelayMs ?? 200;
  const maxDelay = options.retryMaxDelayMs ?? 2000;
  const maxRetryAfterMs = (options.maxRetryAfterSeconds ?? 5) * 1000;
  const maxConcurrent = options.maxConcurrentCalls ?? 64;
  const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64');

  /**
   * Decides whether undici's retry interceptor tries again, and when. Only the methods listed
   * per request are retried (GET everywhere, POST for the token alone); a `Retry-After` longer
   * than the cap ends the retries so the caller hears "rate limited" at once.
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
    setTimeout(() => cb(null), delay).unref?.();
  };

  function createPool(origin: string): Dispatcher {
    return new Pool(origin, {
      // As many sockets as calls may be in flight (the cap below), so none waits for a socket.
      connections: maxConcurrent,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs ?? 5000 },
      headersTimeout: options.headersTimeoutMs ?? 15_000,
      bodyTimeout: options.bodyTimeoutMs ?? 30_000,
    });
  }
  const pools = [createPool(options.authUrl), createPool(options.apiUrl)] as const;
  const [authDispatcher, apiDispatcher] = pools.map((pool) =>
    pool.compose(interceptors.retry({ retry, maxRetries, throwOnError: true, statusCodes: RETRYABLE_STATUS })),
  ) as [Dispatcher, Dispatcher];

  /** Sends one request, timing it for `onCall`; network faults become `DiditError`s. */
  async function send(
    dispatcher: Dispatcher,
    endpoint: DiditEndpoint,
    request: Dispatcher.RequestOptions,
  ): Promise<Dispatcher.ResponseData> {
    const started = performance.now();
    try {
      const response = await dispatcher.request(request);
      options.onCall?.({ endpoint, status: response.statusCode, durationMs: performance.now() - started });
      return response;
    } catch (error) {
      const mapped = fromTransportError(error, request.signal);
      options.onCall?.({ endpoint, status: mapped.status ?? 'error', durationMs: performance.now() - started });
      throw mapped;
    }
  }

  async function fetchToken(): Promise<IssuedToken> {
    const response = await send(authDispatcher, 'token', {
      method: 'POST',
      path: '/auth/v2/token/',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
      retryOptions: { methods: ['POST'] },
    } as Dispatcher.RequestOptions);
    if (response.statusCode === 400 || response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      // Didit's 400 here means the credentials' form is wrong; either way the secret is the problem.
      throw new DiditUnauthorizedError('Didit refused the client credentials');
    }
    const body = await readJson<Partial<TokenResponse>>(response, 200);
    if (typeof body.access_token !== 'string' || body.access_token.length === 0) {
      throw new DiditBadResponseError('token answer without access_token', response.statusCode);
    }
    // Prefer the relative lifetime: it does not depend on our clock agreeing with Didit's.
    const expiresAt =
      typeof body.expires_in === 'number' && body.expires_in > 0
        ? Date.now() + body.expires_in * 1000
        : typeof body.exp === 'number' && body.exp * 1000 > Date.now()
          ? body.exp * 1000
          : undefined;
    if (expiresAt === undefined) throw new DiditBadResponseError('token answer without a usable lifetime', 200);
    return { token: body.access_token, expiresAt };
  }

  const tokens = createTokenProvider({ fetchToken, onRefresh: options.onTokenRefresh });
  const resilience = createResilience({
    limitsPerMinute: { decision: options.decisionsPerMinute ?? 100, pdf: options.pdfsPerMinute ?? 50 },
    maxConcurrent,
    breakerThreshold: options.breakerThreshold,
    halfOpenAfterMs: options.breakerHalfOpenAfterMs,
    onBreakerChange: options.onBreakerChange,
  });

  /**
   * A call to a session endpoint with the client token. A 401 means Didit no longer takes the
   * token (revoked, expired early): drop it, fetch a new one and replay the call once. Replaying
   * a POST or PATCH here is safe because Didit refused it before doing anything.
   */
  async function authorized(endpoint: DiditEndpoint, request: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const idempotent = request.method === 'GET';
    const attempt = async () => {
      const token = await tokens.get();
      const response = await send(apiDispatcher, endpoint, {
        ...request,
        headers: { ...request.headers, authorization: `Bearer ${token}` },
        retryOptions: { methods: idempotent ? ['GET'] : [] },
      } as Dispatcher.RequestOptions);
      return { token, response };
    };
    const first = await attempt();
    if (first.response.statusCode !== 401) return first.response;
    await first.response.body.dump();
    tokens.invalidate(first.token);
    return (await attempt()).response;
  }

  function sessionPath(sessionId: string, action: string): string {
    if (!isSessionId(sessionId)) throw new DiditInvalidInputError('sessionId', 'A session id must be a UUID');
    return `/v1/session/${sessionId.toLowerCase()}/${action}/`;
  }

  return {
    tokens,

    async createSession(params) {
      if (!isHttpUrl(params.callback) || params.callback.length > MAX_CALLBACK_LENGTH) {
        throw new DiditInvalidInputError('callback', 'The callback must be an absolute http(s) URL');
      }
      let features: string | undefined;
      if (params.features !== undefined) {
        features = featuresToWire(params.features) ?? undefined;
        if (features === undefined) {
          throw new DiditInvalidInputError(
            'features',
            'Features must include OCR and may add NFC, FACE and AML (each at most once)',
          );
        }
      }
      if (params.vendorData !== undefined && (typeof params.vendorData !== 'string' || params.vendorData.length > MAX_VENDOR_DATA_LENGTH)) {
        throw new DiditInvalidInputError('vendorData', `vendorData must be at most ${MAX_VENDOR_DATA_LENGTH} characters`);
      }
      return resilience.run('create', async () => {
        const response = await authorized('create', {
          method: 'POST',
          path: '/v1/session/',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ callback: params.callback, features, vendor_data: params.vendorData } satisfies CreateSessionRequest),
        });
        const body = await readJson<CreateSessionResponse>(response, 201);
        if (!isSessionId(body.session_id) || typeof body.url !== 'string' || typeof body.status !== 'string') {
          throw new DiditBadResponseError('created session without session_id, url or status', response.statusCode);
        }
        return body;
      });
    },

    async getDecision(sessionId) {
      const path = sessionPath(sessionId, 'decision');
      return resilience.run('decision', async () => {
        const response = await authorized('decision', { method: 'GET', path, headers: { accept: 'application/json' } });
        const body = await readJson<Decision>(response, 200);
        if (typeof body.session_id !== 'string' || typeof body.status !== 'string') {
          throw new DiditBadResponseError('decision without session_id or status', response.statusCode);
        }
        return body;
      });
    },

    async streamPdf(sessionId, signal) {
      const path = sessionPath(sessionId, 'generate-pdf');
      const response = await resilience.run('pdf', async () => {
        // Larger reads for a large file: fewer, bigger chunks through the pipe to the browser.
        const answer = await authorized('pdf', { method: 'GET', path, headers: { accept: 'application/pdf' }, signal, highWaterMark: PDF_READ_CHUNK });
        await expectStatus(answer, 200);
        return answer;
      });
      const contentType = headerValue(response.headers['content-type']) ?? '';
      if (!/^application\/pdf\b/i.test(contentType)) {
        await response.body.dump();
        throw new DiditBadResponseError('report is not a PDF', response.statusCode);
      }
      const length = Number(headerValue(response.headers['content-length']));
      return {
        body: response.body,
        contentType: 'application/pdf',
        filename: filenameFrom(headerValue(response.headers['content-disposition'])) ?? pdfFileName(sessionId),
        contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
      };
    },

    async updateStatus(sessionId, status, comment) {
      if (status !== 'Approved' && status !== 'Declined') {
        throw new DiditInvalidInputError('status', 'The new status must be Approved or Declined');
      }
      if (comment !== undefined && (typeof comment !== 'string' || comment.length > MAX_COMMENT_LENGTH)) {
        throw new DiditInvalidInputError('comment', `The comment must be at most ${MAX_COMMENT_LENGTH} characters`);
      }
      const path = sessionPath(sessionId, 'update-status');
      return resilience.run('update', async () => {
        const response = await authorized('update', {
          method: 'PATCH',
          path,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ new_status: status, comment } satisfies UpdateStatusRequest),
        });
        const body = await readJson<UpdateStatusResponse>(response, 200);
        return { session_id: typeof body.session_id === 'string' ? body.session_id : sessionId };
      });
    },

    breakerState: () => resilience.breakerState(),

    async close() {
      await Promise.all(pools.map((pool) => pool.close()));
    },
  };
}

type RetryFn = (
  err: Error,
  context: { state: { counter: number }; opts: { method: string; retryOptions?: { methods?: string[] } } },
  callback: (err?: Error | null) => void,
) => void;

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
async function readJson<T>(response: Dispatcher.ResponseData, expected: number): Promise<T> {
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
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
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

/** Maps what undici throws (network faults, timeouts, exhausted retries) to a `DiditError`. */
function fromTransportError(error: unknown, signal?: unknown): DiditError {
  if (error instanceof DiditError) return error;
  if (error instanceof undiciErrors.RequestRetryError) {
    // Retries exhausted (or declined) on a retryable status: report that status.
    return errorForStatus(error.statusCode, (error.headers as Record<string, unknown> | undefined)?.['retry-after']);
  }
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (code === 'UND_ERR_ABORTED' || (error as Error)?.name === 'AbortError') {
    // Our caller cancelled (our own signal): not a Didit failure.
    return (signal as AbortSignal | undefined)?.aborted ? new DiditAbortedError() : new DiditUnavailableError('request aborted');
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
