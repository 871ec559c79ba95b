import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/** Fast tests that need no gateway process or browser: `npm run test:unit` runs them in seconds. */
const UNIT = ['test/lib/**', 'test/examples/**', 'test/schema/**', 'test/didit/**', 'test/config.test.ts', 'test/core/access.test.ts', 'test/core/*-cache.test.ts', 'test/core/live-queue.test.ts', 'test/audit/chain.test.ts', 'test/core/turns.test.ts'];

export default defineConfig({
  resolve: {
    // One graphql module for tests, Pothos and Yoga alike: two copies do not recognise
    // each other's GraphQLError, and every coded error would be masked.
    alias: { graphql: require.resolve('graphql') },
  },
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // A PostgreSQL database of the run's own for the gateways' audit trails (test/support/postgres.ts).
    globalSetup: ['test/support/postgres-setup.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT.map((glob) => (glob.endsWith('**') ? `${glob}/*.test.ts` : glob)) } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...UNIT, 'test/browser/**', 'test/soak.test.ts'] },
      },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
      // Last and alone: its 20 s of faults and restarts measure waits and refusals, which the
      // rest of the suite, run beside it on a small machine, would skew.
      { extends: true, test: { name: 'soak', include: ['test/soak.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
