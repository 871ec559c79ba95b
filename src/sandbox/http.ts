/**
 * Small `node:http` helpers for the sandbox: capped body reading, JSON and form parsing with
 * Didit's (Django REST framework's) error shapes, and the error a handler throws to answer.
 * JSON answers go out through `lib/send-json.ts`, as the gateway's do.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { readBody as readCapped } from '../lib/read-body.ts';

/** Bodies above this are refused with 413: nothing the API takes comes near it (but v3's portrait_image). */
export const MAX_BODY_BYTES = 64 * 1024;

/** An answer to send instead of going on; thrown by handlers and helpers alike. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * The whole body, at most `MAX_BODY_BYTES`. Past that, reading stops and a 413 is thrown; its
 * `Connection: close` makes Node drop the connection after answering instead of reading the rest.
 */
export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const body = await readCapped(req, maxBytes);
  if (!body) throw new HttpError(413, { detail: 'Request body too large.' }, { Connection: 'close' });
  return body;
}

/** The media type of the request, lower-case, without parameters such as charset. */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * A JSON body, as Didit reads one: an empty body is `{}` (so missing fields are reported as
 * such), another media type is 415, and JSON that does not parse is 400 "JSON parse error".
 */
export async function readJson(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  if (body.length === 0) return {};
  const type = mediaType(req);
  if (type !== 'application/json') {
    throw new HttpError(415, { detail: `Unsupported media type "${type.slice(0, 100)}" in request.` });
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, { detail: 'JSON parse error' });
  }
}

/** A JSON body that must be an object, for endpoints whose fields are validated one by one. */
export async function readJsonObject(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const body = await readJson(req, maxBytes);
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, { non_field_errors: ['Invalid data. Expected a dictionary.'] });
  }
  return body as Record<string, unknown>;
}

/** An `application/x-www-form-urlencoded` body; any other media type reads as empty. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const body = await readBody(req);
  return new URLSearchParams(mediaType(req) === 'application/x-www-form-urlencoded' ? body.toString('utf8') : '');
}
