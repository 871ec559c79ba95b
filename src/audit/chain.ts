import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import type { AuditIntegrity } from '../core/audit.ts';

/**
 * The hash chain. Each record's hash is an HMAC (keyed by AUDIT_KEY, so that whoever can write
 * the database cannot recompute a forged chain) over the previous record's hash and the record's
 * canonical encoding. A head row (first and last record, also MACed) lets a removed tail or a
 * record appended by hand be seen, and lets the retention purge cut the oldest records cleanly.
 */

export const GENESIS = '0'.repeat(64);

/** A record as stored: the columns the hash covers (the comment as its ciphertext). */
export interface StoredRecord {
  seq: number;
  at: Date;
  action: string;
  actor: string | null;
  roles: string[];
  sessionId: string | null;
  statusBefore: string | null;
  statusAfter: string | null;
  comment: string | null;
  outcome: string;
  requestId: string | null;
  prevHash: string;
  hash: string;
}

export interface ChainHead {
  firstSeq: number;
  firstPrev: string;
  lastSeq: number;
  lastHash: string;
  mac: string;
}

export const EMPTY_HEAD = { firstSeq: 1, firstPrev: GENESIS, lastSeq: 0, lastHash: GENESIS };

/** Version 1 of what a record's hash covers. */
export function recordHash(key: Buffer, record: Omit<StoredRecord, 'hash'>): string {
  const body = canonicalJson({
    v: 1,
    seq: record.seq,
    at: record.at.toISOString(),
    action: record.action,
    actor: record.actor,
    roles: record.roles,
    sessionId: record.sessionId,
    statusBefore: record.statusBefore,
    statusAfter: record.statusAfter,
    comment: record.comment,
    outcome: record.outcome,
    requestId: record.requestId,
  });
  return createHmac('sha256', key).update(`${record.prevHash}\n${body}`).digest('hex');
}

export function headMac(key: Buffer, head: Omit<ChainHead, 'mac'>): string {
  const body = canonicalJson({ head: 1, firstSeq: head.firstSeq, firstPrev: head.firstPrev, lastSeq: head.lastSeq, lastHash: head.lastHash });
  return createHmac('sha256', key).update(body).digest('hex');
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Walks the records (in seq order, any number of batches) against the head and names the first
 * one that was changed, removed or inserted.
 */
export async function verifyChain(key: Buffer, head: ChainHead | undefined, records: AsyncIterable<StoredRecord>): Promise<AuditIntegrity> {
  let walked = 0;
  const broken = (seq: number | null, problem: string): AuditIntegrity => ({ intact: false, records: walked, firstBroken: seq, problem });
  const top = head ?? { ...EMPTY_HEAD, mac: headMac(key, EMPTY_HEAD) };
  if (!same(top.mac, headMac(key, top))) return broken(null, "the chain's head row was changed");

  let expected = top.firstSeq;
  let previous = top.firstPrev;
  for await (const record of records) {
    if (record.seq < expected || record.seq > top.lastSeq) return broken(record.seq, `record #${record.seq} was inserted (it is not part of the chain)`);
    if (record.seq > expected) return broken(expected, `record #${expected} was removed`);
    const linked = same(record.prevHash, previous);
    if (!same(record.hash, recordHash(key, record))) {
      return broken(record.seq, linked ? `record #${record.seq} was changed` : `record #${record.seq} was inserted (it does not follow record #${record.seq - 1})`);
    }
    if (!linked) return broken(record.seq, `a record before #${record.seq} was removed`);
    previous = record.hash;
    expected += 1;
    walked += 1;
  }
  if (expected <= top.lastSeq) return broken(expected, `record #${expected} was removed${expected < top.lastSeq ? ` (and the ${top.lastSeq - expected} after it)` : ''}`);
  if (!same(previous, top.lastHash)) return broken(top.lastSeq, `record #${top.lastSeq} was changed`);
  return { intact: true, records: walked, firstBroken: null, problem: null };
}
