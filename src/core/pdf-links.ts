import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isSessionId } from '../didit/session-id.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import type { Payer } from './budget.ts';

export interface PdfLink {
  url: string;
  /** Unix seconds. */
  expiresAt: number;
  filename: string;
}

export interface PdfLinks {
  /** A link for `payer`, who is charged for each download (each one is a Didit call). */
  create(sessionId: string, payer: Payer): PdfLink;
  /** What a request path + query grants, or null for a tampered, expired or foreign link. */
  verify(pathname: string, searchParams: URLSearchParams): { sessionId: string; payer: Payer } | null;
}

/** The payer as the link carries it: role and the hash of their `sub`, never the `sub` itself. */
const PAYER = /^([ar])\.([\w-]{22})$/;

const REPORT_PATH = /^\/reports\/([0-9a-fA-F-]{36})\.pdf$/;

/**
 * Short-lived download links for PDF reports, signed by the gateway: the HMAC covers the session
 * id, the expiry and who asked for the link, so a link cannot be stretched in time, pointed at
 * another session or charged to someone else. The browser downloads with the link alone, without
 * the caller's bearer token; each download is charged to whoever made the link.
 */
export function createPdfLinks(options: { publicUrl: string; secret?: string; ttlSeconds: number }): PdfLinks {
  // Without a configured key, a random one per process: links then work on this instance only.
  const key = options.secret ? Buffer.from(options.secret) : randomBytes(32);
  const sign = (sessionId: string, expires: number, by: string) =>
    createHmac('sha256', key).update(`pdf:${sessionId}:${expires}:${by}`).digest();

  return {
    create(sessionId, payer) {
      const id = sessionId.toLowerCase();
      const expiresAt = Math.floor(Date.now() / 1000) + options.ttlSeconds;
      const by = `${payer.reviewer ? 'r' : 'a'}.${payer.id}`;
      const signature = sign(id, expiresAt, by).toString('base64url');
      return {
        url: `${options.publicUrl}/reports/${id}.pdf?expires=${expiresAt}&by=${by}&signature=${signature}`,
        expiresAt,
        filename: pdfFileName(id),
      };
    },
    verify(pathname, searchParams) {
      const id = REPORT_PATH.exec(pathname)?.[1]?.toLowerCase();
      const expiresText = searchParams.get('expires') ?? '';
      const given = Buffer.from(searchParams.get('signature') ?? '', 'base64url');
      const by = searchParams.get('by') ?? '';
      const payer = PAYER.exec(by);
      if (!id || !isSessionId(id) || !/^\d{1,12}$/.test(expiresText) || !payer) return null;
      const expires = Number(expiresText);
      if (expires < Date.now() / 1000) return null;
      const expected = sign(id, expires, by);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      return { sessionId: id, payer: { reviewer: payer[1] === 'r', id: payer[2]! } };
    },
  };
}
