/**
 * Didit's v3 REST API over the sandbox's sessions (the same store as v1's, so a session made over
 * one API reads over the other). Every call carries `x-api-key`; paths end in a slash (a path
 * without it is redirected, 301, as Django does). Errors take Django REST framework's shapes:
 * `{"detail": "..."}` or field maps `{"field": ["message"]}`.
 *
 *   POST   /v3/session/                       create (201; an unfinished session with the same
 *                                             vendor_data on the same workflow is returned again)
 *   GET    /v3/session/{id}/decision/         the v3 decision (`v3-shapes.ts`)
 *   GET    /v3/session/{id}/generate-pdf/     the report, for Approved, Declined, In Review, Kyc Expired
 *   PATCH  /v3/session/{id}/update-status/    Approved | Declined | Resubmitted
 *   DELETE /v3/session/{id}/delete/           204; then 404 everywhere
 *   GET    /v3/sessions/                      the list, newest first, {count, next, previous, results}
 *   GET    /v3/sessions/{id}/reviews/         the review feed, newest first, paged alike
 *   POST   /v3/sessions/{id}/reviews/         Approved | Declined | In Review, with a comment (201)
 *   GET    /v3/workflows/                     the sandbox's three workflows (`workflows.ts`)
 *
 * Field names and rules follow docs/didit-v3.md; where it says uncertain, the choice
 * made is commented where it is made.
 */
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REPORTABLE } from '../domain/status.ts';
import type { ResubmitNode } from './wire.ts';
import { sendJson } from '../lib/send-json.ts';
import { isHttpUrl } from '../lib/url.ts';
import { findSession, type SandboxContext } from './context.ts';
import { sameSecret } from './credentials.ts';
import { HttpError, readJsonObject } from './http.ts';
import { sendReport } from './pdf.ts';
import { GENERIC_GET, GENERIC_WRITE, rateLimitHeaders, type Scope } from './rate-limits.ts';
import { SEGMENT, type Route } from './router.ts';
import type { SessionRecord } from './store.ts';
import { createdSession, featuresOf, listRow, v3Decision, workflowItem } from './v3-shapes.ts';
import { WORKFLOWS, findWorkflow, stepOf } from './workflows.ts';

type Json = Record<string, unknown>;

/** Who a change made with the API key shows as, in reviews and the review feed (docs/didit-v3.md §8). */
const API_ACTOR = 'API Client';

/** Endpoint scopes of Didit's rate limits (docs/didit-v3.md §11); the decision's is assumed for v3 (UNCERTAIN). */
const CREATE_SCOPE: Scope = { name: 'session-v2-create', limit: 600 };
const DECISION_SCOPE: Scope = { name: 'session-decision', limit: 100 };
const PDF_SCOPE: Scope = { name: 'session-generate-pdf', limit: 50 };

/** Statuses update-status and a posted review start from (docs/didit-v3.md §5). */
const UPDATABLE_STATUSES = ['Approved', 'Declined', 'In Review', 'Kyc Expired', 'Abandoned', 'Resubmitted'];
/** Step statuses update-status resubmits when no node is named (docs/didit-v3.md §5). */
const AUTO_RESUBMIT = new Set(['Declined', 'In Review', 'Not Finished', 'Expired']);

/** The languages the docs list for `email_language`, also taken for `language` and `contact_details.email_lang`. */
const LANGUAGES = new Set(
  'en es fr de pt it ar bg bn ca cs da el et fa fi he hi hr hu hy id ja ka ko lt lv mk ms nl no pl pt-BR ro ru sk sl so sr sv th tr uk uz vi zh zh-CN zh-TW'.split(' '),
);
const CALLBACK_METHODS = new Set(['initiator', 'completer', 'both']);
const MAX_CALLBACK_LENGTH = 2048;
const MAX_COMMENT_LENGTH = 10_000;
/** A create may carry a reference portrait of up to 1 MB, base64-encoded (docs/didit-v3.md §2). */
const MAX_PORTRAIT_BYTES = 1024 * 1024;
const MAX_CREATE_BODY_BYTES = 2 * MAX_PORTRAIT_BYTES;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]+$/;
const DEFAULT_PAGE_SIZE = 50;
/** Past this a page is cut to it, as DRF's `max_limit` does (the docs name no maximum). */
const MAX_PAGE_SIZE = 100;

