/**
 * Didit's v3 API: every call under `/v3/…` with an `x-api-key` header, no token. Its answers
 * are normalised into the gateway's model (`normalise.ts`, `normalise-v3.ts`), so that nothing
 * above `didit/` depends on the version.
 *
 * Writes are retried where v3 makes a repeat harmless: creating a session with `vendor_data`
 * returns the unfinished session it already made, and setting the status a session already has
 * changes nothing (a 400 after a lost answer is checked by reading the session).
 */
import type { Dispatcher } from 'undici';
import type { Decision, Page } from '../domain/model.ts';
import { REPORTABLE, VERDICTS } from '../domain/status.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import { assertCallbackUrl, checkComment, checkVendorData, sessionPath } from './checks.ts';
import { DiditBadRequestError, DiditBadResponseError, DiditInvalidInputError } from './errors.ts';
import type { CreateSessionParams, DiditClient, DiditEndpoint, PageRequest, SessionFilter, UpdateStatusParams } from './port.ts';
import { isSessionId } from './session-id.ts';
import { createTransport, pdfFrom, readJson, type TransportOptions } from './transport.ts';
import { createdSession, review, sessionRow, str, workflow } from './normalise.ts';
import { fromV3Decision } from './normalise-v3.ts';
import type { ActivityEntry, CreateSessionResponse, SessionRow, Workflow } from './types.ts';
import { PDF_READ_CHUNK, resilienceFor, type LimitOptions } from './v1.ts';

export interface DiditV3Options extends TransportOptions, LimitOptions {
  apiKey: string;
  /** Origin of `/v3/...`, e.g. `https://verification.didit.me`. */
  apiUrl: string;
  /** The workflow `createSession` runs when the caller names none. */
  defaultWorkflowId?: string;
}

const CALLBACK_METHODS = new Set(['initiator', 'completer', 'both']);
const MAX_METADATA_BYTES = 4096;
const EXPECTED_DETAILS: Record<string, string> = {
  firstName: 'first_name',
  lastName: 'last_name',
  dateOfBirth: 'date_of_birth',
  gender: 'gender',
  nationality: 'nationality',
  idCountry: 'id_country',
  poaCountry: 'poa_country',
  address: 'address',
  identificationNumber: 'identification_number',
};

/** The request body of `POST /v3/session/`, checked field by field. */
function createBody(params: CreateSessionParams, defaultWorkflowId: string | undefined): Record<string, unknown> {
  if (params.features !== undefined) {
    throw new DiditInvalidInputError('features', "Didit v3 takes a session's steps from its workflow: pass workflowId instead of features");
  }
  const workflowId = params.workflowId ?? defaultWorkflowId;
  if (!isSessionId(workflowId)) {
    throw new DiditInvalidInputError('workflowId', 'A workflowId (a UUID) is required with Didit v3 (or set DIDIT_WORKFLOW_ID)');
  }
  if (params.callback !== undefined) assertCallbackUrl(params.callback);
  checkVendorData(params.vendorData);
  if (params.callbackMethod !== undefined && !CALLBACK_METHODS.has(params.callbackMethod)) {
    throw new DiditInvalidInputError('callbackMethod', 'callbackMethod is initiator, completer or both');
  }
  if (params.language !== undefined && !/^[a-z]{2}(-[A-Za-z]{2,4})?$/.test(params.language)) {
    throw new DiditInvalidInputError('language', 'language is an ISO 639-1 code such as "en" or "pt-BR"');
  }
  if (params.metadata !== undefined) {
    const ok = params.metadata !== null && typeof params.metadata === 'object' && !Array.isArray(params.metadata);
    if (!ok || Buffer.byteLength(JSON.stringify(params.metadata)) > MAX_METADATA_BYTES) {
      throw new DiditInvalidInputError('metadata', `metadata is a JSON object of at most ${MAX_METADATA_BYTES} bytes`);
    }
  }
  let contact: Record<string, unknown> | undefined;
  if (params.contactDetails) {
    const { email, sendNotificationEmails, emailLang, phone } = params.contactDetails;
    if (email !== undefined && !/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)) throw new DiditInvalidInputError('contactDetails.email', 'Not an email address');
    if (phone !== undefined && !/^\+[1-9]\d{6,14}$/.test(phone)) throw new DiditInvalidInputError('contactDetails.phone', 'A phone number in E.164 form, e.g. +14155552671');
    if (emailLang !== undefined && !/^[a-z]{2}(-[A-Za-z]{2,4})?$/.test(emailLang)) throw new DiditInvalidInputError('contactDetails.emailLang', 'An ISO 639-1 code');
    contact = { email, send_notification_emails: sendNotificationEmails, email_lang: emailLang, phone };
  }
  let expected: Record<string, string> | undefined;
  if (params.expectedDetails) {
    expected = {};
    for (const [key, value] of Object.entries(params.expectedDetails)) {
      const wire = Object.hasOwn(EXPECTED_DETAILS, key) ? EXPECTED_DETAILS[key] : undefined;
      if (!wire || typeof value !== 'string' || value.length > 200) throw new DiditInvalidInputError(`expectedDetails.${key}`, 'Unknown or overlong expected detail');
      expected[wire] = value;
    }
    if (expected.date_of_birth !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(expected.date_of_birth)) {
      throw new DiditInvalidInputError('expectedDetails.dateOfBirth', 'A date as YYYY-MM-DD');
    }
  }
  return {
    workflow_id: workflowId.toLowerCase(),
    vendor_data: params.vendorData,
    callback: params.callback,
    callback_method: params.callbackMethod,
    metadata: params.metadata,
    language: params.language,
    contact_details: contact,
    expected_details: expected,
  };
}

