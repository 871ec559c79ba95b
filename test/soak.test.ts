import { expect, it } from 'vitest';
import { formatSoak, runSoak } from '../scripts/soak.ts';

/**
 * A short version of `npm run soak`: two gateway processes, one Redis, the sandbox with faults,
 * Redis and the sandbox restarted mid-run. The full run is `npm run soak` (two minutes, 40 clients).
 */
it('survives faults and restarts: every status event once, no unhandled rejection, reads answered', { timeout: 180_000 }, async () => {
  const options = { seconds: 20, clients: 6 };
  const result = await runSoak(options);
  console.log(formatSoak(result, options));

  expect(result.unhandledRejections).toBe(0);
  expect(result.events.expected).toBeGreaterThan(20);
  expect(result.events).toMatchObject({ missing: 0, duplicated: 0 });
  expect(result.events.delivered).toBe(result.events.expected);
  const reads = Object.values(result.operations.readSession ?? {}).reduce((sum, n) => sum + n, 0);
  expect(reads).toBeGreaterThan(100);
  // While Didit is up (faults included), reads are retried or served stale: a stray error in
  // hundreds is tolerated. While it is down (or a breaker holds it off), a session the gateway
  // holds no copy of cannot be read.
  expect(result.idempotentReadErrors).toBeLessThanOrEqual(Math.ceil(reads / 200));
  for (const outcomes of Object.values(result.operations)) expect(outcomes).not.toHaveProperty('INTERNAL_SERVER_ERROR');
});