export function v3Routes(context: SandboxContext): Route[] {
  const { store, apiKey, rateLimiter, logger } = context;

  /** The key check every v3 call starts with, then the rate limits when they are on. */
  function guard(req: IncomingMessage, res: ServerResponse, scope?: Scope): void {
    const key = req.headers['x-api-key'];
    // Didit's current docs: no key is 403, a wrong one 401 (docs/didit-v3.md §1).
    if (key === undefined || key === '') throw new HttpError(403, { detail: 'You do not have permission to perform this action.' });
    if (!sameSecret(String(key), apiKey)) throw new HttpError(401, { detail: 'Invalid or missing API key' });
    if (!rateLimiter) return;
    const verdict = rateLimiter.take(apiKey, [...(scope ? [scope] : []), genericScope(req.method)]);
    const headers = rateLimitHeaders(verdict);
    if (!verdict.allowed) {
      const detail = `Request was throttled. Expected available in ${verdict.retryAfter} seconds.`;
      throw new HttpError(429, { detail }, { ...headers, 'Retry-After': String(verdict.retryAfter) });
    }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  }

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    guard(req, res, CREATE_SCOPE);
    const input = await readJsonObject(req, MAX_CREATE_BODY_BYTES);
    const checked = checkCreate(input);
    const workflow = checked.workflow;
    const reused = checked.vendorData === null ? undefined : store.findReusable(workflow.id, workflow.version, checked.vendorData);
    if (reused) {
      // Returned again, still 201, with the new callback and metadata (docs/didit-v3.md §2).
      reused.callback = checked.callback;
      reused.metadata = checked.metadata;
      return sendJson(res, 201, createdSession(reused));
    }
    const session = store.create({
      api: 'v3',
      callback: checked.callback,
      features: workflow.v1Features,
      vendorData: checked.vendorData,
      origin: context.sessionOrigin(req),
      workflow: { id: workflow.id, version: workflow.version },
      metadata: checked.metadata,
      callbackMethod: checked.callbackMethod,
      language: checked.language,
      contactDetails: checked.contactDetails,
      expectedDetails: checked.expectedDetails,
    });
    sendJson(res, 201, createdSession(session));
  }

  function decision(req: IncomingMessage, res: ServerResponse, [id]: string[]): void {
    guard(req, res, DECISION_SCOPE);
    sendJson(res, 200, v3Decision(findSession(store, id!)));
  }

  async function pdf(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    guard(req, res, PDF_SCOPE);
    const session = findSession(store, id!);
    if (!REPORTABLE.v3.has(session.status)) {
      throw new HttpError(403, {
        detail: `The session is ${session.status}: a report is only available for sessions that are Approved, Declined, In Review or Kyc Expired.`,
      });
    }
    await sendReport(res, session.id, store.decision(session));
  }

  async function updateStatus(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    guard(req, res);
    const session = findSession(store, id!);
    // The current status is checked before the body (docs/didit-v3.md §5).
    requireUpdatable(session);
    const input = await readJsonObject(req);
    const errors: Json = {};
    const { new_status: status, comment = null, send_email: sendEmail = false, email_address: emailAddress, email_language: emailLanguage } = input;
    if (status === undefined || status === null) errors.new_status = ['This field is required.'];
    else if (status !== 'Approved' && status !== 'Declined' && status !== 'Resubmitted') errors.new_status = [notAChoice(status)];
    checkComment(comment, errors);
    if (typeof sendEmail !== 'boolean') errors.send_email = ['Must be a valid boolean.'];
    if (emailAddress !== undefined && emailAddress !== null && (typeof emailAddress !== 'string' || !EMAIL.test(emailAddress))) {
      errors.email_address = ['Enter a valid email address.'];
    } else if (sendEmail === true && !emailAddress) {
      errors.email_address = ['This field is required when send_email is true.'];
    }
    if (emailLanguage !== undefined && !LANGUAGES.has(emailLanguage as string)) errors.email_language = [notAChoice(emailLanguage)];
    const nodes = status === 'Resubmitted' ? checkNodes(session, input.nodes_to_resubmit, errors) : undefined;
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);

    if (status === 'Resubmitted') {
      if (session.status === 'Resubmitted') throw new HttpError(400, { detail: 'The new status is the same as the current status.' });
      const chosen = nodes ?? autoNodes(session);
      if (chosen.length === 0) {
        throw new HttpError(400, { detail: 'Nothing needs resubmission: name the steps to do again in nodes_to_resubmit.' });
      }
      const reason = (comment as string | null) ?? 'Asked to be done again by a reviewer.';
      store.resubmit(session, { nodes: chosen, reasons: Object.fromEntries(chosen.map((node) => [node.node_id, reason])) }, comment as string | null, API_ACTOR);
    } else if (session.status !== status) {
      // Setting the status a session already has changes nothing: no review, no webhook (docs/didit-v3.md §5).
      store.review(session, status as 'Approved' | 'Declined', comment as string | null, API_ACTOR);
    }
    // The sandbox sends no email; the address is personal data, so it is not logged either.
    if (sendEmail === true) logger.info(`session ${session.id}: an email to the applicant was asked for (not sent by the sandbox)`);
    sendJson(res, 200, { session_id: session.id });
  }

  function remove(req: IncomingMessage, res: ServerResponse, [id]: string[]): void {
    guard(req, res);
    store.delete(findSession(store, id!));
    res.writeHead(204).end();
  }

  function list(req: IncomingMessage, res: ServerResponse): void {
    guard(req, res);
    const query = queryOf(req);
    const errors: Json = {};
    const kind = query.get('session_kind') ?? 'user';
    if (!['user', 'business', 'all'].includes(kind)) errors.session_kind = [notAChoice(kind)];
    const from = dateParam(query, 'date_from', false, errors);
    const to = dateParam(query, 'date_to', true, errors);
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);

    // The sandbox has no business (KYB) sessions: `business` lists none, `all` the user ones.
    let rows: { session: SessionRecord; row: Json }[] = kind === 'business' ? [] : store.all().map((session) => ({ session, row: listRow(session) }));
    const vendorData = query.get('vendor_data');
    if (vendorData !== null) rows = rows.filter(({ session }) => session.vendorData === vendorData);
    const statuses = query.get('status');
    if (statuses !== null) {
      const wanted = new Set(statuses.split(',').map((s) => s.trim()));
      rows = rows.filter(({ session }) => wanted.has(session.status));
    }
    const workflowId = query.get('workflow_id');
    if (workflowId !== null) rows = rows.filter(({ session }) => session.workflowId === workflowId.toLowerCase());
    const country = query.get('country');
    if (country !== null) rows = rows.filter(({ row }) => typeof row.country === 'string' && row.country === country.toUpperCase());
    // search, date_from and date_to are documented for the console's list only (docs/didit-v3.md §6, UNCERTAIN
    // on /v3/sessions/); the sandbox takes them here too.
    const search = query.get('search')?.trim().toLowerCase();
    if (search) {
      rows = rows.filter(({ session, row }) =>
        [session.id, String(session.number), session.vendorData, row.full_name].some((text) => typeof text === 'string' && text.toLowerCase().includes(search)),
      );
    }
    if (from !== undefined) rows = rows.filter(({ session }) => session.createdAt.getTime() >= from);
    if (to !== undefined) rows = rows.filter(({ session }) => session.createdAt.getTime() < to);
    rows.sort((a, b) => b.session.number - a.session.number);
    sendJson(res, 200, paginate(req, rows.map(({ row }) => row)));
  }

  function reviews(req: IncomingMessage, res: ServerResponse, [id]: string[]): void {
    guard(req, res);
    const session = findSession(store, id!);
    // Newest first unless `ordering=created_at`; the parameter's name is not in the docs (UNCERTAIN,
    // DRF's `ordering` assumed). Unknown values are ignored, as Didit's are.
    const oldestFirst = queryOf(req).get('ordering') === 'created_at';
    sendJson(res, 200, paginate(req, oldestFirst ? session.activity : [...session.activity].reverse()));
  }

  async function postReview(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    guard(req, res);
    const session = findSession(store, id!);
    const { new_status: status, comment = null } = await readJsonObject(req);
    const errors: Json = {};
    if (status === undefined || status === null) errors.new_status = ['This field is required.'];
    else if (status !== 'Approved' && status !== 'Declined' && status !== 'In Review') errors.new_status = [notAChoice(status)];
    checkComment(comment, errors);
    if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
    requireUpdatable(session);
    store.review(session, status as 'Approved' | 'Declined' | 'In Review', comment as string | null, API_ACTOR);
    sendJson(res, 201, { ...session.reviews.at(-1)! });
  }

  function workflows(req: IncomingMessage, res: ServerResponse): void {
    guard(req, res);
    // The newest docs edition: a bare array, newest first (docs/didit-v3.md §9, edition B), not a page.
    sendJson(res, 200, WORKFLOWS.map(workflowItem));
  }

  /** Django's APPEND_SLASH: a v3 path without its slash is sent to the one with it, query kept. */
  function addSlash(req: IncomingMessage, res: ServerResponse): void {
    const [path, query] = splitUrl(req.url ?? '/');
    const slashed = `${path}/`;
    if (!routes.some((route) => route !== redirect && route.pattern.test(slashed))) throw new HttpError(404, { detail: 'Not found.' });
    res.writeHead(301, { Location: `${slashed}${query}`, 'Content-Length': 0 }).end();
  }

  /** `{count, next, previous, results}` with DRF's limit/offset links, absolute, other parameters kept. */
  function paginate(req: IncomingMessage, items: readonly unknown[]): Json {
    const query = queryOf(req);
    const limit = Math.min(positiveInt(query.get('limit')) ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const offset = nonNegativeInt(query.get('offset')) ?? 0;
    const [path] = splitUrl(req.url ?? '/');
    const link = (at: number) => {
      const params = new URLSearchParams(query);
      params.set('limit', String(limit));
      if (at > 0) params.set('offset', String(at));
      else params.delete('offset');
      return `${context.sessionOrigin(req)}${path}?${params}`;
    };
    return {
      count: items.length,
      next: offset + limit < items.length ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: items.slice(offset, offset + limit),
    };
  }

  const generic = (method: string) => genericScope(method);
  const redirect: Route = {
    pattern: /^\/v3\/.*[^/]$/,
    endpoint: 'other',
    methods: { GET: addSlash, HEAD: addSlash, POST: addSlash, PATCH: addSlash, PUT: addSlash, DELETE: addSlash },
  };
  const routes: Route[] = [
    { pattern: /^\/v3\/session\/$/, endpoint: 'create', methods: { POST: create }, rateLimit: () => CREATE_SCOPE },
    { pattern: new RegExp(`^/v3/session/${SEGMENT}/decision/$`), endpoint: 'decision', methods: { GET: decision }, rateLimit: () => DECISION_SCOPE },
    { pattern: new RegExp(`^/v3/session/${SEGMENT}/generate-pdf/$`), endpoint: 'pdf', methods: { GET: pdf }, rateLimit: () => PDF_SCOPE },
    { pattern: new RegExp(`^/v3/session/${SEGMENT}/update-status/$`), endpoint: 'update', methods: { PATCH: updateStatus }, rateLimit: generic },
    { pattern: new RegExp(`^/v3/session/${SEGMENT}/delete/$`), endpoint: 'delete', methods: { DELETE: remove }, rateLimit: generic },
    { pattern: /^\/v3\/sessions\/$/, endpoint: 'list', methods: { GET: list }, rateLimit: generic },
    { pattern: new RegExp(`^/v3/sessions/${SEGMENT}/reviews/$`), endpoint: 'reviews', methods: { GET: reviews, POST: postReview }, rateLimit: generic },
    { pattern: /^\/v3\/workflows\/$/, endpoint: 'workflows', methods: { GET: workflows }, rateLimit: generic },
    redirect,
  ];
  return routes;
}