function updateBody(params: UpdateStatusParams): Record<string, unknown> {
  if (params.status !== 'Approved' && params.status !== 'Declined' && params.status !== 'Resubmitted') {
    throw new DiditInvalidInputError('status', 'The new status must be Approved, Declined or Resubmitted');
  }
  checkComment(params.comment);
  if (params.sendEmail && !params.emailAddress) throw new DiditInvalidInputError('emailAddress', 'emailAddress is required when sendEmail is true');
  if (params.emailAddress !== undefined && !/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(params.emailAddress)) {
    throw new DiditInvalidInputError('emailAddress', 'Not an email address');
  }
  if (params.emailLanguage !== undefined && !/^[a-z]{2}(-[A-Za-z]{2,4})?$/.test(params.emailLanguage)) {
    throw new DiditInvalidInputError('emailLanguage', 'An ISO 639-1 code');
  }
  if (params.nodesToResubmit !== undefined) {
    if (params.status !== 'Resubmitted') throw new DiditInvalidInputError('nodesToResubmit', 'Steps are named only to resubmit them');
    if (params.nodesToResubmit.length > 50 || params.nodesToResubmit.some((n) => !/^[\w-]{1,100}$/.test(n.node_id) || (n.feature !== undefined && !/^[A-Z_]{1,50}$/.test(n.feature)))) {
      throw new DiditInvalidInputError('nodesToResubmit', 'Steps are node ids such as "feature_ocr", with features such as "OCR"');
    }
  }
  return {
    new_status: params.status,
    comment: params.comment,
    send_email: params.sendEmail,
    email_address: params.emailAddress,
    email_language: params.emailLanguage,
    nodes_to_resubmit: params.nodesToResubmit,
  };
}

/** The query string of `GET /v3/sessions/`, from a checked filter. */
function listQuery(filter: SessionFilter, page: PageRequest): string {
  const query = new URLSearchParams({ limit: String(page.limit), offset: String(page.offset) });
  const set = (name: string, value: string | undefined, pattern: RegExp, field: string) => {
    if (value === undefined) return;
    if (!pattern.test(value)) throw new DiditInvalidInputError(field, `${field} is malformed`);
    query.set(name, value);
  };
  set('vendor_data', filter.vendorData, /^[^\u0000-\u001f]{1,256}$/, 'vendorData');
  set('workflow_id', filter.workflowId, /^[0-9a-f-]{36}$/i, 'workflowId');
  set('country', filter.country, /^[A-Z]{3}$/, 'country');
  set('date_from', filter.dateFrom, /^\d{4}-\d{2}-\d{2}$/, 'createdAfter');
  set('date_to', filter.dateTo, /^\d{4}-\d{2}-\d{2}$/, 'createdBefore');
  set('search', filter.search, /^[^\u0000-\u001f]{1,100}$/, 'text');
  if (filter.statuses?.length) query.set('status', filter.statuses.join(','));
  return query.toString();
}

/** A `{count, results}` page, or a bare array (one edition of the docs lists workflows so). */
function pageOf<T>(body: unknown, status: number): Page<T> {
  if (Array.isArray(body)) return { count: body.length, results: body.filter((row) => row && typeof row === 'object') as T[] };
  const page = body as { count?: unknown; results?: unknown };
  if (!Array.isArray(page.results)) throw new DiditBadResponseError('list without results', status);
  const results = page.results.filter((row) => row && typeof row === 'object') as T[];
  return { count: Number.isSafeInteger(page.count) ? (page.count as number) : results.length, results };
}

