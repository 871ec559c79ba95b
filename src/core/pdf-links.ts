import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isSessionId } from '../didit/session-id.ts';
import { pdfFileName } from '../lib/pdf-file-name.ts';
import type { Payer } from './budget.ts';

/** Counts uses of a key for a while, for the fleet when Redis is there (fleet-buckets.ts). */
export interface UseCounter {
  /** Adds one use of `key`, remembered for `ttlMs`, and says whether it is within `max` (a fair part of it for an instance counting alone). */
  use(key: string, max: number, ttlMs: number): Promise<boolean>;
}

export interface PdfLink {
  url: string;
  /** Unix seconds. */
  expiresAt: number;
  filename: string;
}

export interface PdfLinks {
  /** A link for `payer`, who is charged for each download (each one is a Didit call). */
  create(sessionId: string, payer: Payer): PdfLink;
  /**
   * What a request path + query grants, counting one download: null for a tampered, expired or
   * foreign link, 'used-up' once the link has been downloaded `maxDownloads` times.
   */
  download(pathname: string, searchParams: URLSearchParams): Promise<{ sessionId: string; payer: Payer } | 'used-up' | null>;
}

/** The payer as the link carries it: role and the hash of their `sub`, never the `sub` itself. */
const PAYER = /^([ar])\.([\w-]{22})$/;

const REPORT_PATH = /^\/reports\/([0-9a-fA-F-]{36})\.pdf$/;

/**
 * Short-lived download links for PDF reports, signed by the gateway: the HMAC covers the session
 * id, the expiry and who asked for the link, so a link cannot be stretched in time, pointed at
 * another session or charged to someone else. The browser downloads with the link alone, without
 * the caller's bearer token; each download is charged to whoever made the link, and a link serves
 * only `maxDownloads` downloads (a browser's retry or two), so a leaked link cannot spend its
 * maker's part of Didit's PDFs.
 */
export function createPdfLinks(options: { publicUrl: string; secret?: string; ttlSeconds: number; maxDownloads: number; counter: UseCounter }): PdfLinks {
  // Without a configured key, a random one per process: links then work on this instance only.
  const key = options.secret ? Buffer.from(options.secret) : randomBytes(32);
  // `n` makes every link its own, so that each counts its own downloads.
  const sign = (sessionId: string, expires: number, by: string, n: string) =>
    createHmac('sha256', key).update(`pdf:${sessionId}:${expires}:${by}:${n}`).digest();

  return {
    create(sessionId, payer) {
      const id = sessionId.toLowerCase();
      const expiresAt = Math.floor(Date.now() / 1000) + options.ttlSeconds;
      const by = `${payer.level === 'reviewers' ? 'r' : 'a'}.${payer.id}`;
      const n = randomBytes(9).toString('base64url');
      const signature = sign(id, expiresAt, by, n).toString('base64url');
      return {
        url: `${options.publicUrl}/reports/${id}.pdf?expires=${expiresAt}&by=${by}&n=${n}&signature=${signature}`,
        expiresAt,
        filename: pdfFileName(id),
      };
    },
    async download(pathname, searchParams) {
      const id = REPORT_PATH.exec(pathname)?.[1]?.toLowerCase();
      const expiresText = searchParams.get('expires') ?? '';
      const given = Buffer.from(searchParams.get('signature') ?? '', 'base64url');
      const by = searchParams.get('by') ?? '';
      const n = searchParams.get('n') ?? '';
      const payer = PAYER.exec(by);
      if (!id || !isSessionId(id) || !/^\d{1,12}$/.test(expiresText) || !payer || !/^[\w-]{12}$/.test(n)) return null;
      const expires = Number(expiresText);
      if (expires < Date.now() / 1000) return null;
      const expected = sign(id, expires, by, n);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      const within = await options.counter.use(`pdf-link:${given.toString('base64url')}`, options.maxDownloads, expires * 1000 - Date.now() + 1000);
      if (!within) return 'used-up';
      return { sessionId: id, payer: { level: payer[1] === 'r' ? 'reviewers' : 'applicants', id: payer[2]! } };
    },
  };
}