function genericScope(method: string | undefined): Scope {
  return method === 'GET' || method === 'HEAD' ? GENERIC_GET : GENERIC_WRITE;
}

function requireUpdatable(session: SessionRecord): void {
  if (!UPDATABLE_STATUSES.includes(session.status)) {
    throw new HttpError(400, {
      detail: `Wrong current status: the session is ${session.status}; only ${UPDATABLE_STATUSES.join(', ')} sessions can be updated.`,
    });
  }
}

function checkComment(comment: unknown, errors: Json): void {
  if (comment === null) return;
  if (typeof comment !== 'string') errors.comment = ['Not a valid string.'];
  else if (comment.length > MAX_COMMENT_LENGTH) errors.comment = [`Ensure this field has no more than ${MAX_COMMENT_LENGTH} characters.`];
}

/** `nodes_to_resubmit` as given, checked against the session's steps; undefined when not given. */
function checkNodes(session: SessionRecord, value: unknown, errors: Json): ResubmitNode[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    errors.nodes_to_resubmit = [`Expected a list of items but got type "${typeName(value)}".`];
    return undefined;
  }
  const steps = featuresOf(session).map(stepOf);
  const nodes = new Map<string, ResubmitNode>();
  const problems: string[] = [];
  for (const item of value as unknown[]) {
    const node = item as Json;
    if (!node || typeof node !== 'object' || Array.isArray(node) || typeof node.node_id !== 'string') {
      problems.push('Each item is an object with a node_id, e.g. {"node_id": "feature_ocr", "feature": "OCR"}.');
      continue;
    }
    const step = steps.find((s) => s.nodeId === node.node_id);
    if (!step) {
      problems.push(`"${node.node_id.slice(0, 100)}" is not a step of this session; its steps are ${steps.map((s) => s.nodeId).join(', ')}.`);
      continue;
    }
    if (node.feature !== undefined && node.feature !== step.feature && !step.aliases.includes(node.feature as string)) {
      problems.push(`"${String(node.feature).slice(0, 100)}" is not the feature of ${step.nodeId} (${step.feature}).`);
      continue;
    }
    nodes.set(step.nodeId, { node_id: step.nodeId, feature: (node.feature as string | undefined) ?? step.feature });
  }
  if (problems.length > 0) errors.nodes_to_resubmit = problems;
  return [...nodes.values()];
}

