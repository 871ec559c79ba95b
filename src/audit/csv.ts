import type { AuditRecord } from '../core/audit.ts';

/**
 * One CSV cell (RFC 4180), quoted, and safe to open in a spreadsheet: a cell that a spreadsheet
 * would run as a formula (starting with = + - @, a tab or a carriage return, after any spaces)
 * gets a leading apostrophe, so that a comment such as `=HYPERLINK(...)` stays text.
 */
export function csvCell(value: string | number | boolean | null): string {
  const text = value === null ? '' : String(value);
  const safe = /^\s*[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

export const CSV_HEADER = ['sequence', 'at', 'action', 'actor', 'roles', 'session_id', 'status_before', 'status_after', 'comment', 'comment_erased', 'outcome', 'request_id'];

export function csvRow(record: AuditRecord): string {
  return `${[
    record.seq,
    record.at.toISOString(),
    record.action,
    record.actor,
    record.roles.join(' '),
    record.sessionId,
    record.statusBefore,
    record.statusAfter,
    record.comment,
    record.commentErased,
    record.outcome,
    record.requestId,
  ]
    .map(csvCell)
    .join(',')}\r\n`;
}
