import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/**
 * The two databases the trail can live in, behind one small interface of plain SQL: PostgreSQL
 * (`pg`, for a fleet) or PGlite (embedded, one process, in DATA_DIR). Same SQL for both.
 */
export type Row = Record<string, unknown>;
export type Query = (sql: string, params?: unknown[]) => Promise<Row[]>;

export interface Db {
  query: Query;
  /** Runs `fn` in one transaction (committed when it returns, rolled back when it throws). */
  transaction<T>(fn: (query: Query) => Promise<T>, options?: { readOnly?: boolean }): Promise<T>;
  close(): Promise<void>;
}

/** How long a statement or a connection attempt may take before the write counts as failed. */
const TIMEOUT_MS = 5000;

export async function openPostgres(url: string, log: Logger): Promise<Db> {
  const { default: pg } = await import('pg');
  // bigint (seq) as a JS number: a trail will not reach 2^53 records.
  pg.types.setTypeParser(20, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS, idleTimeoutMillis: 30_000 });
  // An idle connection the server dropped: logged (by code only), the pool makes a new one.
  pool.on('error', (error: NodeJS.ErrnoException) => log.warn({ code: error.code }, 'audit database connection lost'));
  return {
    query: async (sql, params) => (await pool.query(sql, params)).rows,
    async transaction(fn, options = {}) {
      const client = await pool.connect();
      let healthy = true;
      // The connection dropped while this transaction holds it (between two queries): the pool's
      // handler covers idle clients only, so without this the process would die of it.
      const lost = (error: NodeJS.ErrnoException) => {
        healthy = false;
        log.warn({ code: error.code }, 'audit database connection lost');
      };
      client.on('error', lost);
      try {
        await client.query(options.readOnly ? 'begin isolation level repeatable read read only' : 'begin');
        const result = await fn(async (sql, params) => (await client.query(sql, params)).rows);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => (healthy = false));
        throw error;
      } finally {
        client.off('error', lost);
        client.release(!healthy);
      }
    },
    close: () => pool.end(),
  };
}

/** Thrown when another live process holds the PGlite directory (`pid`). */
export class DataDirInUse extends Error {
  readonly code = 'EBUSY';
  constructor(readonly pid: number) {
    super(`in use by process ${pid}`);
  }
}

/**
 * Takes `dir/gateway.pid` for this process: PGlite's files are one process's alone (a second
 * process on them dies with a bare errno, tried). A lock left by a process that is gone is taken over.
 */
function lockDir(dir: string): () => void {
  const file = join(dir, 'gateway.pid');
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirInUse(pid);
      rmSync(file, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function openPglite(dataDir: string): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDir(dataDir);
  try {
    const db = new PGlite(dataDir);
    await db.waitReady;
    const query: Query = async (sql, params) => (await db.query<Row>(sql, params)).rows;
    return {
      query,
      transaction: (fn) => db.transaction((tx) => fn(async (sql, params) => (await tx.query<Row>(sql, params)).rows)),
      close: () => db.close().finally(unlock),
    };
  } catch (error) {
    unlock();
    throw error;
  }
}