/** Without named steps, those whose last attempt did not pass (docs/didit-v3.md §5). */
function autoNodes(session: SessionRecord): ResubmitNode[] {
  const decision = v3Decision(session);
  return featuresOf(session)
    .map(stepOf)
    .filter((step) => {
      const item = (decision[step.list] as Json[] | null)?.[0];
      return item !== undefined && AUTO_RESUBMIT.has(item.status as string);
    })
    .map((step) => ({ node_id: step.nodeId, feature: step.feature }));
}

interface CheckedCreate {
  workflow: NonNullable<ReturnType<typeof findWorkflow>>;
  vendorData: string | null;
  callback: string | null;
  callbackMethod: string;
  language: string | null;
  metadata: Json | null;
  contactDetails: Json | null;
  expectedDetails: Json | null;
}

/** The create body, field by field, as Didit's serializer reads it; every problem in one 400. */
function checkCreate(input: Json): CheckedCreate {
  const errors: Json = {};
  const { workflow_id: workflowId, vendor_data: vendorData = null, callback = null, callback_method: callbackMethod = 'initiator', language = null } = input;
  let workflow: CheckedCreate['workflow'] | undefined;
  if (workflowId === undefined) errors.workflow_id = ['This field is required.'];
  else if (workflowId === null) errors.workflow_id = ['This field may not be null.'];
  else if (typeof workflowId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(workflowId)) {
    errors.workflow_id = ['Must be a valid UUID.'];
  } else {
    workflow = findWorkflow(workflowId);
    if (!workflow) errors.workflow_id = ['No published workflow has this id; GET /v3/workflows/ lists them.'];
  }
  if (vendorData !== null && typeof vendorData !== 'string') errors.vendor_data = ['Not a valid string.'];
  if (callback !== null && (!isHttpUrl(callback) || callback.length > MAX_CALLBACK_LENGTH)) errors.callback = ['Enter a valid URL.'];
  if (!CALLBACK_METHODS.has(callbackMethod as string)) errors.callback_method = [notAChoice(callbackMethod)];
  if (language !== null && !LANGUAGES.has(language as string)) errors.language = [notAChoice(language)];
  const metadata = checkMetadata(input.metadata, errors);
  const contactDetails = nested(input.contact_details, 'contact_details', errors, checkContactDetails);
  const expectedDetails = nested(input.expected_details, 'expected_details', errors, checkExpectedDetails);
  const portrait = input.portrait_image;
  if (portrait !== undefined && portrait !== null) {
    if (typeof portrait !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(portrait)) errors.portrait_image = ['Enter a base64-encoded image.'];
    else if ((portrait.length * 3) / 4 > MAX_PORTRAIT_BYTES) errors.portrait_image = ['The image must be at most 1 MB.'];
  }
  if (Object.keys(errors).length > 0) throw new HttpError(400, errors);
  return {
    workflow: workflow!,
    vendorData: vendorData as string | null,
    callback: callback as string | null,
    callbackMethod: callbackMethod as string,
    language: language as string | null,
    metadata,
    contactDetails,
    expectedDetails,
  };
}

