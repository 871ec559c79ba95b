import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/lib/free-port.ts';
import { codes, type TestGateway } from '../support/gateway.ts';
import { createDatabase, databaseUrl, sql } from '../support/postgres.ts';
import { startRedis } from '../support/redis.ts';
import { CREATE, INTEGRITY, PDF, READ, UPDATE, allEvents, auditVerify, createFinished, startAuditedGateway } from './support.ts';

/** Several instances on one PostgreSQL database: one chain, kept across restarts, tampering seen, an outage refused. */
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

async function database(label: string) {
  const db = await createDatabase(label);
  cleanup.push(db.drop);
  return db;
}

async function gateway(url: string, env: Record<string, string> = {}): Promise<TestGateway> {
  const gw = await startAuditedGateway(url, env);
  cleanup.push(() => gw.close());
  return gw;
}

describe('two instances with Redis on one database', () => {
  it('write one unbroken chain under concurrent actions, kept across a restart', async () => {
    const db = await database('fleet');
    const port = await freePort();
    const redis: ChildProcess = await startRedis(port);
    cleanup.push(async () => redis.kill());
    const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
    // Both start at once (the migrations run once, under their lock); b talks to a's simulated Didit.
    const starting = gateway(db.url, env);
    const [a, b] = await Promise.all([starting, starting.then((first) => gateway(db.url, { ...env, DIDIT_API_KEY: 'sandbox-api-key-0123456789', DIDIT_API_URL: first.sandbox!.url }))]);
    const reviewerA = await a.token('rev-a', ['reviewer']);
    const reviewerB = await b.token('rev-b', ['reviewer']);
    const ids = await Promise.all([createFinished(a, reviewerA, 'user-1', 'Approved'), createFinished(a, reviewerA, 'user-2', 'Approved')]);
    const before = (await allEvents(a)).length;

    const rounds = 15;
    const results = await Promise.all(
      Array.from({ length: rounds }, (_, i) => [
        a.post(reviewerA, PDF, { id: ids[i % 2] }),
        b.post(reviewerB, PDF, { id: ids[(i + 1) % 2] }),
        b.post(reviewerB, UPDATE, { id: ids[i % 2], status: i % 2 ? 'APPROVED' : 'DECLINED', comment: `round ${i}` }),
      ]).flat(),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);

    const events = await allEvents(b);
    // Each action: STARTED and DONE, plus at most one read record per reviewer and session.
    expect(events.length - before).toBeGreaterThanOrEqual(rounds * 3 * 2);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(new Set(events.filter((e) => e.action === 'UPDATE_SESSION_STATUS' && e.outcome === 'STARTED').map((e) => e.comment)).size).toBe(rounds);
    for (const gw of [a, b]) expect((await gw.post(reviewerA, INTEGRITY)).data!.auditIntegrity).toMatchObject({ intact: true, records: events.length });

    // A restart of both keeps every record.
    await Promise.all([a.close(), b.close()]);
    const again = await gateway(db.url, env);
    expect(await allEvents(again)).toEqual(events);
    expect((await again.post(reviewerA, INTEGRITY)).data!.auditIntegrity.intact).toBe(true);
  });
});

