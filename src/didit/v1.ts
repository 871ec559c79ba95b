/**
 * Didit's v1 API: a client-credentials token from `POST /auth/v2/token/`, then `/v1/session/…`
 * with `Authorization: Bearer`. The seed's API, and what sandbox mode speaks by default.
 */
import type { Dispatcher } from 'undici';
import { REPORTABLE } from '../domain/status.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import { assertCallbackUrl, checkComment, checkVendorData, sessionPath } from './checks.ts';
import { DiditBadResponseError, DiditInvalidInputError, DiditUnauthorizedError } from './errors.ts';
import { featuresToWire } from './features.ts';
import { createdSession, fromV1Decision } from './normalise.ts';
import { unsupported, type DiditClient, type DiditEndpoint } from './port.ts';
import type { RateBuckets } from './rate-buckets.ts';
import { createResilience, type ResilienceOptions } from './resilience.ts';
import { isSessionId } from './session-id.ts';
import { createTokenProvider, type IssuedToken, type TokenProvider } from './token-provider.ts';
import { createTransport, pdfFrom, readJson, type TransportOptions } from './transport.ts';
import type { CreateSessionRequest, CreateSessionResponse, TokenResponse, UpdateStatusRequest } from './types.ts';

export interface DiditV1Options extends TransportOptions, LimitOptions {
  clientId: string;
  clientSecret: string;
  /** Origin of `POST /auth/v2/token/`, e.g. `https://apx.didit.me`. */
  authUrl: string;
  /** Origin of `/v1/session/...`, e.g. `https://verification.didit.me`. */
  apiUrl: string;
  /** Told about every token fetched. */
  onTokenRefresh?: () => void;
}

/** Didit's published limits and our breaker, shared by both adapters. */
export interface LimitOptions {
  /** Didit's published limits per minute, which the client paces itself under. Default 100 and 50. */
  decisionsPerMinute?: number;
  pdfsPerMinute?: number;
  /** Where that pace is counted (default: in this process; a fleet shares one through Redis). */
  paceBuckets?: RateBuckets;
  /** Longest a call waits for Didit's pace (`ResilienceOptions.maxWaitMs`). */
  paceWaitMs?: number;
  /** See `ResilienceOptions.retriesAlsoIn`. */
  retriesAlsoIn?: ResilienceOptions['retriesAlsoIn'];
  /** Consecutive failed calls that open the circuit breaker, and how long it stays open. */
  breakerThreshold?: number;
  breakerHalfOpenAfterMs?: number;
  onBreakerChange?: ResilienceOptions['onBreakerChange'];
}

export interface DiditV1Client extends DiditClient {
  readonly tokens: TokenProvider;
}

/** How much of a PDF is read from Didit at once (the stream stays bounded by this). */
export const PDF_READ_CHUNK = 1024 * 1024;

/** Didit's limit on its other GETs (`generic-get`): session searches, the reviews feed and workflow lists (v3) share it. */
export const GET_CALLS_PER_MINUTE = 600;
/** The endpoints paced under Didit's generic GET limit, as budget `get`. */
export const PACED_AS_GET = { list: 'get', reviews: 'get', workflows: 'get' } as const;

export function resilienceFor(options: LimitOptions & TransportOptions) {
  return createResilience({
    limitsPerMinute: { decision: options.decisionsPerMinute ?? 100, pdf: options.pdfsPerMinute ?? 50, get: GET_CALLS_PER_MINUTE },
    pacedAs: PACED_AS_GET,
    paceBuckets: options.paceBuckets,
    retriesAlsoIn: options.retriesAlsoIn,
    maxWaitMs: options.paceWaitMs,
    maxConcurrent: options.maxConcurrentCalls ?? 64,
    breakerThreshold: options.breakerThreshold,
    halfOpenAfterMs: options.breakerHalfOpenAfterMs,
    onBreakerChange: options.onBreakerChange,
  });
}