export function createDiditV3Client(options: DiditV3Options): DiditClient {
  const resilience = resilienceFor(options);
  const transport = createTransport([options.apiUrl], { ...options, beforeRetry: resilience.retryTurn });

  const call = (endpoint: DiditEndpoint, request: Dispatcher.RequestOptions, retry: readonly string[]) =>
    transport.send(options.apiUrl, endpoint, { ...request, headers: { ...request.headers, 'x-api-key': options.apiKey } }, retry);

  async function getDecision(sessionId: string): Promise<Decision> {
    const path = sessionPath('v3', sessionId, 'decision');
    return resilience.run('decision', async () => {
      const body = await readJson<Record<string, unknown>>(await call('decision', { method: 'GET', path, headers: { accept: 'application/json' } }, ['GET']), 200);
      return fromV3Decision(body);
    });
  }

  return {
    api: 'v3',
    can: { search: true, erase: true, reviewFeed: true, review: true, resubmit: true, workflows: true },
    reportable: REPORTABLE.v3,

    async createSession(params) {
      const body = createBody(params, options.defaultWorkflowId);
      // Only a session with vendor_data is idempotent upstream: without it a repeat makes another.
      const retry = body.vendor_data === undefined ? [] : ['POST'];
      return resilience.run('create', async () => {
        const response = await call(
          'create',
          { method: 'POST', path: '/v3/session/', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) },
          retry,
        );
        const created = await readJson<CreateSessionResponse>(response, 201);
        if (!isSessionId(created.session_id) || typeof created.url !== 'string' || typeof created.status !== 'string') {
          throw new DiditBadResponseError('created session without session_id, url or status', response.statusCode);
        }
        return createdSession(created as CreateSessionResponse & Record<string, unknown>);
      });
    },

    getDecision,

    async streamPdf(sessionId, signal) {
      const path = sessionPath('v3', sessionId, 'generate-pdf');
      return resilience.run('pdf', async () =>
        pdfFrom(await call('pdf', { method: 'GET', path, headers: { accept: 'application/pdf' }, signal, highWaterMark: PDF_READ_CHUNK }, ['GET']), pdfFileName(sessionId)),
      );
    },

    async updateStatus(sessionId, params) {
      const body = updateBody(params);
      const path = sessionPath('v3', sessionId, 'update-status');
      try {
        await resilience.run('update', async () => {
          const response = await call(
            'update',
            { method: 'PATCH', path, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) },
            ['PATCH'],
          );
          await readJson(response, 200);
        });
      } catch (error) {
        // Didit refuses a status the session already has. After a retry that is how a first try
        // whose answer was lost shows: the session says whether the change is in fact made.
        if (error instanceof DiditBadRequestError && (await getDecision(sessionId).catch(() => undefined))?.status === params.status) return;
        throw error;
      }
    },

    async listSessions(filter, page) {
      const path = `/v3/sessions/?${listQuery(filter, page)}`;
      return resilience.run('list', async () => {
        const response = await call('list', { method: 'GET', path, headers: { accept: 'application/json' } }, ['GET']);
        const rows = pageOf<SessionRow>(await readJson(response, 200), response.statusCode);
        return { count: rows.count, results: rows.results.filter((row) => isSessionId(row.session_id) && typeof row.status === 'string').map((row) => sessionRow(row as SessionRow & Record<string, unknown>)) };
      });
    },

    async deleteSession(sessionId) {
      const path = sessionPath('v3', sessionId, 'delete');
      await resilience.run('delete', async () => {
        const response = await call('delete', { method: 'DELETE', path }, ['DELETE']);
        await response.body.dump();
        // Gone already (a repeat after a lost answer, or a second request): the wish is met.
        if (response.statusCode === 204 || response.statusCode === 200 || response.statusCode === 404) return;
        await readJson(response, 204);
      });
    },

    async listReviews(sessionId, page) {
      if (!isSessionId(sessionId)) throw new DiditInvalidInputError('sessionId', 'A session id must be a UUID');
      const path = `/v3/sessions/${sessionId.toLowerCase()}/reviews/?limit=${page.limit}&offset=${page.offset}`;
      return resilience.run('reviews', async () => {
        const response = await call('reviews', { method: 'GET', path, headers: { accept: 'application/json' } }, ['GET']);
        const entries = pageOf<ActivityEntry & Record<string, unknown>>(await readJson(response, 200), response.statusCode);
        // Didit names the actor of an activity entry, not a user.
        return { count: entries.count, results: entries.results.map((entry) => review(entry, str(entry.actor_display))) };
      });
    },

    async addReview(sessionId, review) {
      if (!isSessionId(sessionId)) throw new DiditInvalidInputError('sessionId', 'A session id must be a UUID');
      if (!(VERDICTS as readonly string[]).includes(review.status)) {
        throw new DiditInvalidInputError('status', 'A review sets Approved, Declined or In Review');
      }
      checkComment(review.comment);
      const path = `/v3/sessions/${sessionId.toLowerCase()}/reviews/`;
      await resilience.run('review', async () => {
        const response = await call(
          'review',
          { method: 'POST', path, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ new_status: review.status, comment: review.comment }) },
          // A review is a new entry each time: never repeated on our own.
          [],
        );
        await readJson(response, 201);
      });
    },

    async listWorkflows() {
      return resilience.run('workflows', async () => {
        const response = await call('workflows', { method: 'GET', path: '/v3/workflows/', headers: { accept: 'application/json' } }, ['GET']);
        return pageOf<Workflow & Record<string, unknown>>(await readJson(response, 200), response.statusCode)
          .results.filter((w) => isSessionId(w.workflow_id))
          .map(workflow);
      });
    },

    async credentialsUsable() {
      return options.apiKey.length > 0;
    },

    breakerState: () => resilience.breakerState(),
    close: () => transport.close(),
  };
}
