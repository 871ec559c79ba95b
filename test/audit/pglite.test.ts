import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/env.ts';
import type { TestGateway } from '../support/gateway.ts';
import { INTEGRITY, UPDATE, allEvents, createFinished, startAuditedGateway } from './support.ts';

/** Without DATABASE_URL: the embedded PGlite in DATA_DIR, made on first start and kept across restarts. */
const dataDir = join(mkdtempSync(join(tmpdir(), 'gw-audit-')), 'data');
let gw: TestGateway | undefined;
afterAll(async () => {
  await gw?.close();
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
});

it('keeps the trail in DATA_DIR with a key generated and kept there, across a restart', async () => {
  const env = { DATABASE_URL: '', AUDIT_KEY: '', DATA_DIR: dataDir };
  gw = await startAuditedGateway('', env);
  expect(gw.logs.text).toContain('AUDIT_KEY is not set: generated one and kept it in DATA_DIR');
  expect(statSync(join(dataDir, 'audit.key')).mode & 0o777).toBe(0o600);
  const reviewer = await gw.token('rev-1', ['reviewer']);
  const id = await createFinished(gw, reviewer, 'user-l', 'In Review');
  expect((await gw.post(reviewer, UPDATE, { id, status: 'APPROVED', comment: 'kept in PGlite' })).errors).toBeUndefined();
  const events = await allEvents(gw);
  expect(events.some((e) => e.comment === 'kept in PGlite')).toBe(true);
  await gw.close();

  gw = await startAuditedGateway('', env);
  expect(gw.logs.text).not.toContain('AUDIT_KEY is not set');
  expect(await allEvents(gw)).toEqual(events);
  expect((await gw.post(reviewer, INTEGRITY)).data!.auditIntegrity).toMatchObject({ intact: true, records: events.length });
}, 120_000);

it('refuses a DATA_DIR another live gateway holds, naming it; takes over a lock its process left behind', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'gw-lock-')), 'data');
  mkdirSync(join(dir, 'audit'), { recursive: true });
  const lock = join(dir, 'audit', 'gateway.pid');
  const holder = spawn('sleep', ['30']);
  try {
    writeFileSync(lock, String(holder.pid));
    const refused = await startAuditedGateway('', { DATABASE_URL: '', AUDIT_KEY: '', DATA_DIR: dir }).then(
      async (started) => (await started.close(), undefined),
      (error: Error) => error,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused!.message).toBe(`DATA_DIR is in use by another gateway (process ${holder.pid}): give each instance its own DATA_DIR, or set DATABASE_URL for several`);
  } finally {
    holder.kill();
  }
  await new Promise((resolve) => holder.once('exit', resolve));
  // The holder is gone: its lock is stale, taken over, and given back at close.
  const started = await startAuditedGateway('', { DATABASE_URL: '', AUDIT_KEY: '', DATA_DIR: dir });
  expect(readFileSync(lock, 'utf8')).toBe(String(process.pid));
  await started.close();
  expect(existsSync(lock)).toBe(false);
  rmSync(join(dir, '..'), { recursive: true, force: true });
}, 60_000);
