import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createLiveQueue } from '../../src/core/live-queue.ts';

it('keeps what is pushed before the first read, and ends (onEnd once) on return() before any read', async () => {
  let ended = 0;
  const queue = createLiveQueue<number>({ max: 10, onEnd: () => (ended += 1) });
  expect(queue.push(1)).toBe(true);
  expect(await queue.next()).toEqual({ value: 1, done: false });
  const other = createLiveQueue<number>({ max: 10, onEnd: () => (ended += 1) });
  await other.return();
  await other.return();
  expect(ended).toBe(1);
  expect(other.push(2)).toBe(false);
  expect(await other.next()).toEqual({ value: undefined, done: true });
});

it('return() ends a read that is waiting', async () => {
  const queue = createLiveQueue<number>({ max: 10, onEnd: () => {} });
  const waiting = queue.next();
  await queue.return();
  expect(await waiting).toEqual({ value: undefined, done: true });
});

it('delivers every value in order, and ends a reader that falls more than `max` behind (what it holds is still read)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer(), { maxLength: 40 }), fc.integer({ min: 1, max: 20 }), async (values, max) => {
      let ended = 0;
      const queue = createLiveQueue<number>({ max, onEnd: () => (ended += 1) });
      const accepted = values.filter((value) => queue.push(value));
      expect(accepted).toEqual(values.slice(0, max));
      expect(ended).toBe(values.length > max ? 1 : 0);
      queue.end();
      const read: number[] = [];
      for await (const value of queue) read.push(value);
      expect(read).toEqual(accepted);
      expect(ended).toBe(1);
    }),
  );
});
