import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { checkAuditRead, type RawAuditFilter } from '../audit/access.ts';
import { CSV_HEADER, csvCell, csvRow } from '../audit/csv.ts';
import { BATCH } from '../audit/store.ts';
import type { Authenticate } from '../core/auth.ts';
import type { Services } from '../core/context.ts';
import { drained } from '../lib/drained.ts';
import { sendErrors } from '../lib/send-json.ts';
import { toClientError } from './errors.ts';

export const AUDIT_EXPORT_PATH = '/audit/export';

const STATUS: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400 };
const PARAMETERS = ['sessionId', 'actor', 'action', 'from', 'to'];

/**
 * `GET /audit/export?sessionId=&actor=&action=&from=&to=` with `Authorization: Bearer <JWT>`: the
 * audit trail as CSV, for a regulator's request, under the rules of `auditEvents` (auditors all of
 * it, a reviewer one session's). Streamed page by page at the pace the client reads.
 */
export function createAuditExportRoute(options: { services: Services; authenticate: Authenticate }) {
  const { services, authenticate } = options;
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (pathname !== AUDIT_EXPORT_PATH) return false;
    if (req.method !== 'GET') {
      sendErrors(res, 405, 'BAD_REQUEST', 'Only GET exports the audit trail', { allow: 'GET' });
      return true;
    }
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    let filter;
    try {
      const unknown = [...query.keys()].find((key) => !PARAMETERS.includes(key) || query.getAll(key).length > 1);
      if (unknown !== undefined) throw new GraphQLError(`Unknown or repeated parameter; the filter takes ${PARAMETERS.join(', ')}`, { extensions: { code: 'BAD_USER_INPUT' } });
      const raw: RawAuditFilter = Object.fromEntries(PARAMETERS.map((key) => [key, query.get(key)]));
      filter = checkAuditRead(await authenticate(req.headers.authorization), raw, '');
    } catch (error) {
      const refusal = toClientError(error, () => undefined);
      const code = String(refusal.extensions.code);
      if (!(code in STATUS)) throw error;
      sendErrors(res, STATUS[code]!, code, refusal.message, code === 'UNAUTHENTICATED' ? { 'www-authenticate': 'Bearer' } : {});
      return true;
    }
    let after = 0;
    let page = await services.audit.list(filter, { after, first: BATCH });
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': 'attachment; filename="audit-trail.csv"',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.write(`${CSV_HEADER.map(csvCell).join(',')}\r\n`);
    while (page.length > 0 && !res.destroyed) {
      for (const record of page) if (!res.write(csvRow(record))) await drained(res);
      if (page.length < BATCH) break;
      after = page.at(-1)!.seq;
      page = await services.audit.list(filter, { after, first: BATCH });
    }
    res.end();
    return true;
  };
}
