import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createStatusEvents, type StatusEvents } from '../../src/core/status-events.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { startRedis } from '../support/redis.ts';

/** Status events on a Redis of the test's own: what an erasure leaves behind, and a Redis that stalls. */
let redis: ChildProcess;
let url: string;
let admin: Redis;
const PREFIX = 'events-test:';
const log = pino({ level: 'silent' });
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  const port = await freePort();
  redis = await startRedis(port);
  url = `redis://127.0.0.1:${port}`;
  admin = new Redis(url);
});
afterAll(() => {
  admin.disconnect();
  redis.kill('SIGKILL');
});

async function started(options: { erasedEventKeepMs?: number } = {}): Promise<StatusEvents> {
  const events = createStatusEvents({ redisUrl: url, keyPrefix: PREFIX, log, ...options });
  await vi.waitFor(() => expect(events.connected()).toBe(true), { timeout: 5000 });
  return events;
}

/** Stream entries that name the session. */
async function entriesOf(sessionId: string): Promise<string[]> {
  const entries = await admin.xrange(`${PREFIX}session-status`, '-', '+');
  return entries.filter(([, fields]) => fields.join(' ').includes(sessionId)).map(([, fields]) => JSON.parse(fields[1]!).status as string);
}

it('an erasure leaves nothing of the session in Redis: its stream entries go, its last event once read, its key after the replay window', async () => {
  const erasing = await started({ erasedEventKeepMs: 300 });
  const other = await started();
  const [id, kept] = [randomUUID(), randomUUID()];
  const heard = other.subscribe(id);
  for (const [sessionId, status, timestamp] of [[id, 'In Progress', now() - 2], [kept, 'Approved', now()], [id, 'Approved', now()]] as const) {
    expect(await erasing.record({ sessionId, status, timestamp })).toBe(true);
  }
  expect(await entriesOf(id)).toEqual(['In Progress', 'Approved']);

  expect(await erasing.record({ sessionId: id, status: 'Deleted', timestamp: now() })).toBe(true);
  expect(await entriesOf(id)).toEqual(['Deleted']);
  // Every instance still hears the erasure.
  const statuses = [];
  for await (const event of heard) {
    statuses.push(event.status);
    if (event.status === 'Deleted') break;
  }
  expect(statuses).toEqual(['In Progress', 'Approved', 'Deleted']);
  await vi.waitFor(async () => expect(await entriesOf(id)).toEqual([]));
  expect(await entriesOf(kept)).toEqual(['Approved']);
  // Kept only as long as a delivery for it could still be taken (see webhooks.ts), never for days.
  const ttl = await admin.ttl(`${PREFIX}webhook-seen:${id}`);
  expect(ttl).toBeGreaterThan(300);
  expect(ttl).toBeLessThanOrEqual(600);
  expect(await erasing.record({ sessionId: id, status: 'Approved', timestamp: now() + 1 })).toBe(false);
  await Promise.all([erasing.close(), other.close()]);
});

it('a stalled Redis fails a delivery within the command timeout rather than hanging it (Didit retries)', async () => {
  const events = await started();
  redis.kill('SIGSTOP');
  try {
    const outcome = await Promise.race([
      events.record({ sessionId: randomUUID(), status: 'Approved', timestamp: now() }).then(
        () => 'recorded',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 8000)),
    ]);
    expect(outcome).toBe('failed');
  } finally {
    redis.kill('SIGCONT');
  }
  // Redis answers again: so do deliveries.
  await vi.waitFor(async () => expect(await events.record({ sessionId: randomUUID(), status: 'Approved', timestamp: now() })).toBe(true), { timeout: 10_000 });
  await events.close();
}, 30_000);