/**
 * `metadata`: the docs' curl sends a JSON string, the MCP server and the integration prompt an
 * object (UNCERTAIN); both are taken, and answers carry the object, as Didit's examples do.
 */
function checkMetadata(value: unknown, errors: Json): Json | null {
  if (value === undefined || value === null) return null;
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      errors.metadata = ['Value must be valid JSON.'];
      return null;
    }
  }
  if (!isObject(parsed)) {
    errors.metadata = ['Must be a JSON object.'];
    return null;
  }
  return parsed;
}

/** A nested serializer: not an object is DRF's non_field_errors, field errors nest under the name. */
function nested(value: unknown, name: string, errors: Json, check: (input: Json, errors: Json) => Json): Json | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) {
    errors[name] = { non_field_errors: [`Invalid data. Expected a dictionary, but got ${typeName(value)}.`] };
    return null;
  }
  const inner: Json = {};
  const checked = check(value, inner);
  if (Object.keys(inner).length > 0) errors[name] = inner;
  return checked;
}

function checkContactDetails(input: Json, errors: Json): Json {
  const { email = null, send_notification_emails: notify = false, email_lang: emailLang = 'en', phone = null } = input;
  if (email !== null && (typeof email !== 'string' || !EMAIL.test(email))) errors.email = ['Enter a valid email address.'];
  if (typeof notify !== 'boolean') errors.send_notification_emails = ['Must be a valid boolean.'];
  if (!LANGUAGES.has(emailLang as string)) errors.email_lang = [notAChoice(emailLang)];
  if (phone !== null && (typeof phone !== 'string' || !/^\+[1-9]\d{6,14}$/.test(phone))) {
    errors.phone = ['Enter a valid phone number in E.164 form, e.g. +14155552671.'];
  }
  return { email, email_lang: emailLang, send_notification_emails: notify, phone };
}