describe('npm run audit:verify', () => {
  it('exits 0 on an intact chain and 1 naming the record changed, removed or inserted by SQL', async () => {
    const db = await database('tamper');
    const gw = await gateway(db.url);
    const reviewer = await gw.token('rev-1', ['reviewer']);
    const id = await createFinished(gw, reviewer, 'user-t', 'In Review');
    for (const status of ['APPROVED', 'DECLINED', 'APPROVED']) expect((await gw.post(reviewer, UPDATE, { id, status, comment: `set ${status}` })).errors).toBeUndefined();
    await gw.close();
    const last = Number((await sql(db.name, 'select max(seq) as n from audit_events')).rows[0].n);
    expect(last).toBeGreaterThan(6);

    const intact = auditVerify(db.url);
    expect(intact.stdout).toBe(`audit trail intact: ${last} records\n`);
    expect(intact.status).toBe(0);

    // Each change on a copy of the intact trail.
    const tamper = async (label: string, statement: string) => {
      const copy = `gw_${label}_${randomBytes(4).toString('hex')}`;
      await sql(undefined, `create database ${copy} template ${db.name}`);
      cleanup.push(() => sql(undefined, `drop database if exists ${copy} with (force)`));
      await sql(copy, statement);
      return auditVerify(databaseUrl(copy));
    };
    const changed = await tamper('changed', "update audit_events set outcome = 'FAILED_PRECONDITION' where seq = 5");
    expect(changed.status).toBe(1);
    expect(changed.stdout).toContain('record #5 was changed');
    const reworded = await tamper('actor', "update audit_events set actor = 'someone-else' where seq = 3");
    expect(reworded.stdout).toContain('record #3 was changed');
    const removed = await tamper('removed', 'delete from audit_events where seq = 4');
    expect(removed.status).toBe(1);
    expect(removed.stdout).toContain('record #4 was removed');
    const tail = await tamper('tail', `delete from audit_events where seq = ${last}`);
    expect(tail.stdout).toContain(`record #${last} was removed`);
    const inserted = await tamper(
      'inserted',
      `insert into audit_events select seq + 1, at, action, actor, roles, session_id, status_before, status_after, comment, outcome, request_id, hash, hash from audit_events where seq = ${last}`,
    );
    expect(inserted.status).toBe(1);
    expect(inserted.stdout).toContain(`record #${last + 1} was inserted`);
    // Renumbered to make room: the record put in the middle is named.
    const middle = await tamper(
      'middle',
      `update audit_events set seq = seq + 1000 where seq > 2; update audit_events set seq = seq - 999 where seq > 1000;
       insert into audit_events select 3, at, action, actor, roles, session_id, status_before, status_after, comment, 'DONE', request_id, hash, hash from audit_events where seq = 2`,
    );
    expect(middle.status).toBe(1);
    expect(middle.stdout).toMatch(/BROKEN at record #3: record #3 was (inserted|changed)/);
  }, 120_000);
});

describe('a database made unreachable', () => {
  it('refuses reviewer actions with UNAVAILABLE and Didit sees no call, while reads go on', async () => {
    const db = await database('outage');
    const role = `gw_role_${randomBytes(4).toString('hex')}`;
    await sql(undefined, `create role ${role} login`);
    cleanup.push(() => sql(undefined, `drop role if exists ${role}`));
    await sql(undefined, `alter database ${db.name} owner to ${role}`);
    cleanup.unshift(() => sql(undefined, `drop database if exists ${db.name} with (force)`));
    const gw = await gateway(databaseUrl(db.name, role));
    const reviewer = await gw.token('rev-1', ['reviewer']);
    const id = await createFinished(gw, reviewer, 'user-o', 'In Review');
    expect((await gw.post(reviewer, READ, { id })).errors).toBeUndefined();

    await sql(undefined, `alter role ${role} nologin`);
    await sql(undefined, 'select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
    const updates = gw.upstream('update');
    const creates = gw.upstream('create');
    const pdfs = gw.upstream('pdf');
    expect(codes(await gw.post(reviewer, UPDATE, { id, status: 'APPROVED', comment: 'while the trail is down' }))).toEqual(['UNAVAILABLE']);
    expect(codes(await gw.post(reviewer, CREATE, { vendorData: 'user-p' }))).toEqual(['UNAVAILABLE']);
    expect(codes(await gw.post(reviewer, PDF, { id }))).toEqual(['UNAVAILABLE']);
    expect([gw.upstream('update'), gw.upstream('create'), gw.upstream('pdf')]).toEqual([updates, creates, pdfs]);
    // Reads go on (their records are best effort), and so do applicants' own actions.
    const read = await gw.post(reviewer, READ, { id });
    expect(read.errors).toBeUndefined();
    expect(read.data!.session.status).toBe('IN_REVIEW');
    const applicant = await gw.token('user-q');
    expect((await gw.post(applicant, CREATE, {})).errors).toBeUndefined();

    await sql(undefined, `alter role ${role} login`);
    expect((await gw.post(reviewer, UPDATE, { id, status: 'APPROVED', comment: 'back' })).errors).toBeUndefined();
    expect(gw.upstream('update')).toBe(updates + 1);
    expect((await gw.post(reviewer, INTEGRITY)).data!.auditIntegrity.intact).toBe(true);
  }, 60_000);
});