export function createDiditV1Client(options: DiditV1Options): DiditV1Client {
  const resilience = resilienceFor(options);
  const transport = createTransport([options.authUrl, options.apiUrl], { ...options, beforeRetry: resilience.retryTurn });
  const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64');

  async function fetchToken(): Promise<IssuedToken> {
    const response = await transport.send(
      options.authUrl,
      'token',
      {
        method: 'POST',
        path: '/auth/v2/token/',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: 'grant_type=client_credentials',
      },
      ['POST'],
    );
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

  /**
   * A call to a session endpoint with the client token. A 401 means Didit no longer takes the
   * token (revoked, expired early): drop it, fetch a new one and replay the call once. Replaying
   * a POST or PATCH here is safe because Didit refused it before doing anything.
   */
  async function authorized(endpoint: DiditEndpoint, request: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const attempt = async () => {
      const token = await tokens.get();
      const response = await transport.send(
        options.apiUrl,
        endpoint,
        { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } },
        request.method === 'GET' ? ['GET'] : [],
      );
      return { token, response };
    };
    const first = await attempt();
    if (first.response.statusCode !== 401) return first.response;
    await first.response.body.dump();
    tokens.invalidate(first.token);
    return (await attempt()).response;
  }

  return {
    api: 'v1',
    // Didit v1 has no list, delete, activity feed, reviews, resubmission or workflows.
    can: { search: false, erase: false, reviewFeed: false, review: false, resubmit: false, workflows: false },
    reportable: REPORTABLE.v1,
    tokens,

    async createSession(params) {
      for (const field of ['workflowId', 'metadata', 'language', 'callbackMethod', 'contactDetails', 'expectedDetails'] as const) {
        if (params[field] !== undefined) throw new DiditInvalidInputError(field, `${field} needs Didit's v3 API (set DIDIT_API_KEY)`);
      }
      assertCallbackUrl(params.callback);
      let features: string | undefined;
      if (params.features !== undefined) {
        features = featuresToWire(params.features) ?? undefined;
        if (features === undefined) {
          throw new DiditInvalidInputError('features', 'Features must include OCR and may add NFC, FACE and AML (each at most once)');
        }
      }
      checkVendorData(params.vendorData);
      return resilience.run('create', async () => {
        const response = await authorized('create', {
          method: 'POST',
          path: '/v1/session/',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ callback: params.callback!, features, vendor_data: params.vendorData } satisfies CreateSessionRequest),
        });
        const body = await readJson<CreateSessionResponse>(response, 201);
        if (!isSessionId(body.session_id) || typeof body.url !== 'string' || typeof body.status !== 'string') {
          throw new DiditBadResponseError('created session without session_id, url or status', response.statusCode);
        }
        return createdSession(body as CreateSessionResponse & Record<string, unknown>);
      });
    },

    async getDecision(sessionId) {
      const path = sessionPath('v1', sessionId, 'decision');
      return resilience.run('decision', async () => {
        const response = await authorized('decision', { method: 'GET', path, headers: { accept: 'application/json' } });
        return fromV1Decision(await readJson<Record<string, unknown>>(response, 200));
      });
    },

    async streamPdf(sessionId, signal) {
      const path = sessionPath('v1', sessionId, 'generate-pdf');
      // Larger reads for a large file: fewer, bigger chunks through the pipe to the browser.
      return resilience.run('pdf', async () =>
        pdfFrom(await authorized('pdf', { method: 'GET', path, headers: { accept: 'application/pdf' }, signal, highWaterMark: PDF_READ_CHUNK }), pdfFileName(sessionId)),
      );
    },

    async updateStatus(sessionId, params) {
      if (params.status === 'Resubmitted') throw unsupported('resubmit');
      if (params.status !== 'Approved' && params.status !== 'Declined') {
        throw new DiditInvalidInputError('status', 'The new status must be Approved or Declined');
      }
      for (const field of ['sendEmail', 'emailAddress', 'emailLanguage', 'nodesToResubmit'] as const) {
        if (params[field] !== undefined) throw new DiditInvalidInputError(field, `${field} needs Didit's v3 API (set DIDIT_API_KEY)`);
      }
      checkComment(params.comment);
      const path = sessionPath('v1', sessionId, 'update-status');
      await resilience.run('update', async () => {
        const response = await authorized('update', {
          method: 'PATCH',
          path,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ new_status: params.status, comment: params.comment } as UpdateStatusRequest),
        });
        await readJson(response, 200);
      });
    },

    // What `can` says v1 cannot do: callers check it first; a call anyway hears what to switch.
    listSessions: () => Promise.reject(unsupported('search')),
    deleteSession: () => Promise.reject(unsupported('erase')),
    listReviews: () => Promise.reject(unsupported('reviewFeed')),
    addReview: () => Promise.reject(unsupported('review')),
    listWorkflows: () => Promise.reject(unsupported('workflows')),

    async credentialsUsable() {
      if (tokens.hasValidToken()) return true;
      return tokens.get().then(
        () => true,
        () => false,
      );
    },

    breakerState: () => resilience.breakerState(),
    close: () => transport.close(),
  };
}