/** Both docs editions' fields: `country`, and the newer `id_country` / `poa_country` (docs/didit-v3.md §2). */
const EXPECTED_STRINGS = ['first_name', 'last_name', 'address', 'identification_number'];
const EXPECTED_COUNTRIES = ['nationality', 'country', 'id_country', 'poa_country'];

function checkExpectedDetails(input: Json, errors: Json): Json {
  const out: Json = {};
  for (const key of EXPECTED_STRINGS) {
    const value = input[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') errors[key] = ['Not a valid string.'];
    else out[key] = value;
  }
  for (const key of EXPECTED_COUNTRIES) {
    const value = input[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value)) errors[key] = ['Enter an ISO 3166-1 alpha-3 country code, e.g. ESP.'];
    else out[key] = value;
  }
  const { date_of_birth: dateOfBirth, gender, ip_address: ipAddress, expected_document_types: documentTypes } = input;
  if (dateOfBirth !== undefined && dateOfBirth !== null) {
    if (typeof dateOfBirth !== 'string' || !isDate(dateOfBirth)) errors.date_of_birth = ['Date has wrong format. Use one of these formats instead: YYYY-MM-DD.'];
    else out.date_of_birth = dateOfBirth;
  }
  if (gender !== undefined) {
    if (gender !== null && gender !== 'M' && gender !== 'F') errors.gender = [notAChoice(gender)];
    else out.gender = gender;
  }
  if (ipAddress !== undefined && ipAddress !== null) {
    if (typeof ipAddress !== 'string' || isIP(ipAddress) === 0) errors.ip_address = ['Enter a valid IPv4 or IPv6 address.'];
    else out.ip_address = ipAddress;
  }
  // The element type is not documented (UNCERTAIN): document type names as strings are taken.
  if (documentTypes !== undefined && documentTypes !== null) {
    if (!Array.isArray(documentTypes)) errors.expected_document_types = [`Expected a list of items but got type "${typeName(documentTypes)}".`];
    else if (documentTypes.some((t) => typeof t !== 'string')) errors.expected_document_types = ['Not a valid string.'];
    else out.expected_document_types = documentTypes;
  }
  return out;
}

