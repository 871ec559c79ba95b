import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStatusEvents, type StatusEvents } from '../../src/core/status-events.ts';
import { isNews, type Delivery } from '../../src/core/status-order.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { startRedis } from '../support/redis.ts';

const at = (status: string, timestamp = 100): Delivery => ({ status, timestamp });

// [last, incoming, news?]
const CASES: Array<[Delivery, Delivery, boolean]> = [
  // A final status is never replaced by an earlier stage, whatever its timestamp.
  [at('Approved', 100), at('In Progress', 101), false],
  [at('Approved', 100), at('In Progress', 100), false],
  [at('Declined', 100), at('Not Started', 500), false],
  [at('In Review', 100), at('In Progress', 101), false],
  [at('Abandoned', 100), at('Awaiting User', 101), false],
  [at('Kyc Expired', 100), at('Approved', 101), false],
  [at('Expired', 100), at('In Progress', 101), false],
  [at('Approved', 100), at('In Review', 101), false],
  // Documented moves pass, at the same second too.
  [at('Not Started'), at('In Progress'), true],
  [at('Not Started'), at('Expired'), true],
  [at('In Progress'), at('Approved'), true],
  [at('In Progress'), at('Declined'), true],
  [at('In Progress'), at('In Review'), true],
  [at('In Progress'), at('Abandoned'), true],
  [at('Approved'), at('Kyc Expired'), true],
  [at('In Review'), at('Approved'), true],
  [at('In Review'), at('Declined'), true],
  // A reviewer decides again.
  [at('Approved', 100), at('Declined', 110), true],
  [at('Declined', 100), at('Approved', 110), true],
  // Didit v3: a new round after Resubmitted, and the KYB stage.
  ...['Declined', 'In Review', 'Abandoned', 'Approved', 'Kyc Expired'].map((final): [Delivery, Delivery, boolean] => [at(final), at('Resubmitted', 101), true]),
  [at('Resubmitted'), at('In Progress', 101), true],
  [at('Resubmitted'), at('Approved', 101), true],
  [at('Not Started'), at('Awaiting User'), true],
  [at('Awaiting User'), at('Approved'), true],
  [at('Approved'), at('Awaiting User', 101), false],
  // Several moves at once (a delivery in between was lost).
  [at('Not Started'), at('Approved'), true],
  // Never the same status twice, never an older delivery.
  [at('Approved', 100), at('Approved', 100), false],
  [at('Approved', 100), at('Approved', 200), false],
  [at('In Progress', 100), at('Approved', 99), false],
  [at('Declined', 200), at('Approved', 100), false],
  // A status Didit may add later: news when stamped later.
  [at('Approved', 100), at('Under Audit', 101), true],
  [at('Approved', 100), at('Under Audit', 100), false],
  [at('Under Audit', 100), at('Approved', 101), true],
  [at('Under Audit', 100), at('Approved', 100), false],
  [at('Under Audit', 100), at('Also New', 99), false],
];

const name = (last: Delivery, incoming: Delivery) => `${last.status}@${last.timestamp} then ${incoming.status}@${incoming.timestamp}`;

describe('isNews', () => {
  it.each(CASES.map(([last, incoming, news]) => [name(last, incoming), last, incoming, news] as const))('%s: %s', (_name, last, incoming, news) => {
    expect(isNews(last, incoming)).toBe(news);
  });

  it('takes the first delivery of a session as news', () => {
    expect(isNews(undefined, at('In Progress'))).toBe(true);
  });
});

describe.each(['memory', 'redis'] as const)('status events (%s) decide as isNews does', (kind) => {
  let redis: ChildProcess | undefined;
  let events: StatusEvents;
  beforeAll(async () => {
    let redisUrl: string | undefined;
    if (kind === 'redis') {
      const port = await freePort();
      redis = await startRedis(port);
      redisUrl = `redis://127.0.0.1:${port}`;
    }
    events = createStatusEvents({ redisUrl, log: pino({ level: 'silent' }) });
    await vi.waitFor(() => expect(events.connected()).toBe(true), { timeout: 5000 });
  });
  afterAll(async () => {
    await events.close();
    redis?.kill('SIGKILL');
  });

  it('for every case', async () => {
    const decided = [];
    for (const [last, incoming] of CASES) {
      const sessionId = randomUUID();
      expect(await events.record({ sessionId, ...last })).toBe(true);
      decided.push(await events.record({ sessionId, ...incoming }));
    }
    expect(decided).toEqual(CASES.map(([, , news]) => news));
  });
});
