import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretKey } from '../../src/config/env.ts';
import { openAuditStore } from '../../src/audit/store.ts';
import type { AuditTrail } from '../../src/core/audit.ts';
import { createDatabase, sql } from '../support/postgres.ts';

/** The store itself: the retention purge, and migrations run by several instances at once. */
let database: Awaited<ReturnType<typeof createDatabase>>;
const stores: AuditTrail[] = [];
const open = async (retentionDays = 30, url = database.url) => {
  const store = await openAuditStore({
    config: { databaseUrl: url, dataDir: './data', key: new SecretKey(Buffer.alloc(32, 3)), retentionDays, auditorRole: 'auditor' },
    log: pino({ level: 'silent' }),
    purgeEveryMs: 0,
  });
  stores.push(store);
  return store;
};

beforeAll(async () => {
  database = await createDatabase('store');
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await database?.drop();
});

it('migrates once when several instances start at once', async () => {
  await Promise.all([open(), open(), open(), open()]);
  expect((await sql(database.name, 'select version from audit_migrations order by version')).rows).toEqual([{ version: 1 }, { version: 2 }]);
});

it('purges what is past the retention, keeps the chain verifiable and records the purge', async () => {
  const store = await open(30);
  const reviewer = { sub: 'rev-1', reviewer: true };
  const old = '11111111-1111-4111-8111-111111111111';
  const recent = '22222222-2222-4222-8222-222222222222';
  for (let i = 0; i < 5; i++) await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId: old, comment: `old ${i}`, outcome: 'DONE' });
  await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId: recent, comment: 'recent', outcome: 'DONE' });
  const before = await store.verify();
  expect(before).toMatchObject({ intact: true, records: 6 });

  // Nothing is old yet.
  expect(await store.purge()).toBe(0);
  // Forty days on, every record is past 30 days: all go but the last, the chain's end.
  const later = new Date(Date.now() + 40 * 86_400_000);
  expect(await store.purge(later)).toBe(5);
  const after = await store.verify();
  expect(after).toMatchObject({ intact: true, records: 2 });
  const left = await store.list({}, { first: 10 });
  expect(left.map((r) => [r.action, r.sessionId, r.comment])).toEqual([
    ['updateSessionStatus', recent, 'recent'],
    ['purge', null, null],
  ]);
  expect(left[1]!.outcome).toMatch(/^DONE \(5 records before /);
  // The session with no record left has no key left either; the other keeps its own.
  expect((await sql(database.name, 'select session_id from audit_session_keys order by session_id')).rows).toEqual([{ session_id: recent }]);
  // Removing the new first record by hand is still seen.
  await sql(database.name, 'delete from audit_events where seq = 6');
  expect(await store.verify()).toMatchObject({ intact: false, firstBroken: 6, problem: 'record #6 was removed' });
});

it("records a back office's thousands of reads at once, each reviewer and session once an hour, the chain intact", async () => {
  const own = await createDatabase('reads');
  try {
    const store = await open(30, own.url);
    const reviewers = [{ sub: 'reader-1', reviewer: true }, { sub: 'reader-2', reviewer: true }];
    const sessions = Array.from({ length: 1500 }, (_, i) => `33333333-3333-4333-8333-${String(i).padStart(12, '0')}`);
    // Each reviewer reads every session, twice: the second read of the hour is no news.
    for (let round = 0; round < 2; round++) for (const reviewer of reviewers) for (const id of sessions) store.noteRead(reviewer, id, null);
    // Written as they come, a batch a transaction; `close` waits for the ones noted.
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    expect(await (await open(30, own.url)).verify()).toMatchObject({ intact: true, records: 3000 });
    const reads = await sql(own.name, "select count(*)::int as n, count(distinct (actor, session_id))::int as distinct from audit_events where action = 'readPersonalData'");
    expect(reads.rows).toEqual([{ n: 3000, distinct: 3000 }]);
  } finally {
    for (const store of stores.splice(0)) await store.close();
    await own.drop();
  }
});