/** `date_from` / `date_to`: a date (the whole day, for `date_to`) or an ISO date-time; epoch ms. */
function dateParam(query: URLSearchParams, name: string, endOfDay: boolean, errors: Json): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (isDate(value)) return Date.parse(`${value}T00:00:00Z`) + (endOfDay ? 86_400_000 : 0);
  const time = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) {
    errors[name] = ['Date has wrong format. Use one of these formats instead: YYYY-MM-DD.'];
    return undefined;
  }
  return endOfDay ? time + 1 : time;
}

function isDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  return { string: 'str', number: 'int', boolean: 'bool' }[typeof value as string] ?? typeof value;
}

function notAChoice(value: unknown): string {
  return `"${String(value).slice(0, 100)}" is not a valid choice.`;
}

/** DRF reads a bad or non-positive limit as the default. */
function positiveInt(value: string | null): number | undefined {
  const n = value !== null && /^\d{1,9}$/.test(value) ? Number(value) : 0;
  return n > 0 ? n : undefined;
}

function nonNegativeInt(value: string | null): number | undefined {
  return value !== null && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

function splitUrl(url: string): [path: string, query: string] {
  const at = url.indexOf('?');
  return at === -1 ? [url, ''] : [url.slice(0, at), url.slice(at)];
}

function queryOf(req: IncomingMessage): URLSearchParams {
  return new URLSearchParams(splitUrl(req.url ?? '/')[1]);
}
