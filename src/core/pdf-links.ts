import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isSessionId } from '../didit/session-id.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';

export interface PdfLink {
  url: string;
  /** Unix seconds. */
  expiresAt: number;
  filename: string;
}

export interface PdfLinks {
  create(sessionId: string): PdfLink;
  /** The session id a request path + query grants, or null for a tampered, expired or foreign link. */
  verify(pathname: string, searchParams: URLSearchParams): string | null;
}

const REPORT_PATH = /^\/reports\/([0-9a-fA-F-]{36})\.pdf$/;

/**
 * Short-lived download links for PDF reports, signed by the gateway: the HMAC covers the session
 * id and the expiry, so a link cannot be stretched in time or pointed at another session. The
 * browser downloads with the link alone, without the caller's bearer token.
 */
export function createPdfLinks(options: { publicUrl: string; secret?: string; ttlSeconds: number }): PdfLinks {
  // Without a configured key, a random one per process: links then work on this instance only.
  const key = options.secret ? Buffer.from(options.secret) : randomBytes(32);
  const sign = (sessionId: string, expires: number) =>
    createHmac('sha256', key).update(`pdf:${sessionId}:${expires}`).digest();

  return {
    create(sessionId) {
      const id = sessionId.toLowerCase();
      const expiresAt = Math.floor(Date.now() / 1000) + options.ttlSeconds;
      const signature = sign(id, expiresAt).toString('base64url');
      return {
        url: `${options.publicUrl}/reports/${id}.pdf?expires=${expiresAt}&signature=${signature}`,
        expiresAt,
        filename: pdfFileName(id),
      };
    },
    verify(pathname, searchParams) {
      const id = REPORT_PATH.exec(pathname)?.[1]?.toLowerCase();
      const expiresText = searchParams.get('expires') ?? '';
      const given = Buffer.from(searchParams.get('signature') ?? '', 'base64url');
      if (!id || !isSessionId(id) || !/^\d{1,12}$/.test(expiresText)) return null;
      const expires = Number(expiresText);
      if (expires < Date.now() / 1000) return null;
      const expected = sign(id, expires);
      return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
    },
  };
}
