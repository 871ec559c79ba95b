import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { AuditConfig } from '../config.ts';
import { ConfigError } from '../config/env.ts';
import type { Caller } from '../core/access.ts';
import { rolesOf, type AuditEntry, type AuditFilter, type AuditRecord, type AuditTrail } from '../core/audit.ts';
import { pseudonym } from '../core/budget.ts';
import { EMPTY_HEAD, headMac, recordHash, verifyChain, type ChainHead, type StoredRecord } from './chain.ts';
import { deriveKeys, newSessionKey, openText, sealText, unwrapSessionKey, wrapSessionKey, type AuditKeys } from './crypto.ts';
import { DataDirInUse, openPglite, openPostgres, type Db, type Query, type Row } from './db.ts';
import { migrate } from './migrations.ts';
import { createSessionIndex } from './session-index.ts';
import type { SessionIndex } from '../core/session-index.ts';

/** The lock appends (and the purge) take, so that the chain is written in one order by a whole fleet. */
const CHAIN_LOCK = 0x6368_6169; // 'chai'
const HOUR_MS = 3_600_000;
/** Records written in one transaction at most, and waiting at most (beyond, reviewers' reads are given up, logged). */
const RECORDS_PER_TRANSACTION = 500;
const MAX_WAITING = 50_000;
const DAY_MS = 24 * HOUR_MS;
/** Records read per round trip by the verifier and the export. */
export const BATCH = 500;

/** A caller as the trail names them: reviewers and auditors by `sub`, anyone else by keyed pseudonym. */
export function actorOf(caller: Caller): string {
  return caller.reviewer || caller.auditor ? caller.sub : `pseudonym:${pseudonym(`sub:${caller.sub}`)}`;
}

export interface AuditStoreOptions {
  config: AuditConfig;
  log: Logger;
  /** Purge job period (default one hour); 0: none (tests and the CLI). */
  purgeEveryMs?: number;
}

