/**
 * `npm run audit:bench`: what the audit trail costs, on this machine's PostgreSQL (a database of
 * the run's own, dropped at the end). Prints:
 * - the latency a reviewer action gains: its two records (STARTED before Didit, the outcome after),
 *   written one action at a time, p50 and p99;
 * - records per second one instance writes, one writer and 16 at once (one chain: every append
 *   takes the chain's lock in turn).
 * Usage: npm run audit:bench [-- --records 2000]
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { openAuditStore } from '../src/audit/store.ts';
import { SecretKey } from '../src/config/env.ts';
import { scratchDatabase } from './scratch-database.ts';

const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const RECORDS = argument('records', 2000);
const ACTIONS = argument('actions', 500);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const database = await scratchDatabase('auditbench');
const store = await openAuditStore({
  config: { databaseUrl: database.url, dataDir: './data', key: new SecretKey(Buffer.alloc(32, 1)), retentionDays: 1827, auditorRole: 'auditor' },
  log: pino({ level: 'warn' }),
  purgeEveryMs: 0,
});
const reviewer = { sub: 'bench-reviewer@example.com', reviewer: true };
const sessions = Array.from({ length: 50 }, () => randomUUID());

try {
  // Warm-up: connections, session keys.
  for (const sessionId of sessions) await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId, comment: 'warm-up', outcome: 'STARTED' });

  const added: number[] = [];
  for (let i = 0; i < ACTIONS; i++) {
    const sessionId = sessions[i % sessions.length]!;
    const started = performance.now();
    await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId, comment: `Checked by hand, round ${i}`, outcome: 'STARTED', requestId: randomUUID() });
    await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId, statusBefore: 'In Review', statusAfter: 'Approved', outcome: 'DONE', requestId: randomUUID() });
    added.push(performance.now() - started);
  }
  added.sort((a, b) => a - b);

  const rate = async (writers: number) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (next < RECORDS) {
          const i = next++;
          await store.append({ action: 'updateSessionStatus', caller: reviewer, sessionId: sessions[i % sessions.length]!, comment: i % 2 ? 'a comment' : null, outcome: 'DONE' });
        }
      }),
    );
    return RECORDS / ((performance.now() - started) / 1000);
  };
  const single = await rate(1);
  const parallel = await rate(16);
  const verifyStarted = performance.now();
  const integrity = await store.verify();
  const verifyMs = performance.now() - verifyStarted;

  console.log(`audit trail on PostgreSQL (${process.env.POSTGRES_ADMIN_URL ?? '127.0.0.1:5432'}), node ${process.version}`);
  console.log(`added latency of a reviewer action (2 records), ${ACTIONS} actions: p50 ${percentile(added, 50).toFixed(2)} ms, p99 ${percentile(added, 99).toFixed(2)} ms`);
  console.log(`records per second, one instance: ${single.toFixed(0)} (1 writer), ${parallel.toFixed(0)} (16 writers)`);
  console.log(`audit:verify walked ${integrity.records} records in ${verifyMs.toFixed(0)} ms (${integrity.intact ? 'intact' : integrity.problem})`);
} finally {
  await store.close();
  await database.drop();
}
