import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A PostgreSQL database of a run's own (benchmarks, the soak) for the gateways' audit trail, on
 * the server of `POSTGRES_ADMIN_URL` (default: this machine's, postgres://postgres@127.0.0.1:5432),
 * with keys of its own. `drop` removes it.
 */
export async function scratchDatabase(label: string): Promise<{ env: Record<string, string>; url: string; drop: () => Promise<void> }> {
  const admin = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `gw_${label}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    env: { DATABASE_URL: url.href, AUDIT_KEY: randomBytes(32).toString('hex'), PSEUDONYM_KEY: randomBytes(32).toString('hex') },
    drop: () => run(`drop database if exists ${name} with (force)`),
  };
}
