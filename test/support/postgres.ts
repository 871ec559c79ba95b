import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * The machine's PostgreSQL (127.0.0.1:5432, `.ci/run` starts it): each test run gets a database of
 * its own (test/support/postgres-setup.ts), and tests that tamper with a trail make their own.
 */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** 32 bytes in hex, for AUDIT_KEY and PSEUDONYM_KEY in tests. */
export const TEST_AUDIT_KEY = 'a1'.repeat(32);
export const TEST_PSEUDONYM_KEY = 'b2'.repeat(32);

/** The run's database (made by the global setup). */
export function runDatabaseUrl(): string {
  return inject('databaseUrl');
}

/** What a gateway in a test needs for its audit trail: the run's database and keys. */
export function testAuditEnv(): Record<string, string> {
  return { DATABASE_URL: runDatabaseUrl(), AUDIT_KEY: TEST_AUDIT_KEY, PSEUDONYM_KEY: TEST_PSEUDONYM_KEY };
}

export function databaseUrl(name: string, user = 'postgres'): string {
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  url.username = user;
  return url.href;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database with a unique name; `drop` removes it (and cuts whoever is still connected). */
export async function createDatabase(label = 'test'): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `gw_${label}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () => admin((client) => client.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

/** Runs SQL as the server's superuser, on a database (`postgres` by default). */
export async function sql(database: string | undefined, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: database ? databaseUrl(database) : POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
