/**
 * Didit's v1 REST API as the seed describes it: an OAuth client-credentials token
 * (`POST /auth/v2/token/`), then Bearer calls to create a session, read its decision, download
 * its PDF report and review it. Paths, methods, status codes and fields are the seed's, and
 * errors take Django REST framework's shapes, so code written against the seed works unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isWireFeatures } from '../didit/features.ts';
import { FINAL_STATUSES, type CreateSessionResponse, type TokenResponse } from './wire.ts';
import { sendJson } from '../lib/send-json.ts';
import { isHttpUrl } from '../lib/url.ts';
import { findSession, type SandboxContext } from './context.ts';
import { basicCredentialsMatch, stableUuid } from './credentials.ts';
import { HttpError, readForm, readJsonObject } from './http.ts';
import { sendReport } from './pdf.ts';
import { SessionStateError } from './store.ts';
import { SEGMENT, type Route } from './router.ts';

/** Who appears as the reviewer of `update-status` calls, as a Didit console user would. */
const REVIEWER = 'sandbox-client@sandbox.local';
const DEFAULT_FEATURES = 'OCR + FACE';
/** Longer callbacks are refused as not valid URLs. */
const MAX_CALLBACK_LENGTH = 2048;

export function v1Routes(context: SandboxContext): Route[] {
  const { store, tokens, clientId, clientSecret, tokenTtlSeconds } = context;

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!basicCredentialsMatch(req.headers.authorization, clientId, clientSecret)) {
      throw new HttpError(401, { detail: 'Invalid client credentials.' }, { 'WWW-Authenticate': 'Basic realm="didit"' });
    }
    const form = await readForm(req);
    if (form.get('grant_type') !== 'client_credentials') {
      throw new HttpError(400, { detail: 'grant_type must be client_credentials.' });
    }
    const issued = tokens.issue();
    const body: TokenResponse = {
      iss: 'https://didit.me',
      iat: issued.iat,
      sub: stableUuid(`application:${clientId}`),
      client_id: clientId,
      organization_id: stableUuid(`organization:${clientId}`),
      expires_in: tokenTtlSeconds,
      exp: issued.exp,
      access_token: issued.accessToken,
    };
    sendJson(res, 200, body);
  }

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireBearer(req);
    const input = await readJsonObject(req);
    const errors: Record<string, string[]> = {};
    const { callback, features = DEFAULT_FEATURES, vendor_data: vendorData = null } = input;
    if (callback === undefined) errors.callback = ['This field is required.'];
    else if (!isHttpUrl(callback) || callback.length > MAX_CALLBACK_LENGTH) errors.callback = ['Enter a valid URL.'];
    if (typeof features !== 'string' || !isWireFeatures(features)) {
      errors.features = [`"${String(features).slice(0, 100)}" is not a valid choice.`];
    }
    if (vendorData !== null && typeof vendorData !== 'string') errors.vendor_data = ['Not a valid string.'];
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);

    const session = store.create({
      callback: callback as string,
      features: features as string,
      vendorData: vendorData as string | null,
      origin: context.sessionOrigin(req),
    });
    const body: CreateSessionResponse = {
      session_id: session.id,
      session_number: session.number,
      session_token: session.token,
      vendor_data: session.vendorData,
      status: session.status,
      callback: session.callback,
      url: session.url,
      features: session.features,
    };
    sendJson(res, 201, body);
  }

  function decision(req: IncomingMessage, res: ServerResponse, [id]: string[]): void {
    requireBearer(req);
    sendJson(res, 200, store.decision(findSession(store, id!)));
  }

  async function pdf(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    requireBearer(req);
    const session = findSession(store, id!);
    if (!(FINAL_STATUSES as readonly string[]).includes(session.status)) {
      throw new HttpError(403, { detail: 'A report is only available for sessions that are Approved, Declined or In Review.' });
    }
    await sendReport(res, session.id, store.decision(session));
  }

  async function updateStatus(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    requireBearer(req);
    const session = findSession(store, id!);
    const { new_status: status, comment = null } = await readJsonObject(req);
    const errors: Record<string, string[]> = {};
    if (status === undefined) errors.new_status = ['This field is required.'];
    else if (status !== 'Approved' && status !== 'Declined') errors.new_status = [`"${String(status).slice(0, 100)}" is not a valid choice.`];
    if (comment !== null && typeof comment !== 'string') errors.comment = ['Not a valid string.'];
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    try {
      store.review(session, status as 'Approved' | 'Declined', comment as string | null, REVIEWER);
    } catch (error) {
      if (error instanceof SessionStateError) throw new HttpError(400, { detail: error.message });
      throw error;
    }
    sendJson(res, 200, { session_id: session.id });
  }

  function requireBearer(req: IncomingMessage): void {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new HttpError(401, { detail: 'Authentication credentials were not provided.' }, { 'WWW-Authenticate': 'Bearer' });
    if (!tokens.isValid(match[1]!)) {
      throw new HttpError(401, { detail: 'Invalid or expired token.' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
  }

  return [
    { pattern: /^\/auth\/v2\/token\/$/, endpoint: 'token', methods: { POST: token } },
    { pattern: /^\/v1\/session\/$/, endpoint: 'create', methods: { POST: create } },
    { pattern: new RegExp(`^/v1/session/${SEGMENT}/decision/$`), endpoint: 'decision', methods: { GET: decision } },
    { pattern: new RegExp(`^/v1/session/${SEGMENT}/generate-pdf/$`), endpoint: 'pdf', methods: { GET: pdf } },
    { pattern: new RegExp(`^/v1/session/${SEGMENT}/update-status/$`), endpoint: 'update', methods: { PATCH: updateStatus } },
  ];
}
