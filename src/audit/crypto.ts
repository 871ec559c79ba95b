import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Keys of the audit trail, all from AUDIT_KEY: one wraps the per-session keys, one keys the hash
 * chain. Free text is sealed with its session's own key (AES-256-GCM); destroying that key
 * (crypto-shredding) leaves the ciphertext, and so the chain, intact but unreadable.
 */
export interface AuditKeys {
  wrap: Buffer;
  chain: Buffer;
}

export function deriveKeys(auditKey: Buffer): AuditKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', auditKey, Buffer.alloc(0), info, 32));
  return { wrap: derive('didit-gateway audit: session-key wrap'), chain: derive('didit-gateway audit: hash chain') };
}

function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

function open(key: Buffer, sealed: string, aad: string): Buffer {
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
}

export const newSessionKey = () => randomBytes(32);
export const wrapSessionKey = (keys: AuditKeys, sessionId: string, key: Buffer) => seal(keys.wrap, key, `session-key:${sessionId}`);
export const unwrapSessionKey = (keys: AuditKeys, sessionId: string, wrapped: string) => open(keys.wrap, wrapped, `session-key:${sessionId}`);
export const sealText = (key: Buffer, sessionId: string, text: string) => seal(key, Buffer.from(text, 'utf8'), `comment:${sessionId}`);
export const openText = (key: Buffer, sessionId: string, sealed: string) => open(key, sealed, `comment:${sessionId}`).toString('utf8');
