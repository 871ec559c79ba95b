import type { Session } from '../domain/model.ts';
import type { SessionIndex } from '../core/session-index.ts';
import { DELETED_STATUS } from '../domain/status.ts';
import type { Db, Row } from './db.ts';

/** The session index in the audit database (table `session_index`, migration 2). */
export function createSessionIndex(db: Db): SessionIndex {
  return {
    async add(session) {
      await db.query(
        `insert into session_index (id, vendor_data, status, workflow, created_at, updated_at) values ($1, $2, $3, $4, $5, now())
         on conflict (id) do nothing`,
        [session.id, session.vendorData, session.status, session.workflowId, session.createdAt ?? new Date().toISOString()],
      );
    },

    async noteStatus(sessionId, status, at) {
      const id = sessionId.toLowerCase();
      if (status === DELETED_STATUS) await db.query('delete from session_index where id = $1', [id]);
      else await db.query('update session_index set status = $2, updated_at = $3 where id = $1', [id, status, at]);
    },

    async listSessions(filter, page) {
      const params: unknown[] = [];
      const conditions: string[] = [];
      const param = (value: unknown) => (params.push(value), `$${params.length}`);
      if (filter.vendorData !== undefined) conditions.push(`vendor_data = ${param(filter.vendorData)}`);
      if (filter.statuses?.length) conditions.push(`status = any(${param(filter.statuses)})`);
      if (filter.workflowId !== undefined) conditions.push(`workflow = ${param(filter.workflowId)}`);
      // YYYY-MM-DD, inclusive, days in UTC whatever the database's time zone.
      const day = (value: string, plus = 0) => `((${param(value)}::date + ${plus})::timestamp at time zone 'UTC')`;
      if (filter.dateFrom !== undefined) conditions.push(`created_at >= ${day(filter.dateFrom)}`);
      if (filter.dateTo !== undefined) conditions.push(`created_at < ${day(filter.dateTo, 1)}`);
      const where = conditions.length ? `where ${conditions.join(' and ')}` : '';
      const [counted] = await db.query(`select count(*)::int as count from session_index ${where}`, params);
      const rows = await db.query(
        `select * from session_index ${where} order by created_at desc, id desc limit ${param(page.limit)} offset ${param(page.offset)}`,
        params,
      );
      return { count: Number(counted!.count), results: rows.map(sessionOf) };
    },
  };
}

function sessionOf(row: Row): Session {
  return {
    id: String(row.id),
    number: null,
    url: null,
    status: String(row.status),
    vendorData: row.vendor_data == null ? null : String(row.vendor_data),
    callback: null,
    features: [],
    workflowId: row.workflow == null ? null : String(row.workflow),
    metadata: null,
    createdAt: new Date(row.created_at as string | Date).toISOString(),
    fullName: null,
    documentType: null,
    country: null,
  };
}