/** Opens the trail's database (PostgreSQL or PGlite), runs the migrations, starts the purge job; the session index lives there too. */
export async function openAuditStore(options: AuditStoreOptions): Promise<AuditTrail & { sessions: SessionIndex }> {
  const { config, log } = options;
  const variable = config.databaseUrl ? 'DATABASE_URL' : 'DATA_DIR';
  let db: Db | undefined;
  let keys: AuditKeys;
  try {
    keys = deriveKeys(auditKey(config, log));
    db = config.databaseUrl ? await openPostgres(config.databaseUrl, log) : await openPglite(join(config.dataDir, 'audit'));
    await migrate(db);
  } catch (error) {
    await db?.close().catch(() => undefined);
    // One line naming the variable, never its value (a URL may hold a password).
    if (error instanceof DataDirInUse) {
      throw new ConfigError(variable, `is in use by another gateway (process ${error.pid}): give each instance its own DATA_DIR, or set DATABASE_URL for several`);
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(variable, `leads to an audit database that cannot be opened${code ? ` (${code})` : ''}`);
  }
  const store = { ...createAuditStore(db, keys, config.retentionDays, log), sessions: createSessionIndex(db) };
  const every = options.purgeEveryMs ?? HOUR_MS;
  if (every <= 0) return store;
  const purge = () => void store.purge().catch((error: NodeJS.ErrnoException) => log.error({ code: error.code, err: error.message }, 'audit purge failed'));
  const timer = setInterval(purge, every);
  timer.unref();
  purge();
  return { ...store, close: () => (clearInterval(timer), store.close()) };
}

/**
 * AUDIT_KEY, or outside production a key generated on first start and kept in DATA_DIR
 * (`audit.key`, readable by its owner only): instances sharing a database must share the key.
 */
function auditKey(config: AuditConfig, log: Logger): Buffer {
  if (config.key) return config.key.bytes();
  const file = join(config.dataDir, 'audit.key');
  mkdirSync(config.dataDir, { recursive: true });
  try {
    writeFileSync(file, randomBytes(32).toString('base64'), { flag: 'wx', mode: 0o600 });
    log.warn({ file }, 'AUDIT_KEY is not set: generated one and kept it in DATA_DIR (set AUDIT_KEY in production)');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key`);
  return key;
}

const text = (value: unknown) => (typeof value === 'string' ? value : null);

function fromRow(row: Row): StoredRecord {
  return {
    seq: Number(row.seq),
    at: row.at instanceof Date ? row.at : new Date(String(row.at)),
    action: String(row.action),
    actor: text(row.actor),
    roles: Array.isArray(row.roles) ? row.roles.map(String) : [],
    sessionId: text(row.session_id),
    statusBefore: text(row.status_before),
    statusAfter: text(row.status_after),
    comment: text(row.comment),
    outcome: String(row.outcome),
    requestId: text(row.request_id),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

function headOf(row: Row | undefined): ChainHead | undefined {
  if (!row) return undefined;
  return { firstSeq: Number(row.first_seq), firstPrev: String(row.first_prev), lastSeq: Number(row.last_seq), lastHash: String(row.last_hash), mac: String(row.mac) };
}

async function writeHead(query: Query, keys: AuditKeys, head: Omit<ChainHead, 'mac'>) {
  await query(
    `insert into audit_chain (id, first_seq, first_prev, last_seq, last_hash, mac) values (1, $1, $2, $3, $4, $5)
     on conflict (id) do update set first_seq = $1, first_prev = $2, last_seq = $3, last_hash = $4, mac = $5`,
    [head.firstSeq, head.firstPrev, head.lastSeq, head.lastHash, headMac(keys.chain, head)],
  );
}

/** The filter as SQL conditions on audit_events, with their parameters. */
function where(filter: AuditFilter, params: unknown[]): string {
  const conditions: string[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filter.sessionId) add((p) => `session_id = ${p}`, filter.sessionId);
  if (filter.actor) add((p) => `actor = any(${p}::text[])`, [filter.actor, actorOf({ sub: filter.actor, reviewer: false })]);
  if (filter.action) add((p) => `action = ${p}`, filter.action);
  if (filter.from) add((p) => `at >= ${p}`, filter.from);
  if (filter.to) add((p) => `at <= ${p}`, filter.to);
  return conditions.join(' and ');
}

export function createAuditStore(db: Db, keys: AuditKeys, retentionDays: number, log: Logger): AuditTrail {
  /** Reads already recorded by this instance (the database decides for the fleet). */
  const readsSeen = new LRUCache<string, true>({ max: 10_000, ttl: HOUR_MS });

  /** The session's key, made on first use; inside the append's transaction. */
  async function sessionKey(query: Query, sessionId: string): Promise<Buffer> {
    await query('insert into audit_session_keys (session_id, wrapped) values ($1, $2) on conflict (session_id) do nothing', [
      sessionId,
      wrapSessionKey(keys, sessionId, newSessionKey()),
    ]);
    const [row] = await query('select wrapped from audit_session_keys where session_id = $1', [sessionId]);
    return unwrapSessionKey(keys, sessionId, String(row!.wrapped));
  }

  /**
   * Appends records to the chain in one transaction, in order: the chain's lock, head and MAC once
   * for all of them. A record with `once` (a reviewer's read) is skipped when its mark is there
   * already (another instance recorded it). The sequence number of each (0: skipped).
   */
  async function appendAll(items: ReadonlyArray<{ entry: AuditEntry; once?: { actor: string; hour: number } }>): Promise<number[]> {
    return db.transaction(async (query) => {
      const rows: Array<Omit<StoredRecord, 'seq' | 'prevHash' | 'hash'> | undefined> = [];
      for (const { entry, once } of items) {
        if (once) {
          const marked = await query('insert into audit_read_marks (actor, session_id, hour) values ($1, $2, $3) on conflict do nothing returning 1', [
            once.actor,
            entry.sessionId,
            once.hour,
          ]);
          if (marked.length === 0) {
            rows.push(undefined);
            continue;
          }
        }
        const sessionId = entry.sessionId ?? null;
        let comment: string | null = null;
        if (entry.comment != null && entry.comment !== '') {
          // (`enqueue` refuses such an entry before it can fail a batch.)
          if (!sessionId) throw new Error('free text is recorded only with a session (its key)');
          comment = sealText(await sessionKey(query, sessionId), sessionId, entry.comment);
        }
        rows.push({
          // Whole milliseconds, as JavaScript reads them back: the hash covers this exact value.
          at: new Date(Date.now()),
          action: entry.action,
          actor: entry.caller ? actorOf(entry.caller) : null,
          roles: entry.caller ? rolesOf(entry.caller) : [],
          sessionId,
          statusBefore: entry.statusBefore ?? null,
          statusAfter: entry.statusAfter ?? null,
          comment,
          outcome: entry.outcome,
          requestId: entry.requestId ?? null,
        });
      }
      if (rows.every((row) => row === undefined)) return rows.map(() => 0);
      await query('select pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const head = headOf((await query('select * from audit_chain where id = 1'))[0]) ?? EMPTY_HEAD;
      let { lastSeq, lastHash } = head;
      const seqs: number[] = [];
      for (const row of rows) {
        if (!row) {
          seqs.push(0);
          continue;
        }
        const record = { ...row, seq: lastSeq + 1, prevHash: lastHash };
        const hash = recordHash(keys.chain, record);
        await query(
          `insert into audit_events (seq, at, action, actor, roles, session_id, status_before, status_after, comment, outcome, request_id, prev_hash, hash)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [record.seq, record.at, record.action, record.actor, record.roles, record.sessionId, record.statusBefore, record.statusAfter, record.comment, record.outcome, record.requestId, record.prevHash, hash],
        );
        [lastSeq, lastHash] = [record.seq, hash];
        seqs.push(record.seq);
      }
      await writeHead(query, keys, { firstSeq: head.firstSeq, firstPrev: head.firstPrev, lastSeq, lastHash });
      return seqs;
    });
  }

  /**
   * Records waiting to be written: together, one transaction at a time (group commit), so that a
   * back office reading hundreds of sessions a second, or many reviewers acting at once, take the
   * chain's lock and a database connection once a batch rather than once a record. An action's
   * record is written before its promise resolves, as before: only the waiting is shared.
   */
  const pending: Array<{ entry: AuditEntry; once?: { actor: string; hour: number }; settle: (result: number | Error) => void }> = [];
  let flushing: Promise<void> | undefined;
  let readsGivenUp = 0;
  function flush(): Promise<void> {
    flushing ??= (async () => {
      while (pending.length > 0) {
        const batch = pending.splice(0, RECORDS_PER_TRANSACTION);
        const written = await appendAll(batch).catch((error: NodeJS.ErrnoException) => {
          log.error({ code: error.code, records: batch.length }, 'audit: records could not be written');
          return error;
        });
        batch.forEach((item, i) => item.settle(written instanceof Error ? written : written[i]!));
      }
    })().finally(() => {
      flushing = undefined;
      if (readsGivenUp > 0) log.error({ records: readsGivenUp }, 'audit: reviewer reads given up (the database is too far behind)');
      readsGivenUp = 0;
      if (pending.length > 0) setImmediate(flush);
    });
    return flushing;
  }
  function enqueue(entry: AuditEntry, once?: { actor: string; hour: number }): Promise<number> {
    if (entry.comment != null && entry.comment !== '' && !entry.sessionId) return Promise.reject(new Error('free text is recorded only with a session (its key)'));
    return new Promise((resolve, reject) => {
      const item = { entry, once, settle: (result: number | Error) => (result instanceof Error ? reject(result) : resolve(result)) };
      // An action's record goes ahead of the reviewers' reads waiting (the action waits for it; they do not).
      const firstRead = once ? -1 : pending.findIndex((waiting) => waiting.once);
      pending.splice(firstRead < 0 ? pending.length : firstRead, 0, item);
      if (!flushing) void flush();
    });
  }

  /** Records with their free text opened, where the session's key still exists. */
  async function reveal(rows: StoredRecord[]): Promise<AuditRecord[]> {
    const sessions = [...new Set(rows.filter((r) => r.comment && r.sessionId).map((r) => r.sessionId!))];
    const wrapped = new Map<string, string>();
    if (sessions.length > 0) {
      for (const row of await db.query('select session_id, wrapped from audit_session_keys where session_id = any($1::text[])', [sessions])) {
        wrapped.set(String(row.session_id), String(row.wrapped));
      }
    }
    return rows.map(({ prevHash: _p, hash: _h, comment, ...record }) => {
      let opened: string | null = null;
      const key = record.sessionId ? wrapped.get(record.sessionId) : undefined;
      if (comment && key) {
        try {
          opened = openText(unwrapSessionKey(keys, record.sessionId!, key), record.sessionId!, comment);
        } catch {
          log.error({ seq: record.seq }, 'audit record comment does not open with its session key');
        }
      }
      return { ...record, comment: opened, commentErased: comment !== null && opened === null };
    });
  }

  async function* walk(query: Query): AsyncGenerator<StoredRecord> {
    let after = 0;
    for (;;) {
      const rows = await query('select * from audit_events where seq > $1 order by seq limit $2', [after, BATCH]);
      for (const row of rows) yield fromRow(row);
      if (rows.length < BATCH) return;
      after = Number(rows.at(-1)!.seq);
    }
  }

  return {
    append: (entry) => enqueue(entry),

    noteRead(caller, sessionId, requestId) {
      const hour = Math.floor(Date.now() / HOUR_MS);
      const actor = actorOf(caller);
      const mark = `${actor}\n${sessionId}\n${hour}`;
      if (readsSeen.has(mark)) return;
      if (pending.length >= MAX_WAITING) {
        // The database is far behind: memory stays bounded, and the read is not marked as recorded.
        readsGivenUp += 1;
        return;
      }
      readsSeen.set(mark, true);
      enqueue({ action: 'readPersonalData', caller, sessionId, outcome: 'READ', requestId }, { actor, hour }).catch(() => readsSeen.delete(mark));
    },

    async shred(sessionId) {
      await db.query('delete from audit_session_keys where session_id = $1', [sessionId]);
    },

    async list(filter, { after = 0, first }) {
      const params: unknown[] = [after];
      const conditions = where(filter, params);
      params.push(first);
      const rows = await db.query(`select * from audit_events where seq > $1 ${conditions ? `and ${conditions}` : ''} order by seq limit $${params.length}`, params);
      return reveal(rows.map(fromRow));
    },

    verify: () =>
      db.transaction(
        async (query) => {
          const head = headOf((await query('select * from audit_chain where id = 1'))[0]);
          return verifyChain(keys.chain, head, walk(query));
        },
        { readOnly: true },
      ),

    async purge(now = new Date()) {
      const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
      const removed = await db.transaction(async (query) => {
        await query('select pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
        const head = headOf((await query('select * from audit_chain where id = 1'))[0]);
        // The newest record is kept whatever its age: the chain always has an end to check.
        const [last] = await query('select seq, hash from audit_events where at < $1 and seq < $2 order by seq desc limit 1', [cutoff, head?.lastSeq ?? 0]);
        if (!head || !last) return 0;
        const deleted = await query('delete from audit_events where seq <= $1 returning seq', [last.seq]);
        await writeHead(query, keys, { ...head, firstSeq: Number(last.seq) + 1, firstPrev: String(last.hash) });
        await query('delete from audit_session_keys k where not exists (select 1 from audit_events e where e.session_id = k.session_id) and created_at < $1', [cutoff]);
        return deleted.length;
      });
      await db.query('delete from audit_read_marks where hour < $1', [Math.floor(now.getTime() / HOUR_MS) - 1]);
      if (removed > 0) {
        log.info({ removed }, 'audit records past their retention purged');
        await appendAll([{ entry: { action: 'purge', caller: null, outcome: `DONE (${removed} records before ${cutoff.toISOString()})` } }]);
      }
      return removed;
    },

    async close() {
      // The records noted so far are written first.
      await flush();
      await db.close();
    },
  };
}
