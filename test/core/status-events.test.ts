import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { expect, it, vi } from 'vitest';
import { createStatusEvents } from '../../src/core/status-events.ts';

it('ends a subscriber that stopped reading, and the others keep every event', async () => {
  const events = createStatusEvents({ log: pino({ level: 'silent' }) });
  const stalled = events.subscribeAll();
  const reading = events.subscribeAll();
  // A subscription starts when it is first read: the stalled one reads once, then never again.
  const first = stalled.next();
  const received: string[] = [];
  const consumer = (async () => {
    for await (const event of reading) {
      received.push(event.sessionId);
      if (received.length === 1100) break;
    }
  })();
  await vi.waitFor(() => expect(events.subscriberCount()).toBe(2));
  const ids = Array.from({ length: 1100 }, () => randomUUID());
  for (const sessionId of ids) {
    expect(await events.record({ sessionId, status: 'In Progress', timestamp: 1 })).toBe(true);
    // Deliveries arrive one request at a time: the reading subscriber keeps up between them.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await consumer;
  expect(received).toEqual(ids);
  expect((await first).value?.sessionId).toBe(ids[0]);
  // Ended, not buffering for ever: it gives back what it held, then finishes.
  let left = 0;
  for await (const _ of stalled) left += 1;
  expect(left).toBeLessThan(1100);
  await vi.waitFor(() => expect(events.subscriberCount()).toBe(0));
  await events.close();
});

it("announces an erasure whatever the last delivery's timestamp, once", async () => {
  const events = createStatusEvents({ log: pino({ level: 'silent' }) });
  const sessionId = randomUUID();
  const future = Math.floor(Date.now() / 1000) + 3600;
  expect(await events.record({ sessionId, status: 'Approved', timestamp: future })).toBe(true);
  expect(await events.record({ sessionId, status: 'Deleted', timestamp: Math.floor(Date.now() / 1000) })).toBe(true);
  expect(await events.record({ sessionId, status: 'Deleted', timestamp: future + 1 })).toBe(false);
  expect(await events.record({ sessionId, status: 'Approved', timestamp: future + 2 })).toBe(false);
  await events.close();
});
