import { expect, it } from 'vitest';
import { formatSoak, runSoak } from '../scripts/soak.ts';

/**
 * A short version of `npm run soak`: three gateway processes on one Redis (shared decision level
 * on), the sandbox with faults, Redis and the sandbox restarted mid-run, an attacker beside the
 * normal callers. The full run is `npm run soak` (two minutes, 12 applicants; `--api v3` too).
 */
it('survives faults, restarts and an attack: every status event once, no unhandled rejection, reads answered, attack refused, Didit paced', { timeout: 180_000 }, async () => {
  // New sessions at 15 a minute: about 5 decision reads each, beside the attacker's 20, fit Didit's 100.
  const options = { seconds: 20, clients: 6, sessionsPerMinute: 15 };
  const result = await runSoak(options);
  console.log(formatSoak(result, options));

  expect(result.unhandledRejections).toBe(0);
  expect(result.events.expected).toBeGreaterThanOrEqual(6);
  expect(result.events).toMatchObject({ missing: 0, duplicated: 0 });
  expect(result.events.delivered).toBe(result.events.expected);

  // The 1,500-read document is refused before execution, every time; random ids are not found,
  // or refused once the attacker's own share is spent (or its operations a minute).
  const documents = result.operations['attack: 15 × sessions(ids: 100 random)'] ?? {};
  expect(documents.BAD_USER_INPUT).toBeGreaterThan(0);
  for (const outcome of Object.keys(documents)) expect(['BAD_USER_INPUT', 'RATE_LIMITED (caller)']).toContain(outcome);
  const singles = result.operations['attack: session(id: random)'] ?? {};
  expect(singles.NOT_FOUND).toBeGreaterThan(0);
  expect(singles['RATE_LIMITED (caller)']).toBeGreaterThan(0);
  for (const outcome of Object.keys(singles)) expect(['NOT_FOUND', 'RATE_LIMITED (caller)']).toContain(outcome);

  // Normal callers: while Didit is up (faults included), reads are retried or served from a copy;
  // a stray error in hundreds is tolerated. While it is down (or a breaker holds it off), a session
  // no caller has read before cannot be read.
  const { normalReads } = result;
  expect(normalReads.total).toBeGreaterThan(30);
  expect(normalReads.successRate).toBeGreaterThanOrEqual(0.99);
  expect(normalReads.whileUp).toBeLessThanOrEqual(Math.ceil(normalReads.total / 200));

  // No 60 s holds more decision requests than Didit allows (the attack alone would send hundreds),
  // and finished sessions are read from Didit at most once per instance while only re-read.
  expect(result.upstream.busiestWindow.requests).toBeLessThanOrEqual(result.upstream.decisionLimitPerMinute);
  expect(result.upstream.quiet.answered).toBeLessThanOrEqual(3 * result.upstream.quiet.fetched);
  for (const outcomes of Object.values(result.operations)) expect(outcomes).not.toHaveProperty('INTERNAL_SERVER_ERROR');
});
