import { expect, it } from 'vitest';
import { formatSoak, runSoak } from '../scripts/soak.ts';

/**
 * A short version of `npm run soak`: three gateway processes on one Redis (shared decision level
 * on), the sandbox with faults, Redis and the sandbox restarted mid-run, an attacker beside the
 * normal callers. The full run is `npm run soak` (two minutes, 12 applicants; `--api v3` too).
 */
it('survives faults, restarts and an attack: every status event once, no unhandled rejection, reads answered, attack refused, Didit paced', { timeout: 180_000 }, async () => {
  // New sessions at 15 a minute: about 5 decision reads each, beside the attacker's 20, fit Didit's 100.
  const options = { seconds: 20, clients: 6, sessionsPerMinute: 15, loneSeconds: 0 };
  const result = await runSoak(options);
  console.log(formatSoak(result, options));

  expect(result.unhandledRejections).toBe(0);
  // At least one session followed from start to review (a 20 s run creates about five; Didit's
  // injected faults and the sandbox's restart can fail some of those writes, which are not retried).
  expect(result.events.expected).toBeGreaterThanOrEqual(3);
  expect(result.events).toMatchObject({ missing: 0, duplicated: 0 });
  expect(result.events.delivered).toBe(result.events.expected);

  // The 1,500-read document is refused before execution, every time; random ids are not found,
  // or refused when their turn would come too late (or the attacker's operations a minute are spent).
  const documents = result.operations['attack: 15 × sessions(ids: 100 random)'] ?? {};
  expect(documents.BAD_USER_INPUT).toBeGreaterThan(0);
  for (const outcome of Object.keys(documents)) expect(['BAD_USER_INPUT', 'RATE_LIMITED (caller)']).toContain(outcome);
  const singles = result.operations['attack: session(id: random)'] ?? {};
  expect(singles.NOT_FOUND).toBeGreaterThan(0);
  // (Didit unavailable while the sandbox restarts; its 429s, injected, passed on after the retries.)
  for (const outcome of Object.keys(singles)) {
    expect(['NOT_FOUND', 'RATE_LIMITED (caller)', 'RATE_LIMITED (didit)', 'RATE_LIMITED (didit, upstream)', 'UPSTREAM_UNAVAILABLE']).toContain(outcome);
  }

  // Normal callers: while Didit is up (faults included), reads are retried or served from a copy;
  // a stray error in hundreds is tolerated. While it is down (or a breaker holds it off), a session
  // no caller has read before cannot be read.
  const { normalReads } = result;
  // (At least one session's five reads: CI, on a machine shared with other work, saw 10 in 20 s
  // when two of four new sessions failed on injected faults.)
  expect(normalReads.total).toBeGreaterThanOrEqual(5);
  // At most 1 % refused or failed, rounded up: one stray in a short run whose 20 s hold a Redis and
  // a Didit restart (`npm run soak` reports the rate against its 99.9 % target over minutes). Reads
  // refused while Redis was away are left out: each instance then counts alone against its share
  // of Didit's limit, its own calls of the last minute included (the rule that keeps a fleet that
  // cannot count together under Didit's limit), and one that had made more than its share waits.
  const refused = normalReads.total - normalReads.ok - normalReads.outageNeverSeen - normalReads.whileRedisAway;
  expect(refused).toBeLessThanOrEqual(Math.ceil(normalReads.total / 100));
  expect(normalReads.whileUp - normalReads.whileRedisAway).toBeLessThanOrEqual(Math.ceil(normalReads.total / 200));

  // No 60 s holds more decision requests than Didit allows (the attack alone would send hundreds),
  // and finished sessions are read from Didit at most once per instance while only re-read.
  expect(result.upstream.busiestWindow.requests).toBeLessThanOrEqual(result.upstream.decisionLimitPerMinute);
  expect(result.upstream.quiet.answered).toBeLessThanOrEqual(3 * result.upstream.quiet.fetched);
  for (const outcomes of Object.values(result.operations)) expect(outcomes).not.toHaveProperty('INTERNAL_SERVER_ERROR');
});
