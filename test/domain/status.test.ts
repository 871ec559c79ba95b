import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStatusEvents, type StatusEvents } from '../../src/core/status-events.ts';
import fc from 'fast-check';
import { DELETED_STATUS as DELETED, SESSION_STATUSES as DIDIT_STATUSES, decide, isNews, mayFollow, type Delivery, type Seen } from '../../src/domain/status.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { startRedis } from '../support/redis.ts';

const at = (status: string, timestamp = 100, more: Partial<Delivery> = {}): Delivery => ({ status, timestamp, ...more });
const observed = (status: string): Delivery => ({ status, timestamp: 100, observed: true });

// [first, then, news?]
const CASES: Array<[Delivery, Delivery, boolean]> = [
  // Every move Didit can make, reversals included, when stamped later.
  [at('Approved', 100), at('In Review', 101), true], // ongoing AML monitoring
  [at('Declined', 100), at('Approved', 101), true], // a console review
  ...['Abandoned', 'Kyc Expired'].flatMap((from) =>
    ['In Review', 'Approved', 'Declined'].map((to): [Delivery, Delivery, boolean] => [at(from, 100), at(to, 101), true]),
  ),
  [at('In Review', 100), at('Approved', 101), true],
  [at('Approved', 100), at('Kyc Expired', 101), true],
  ...['Declined', 'In Review', 'Abandoned', 'Approved', 'Kyc Expired'].map((final): [Delivery, Delivery, boolean] => [at(final), at('Resubmitted', 101), true]),
  [at('Resubmitted'), at('In Progress', 101), true],
  // Only what is older than the newest seen is dropped: a later stamp wins even without a known move
  // (the deliveries in between were lost).
  [at('Approved', 100), at('In Progress', 101), true],
  [at('Declined', 100), at('Not Started', 500), true],
  [at('Declined', 200), at('Approved', 100), false],
  [at('In Progress', 100), at('Approved', 99), false],
  // At the same second, a move Didit can make is news; an earlier stage is not.
  [at('Not Started'), at('In Progress'), true],
  [at('In Progress'), at('Approved'), true],
  [at('Not Started'), at('Approved'), true],
  [at('Approved'), at('In Review'), true],
  [at('Declined'), at('Approved'), true],
  [at('Kyc Expired'), at('Declined'), true],
  [at('Approved'), at('In Progress'), false],
  [at('In Review'), at('In Progress'), false],
  [at('Abandoned'), at('Awaiting User'), false],
  [at('Expired'), at('In Progress'), false],
  [at('Approved'), at('Awaiting User'), false],
  // Never the same status twice, never the same delivery twice (Didit's event id, the same on a retry).
  [at('Approved', 100), at('Approved', 100), false],
  [at('Approved', 100), at('Approved', 200), false],
  [at('In Review', 100, { eventId: 'e-1' }), at('Approved', 100, { eventId: 'e-1' }), false],
  [at('In Review', 100, { eventId: 'e-1' }), at('Approved', 100, { eventId: 'e-2' }), true],
  // A status Didit may add later: news when stamped later.
  [at('Approved', 100), at('Under Audit', 101), true],
  [at('Approved', 100), at('Under Audit', 100), false],
  [at('Under Audit', 100), at('Approved', 101), true],
  [at('Under Audit', 100), at('Approved', 100), false],
  // After a status the gateway read itself (its own change), no timestamp orders what comes: the moves do.
  [observed('Approved'), at('Approved', 100), false],
  [observed('Approved'), at('In Progress', 500), false],
  [observed('Approved'), at('In Review', 500), true],
  [at('Approved', 100), observed('In Review'), true],
  [at('Approved', 100), observed('Approved'), false],
];

const name = (first: Delivery, then: Delivery) => `${first.status}@${first.observed ? 'read' : first.timestamp} then ${then.status}@${then.observed ? 'read' : then.timestamp}`;
const after = (first: Delivery) => decide(undefined, first).seen;

describe('isNews', () => {
  it.each(CASES.map(([first, then, news]) => [name(first, then), first, then, news] as const))('%s: %s', (_name, first, then, news) => {
    expect(isNews(after(first), then)).toBe(news);
  });

  it('takes the first delivery of a session as news', () => {
    expect(isNews(undefined, at('In Progress'))).toBe(true);
  });
});

const STATUSES = [...DIDIT_STATUSES, 'Under Audit'];
const delivery = fc.record({
  status: fc.constantFrom(...STATUSES),
  timestamp: fc.integer({ min: 95, max: 105 }),
  eventId: fc.option(fc.constantFrom('e1', 'e2', 'e3', 'e4'), { nil: undefined }),
  observed: fc.boolean().map((read) => (read ? true : undefined)),
}).map((d) => Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as unknown as Delivery);
const deliveries = fc.array(fc.oneof({ weight: 20, arbitrary: delivery }, { weight: 1, arbitrary: fc.constant(at(DELETED, 100)) }), { maxLength: 12 });
/** What `decide` remembers after some deliveries. */
const history = deliveries.map((list) => list.reduce<Seen | undefined>((seen, d) => decide(seen, d).seen, undefined));
const fromDidit = delivery.filter((d) => !d.observed);

describe('what is news (properties)', () => {
  it('a delivery stamped after every one seen, of another status, is news: every move is accepted', () => {
    fc.assert(
      fc.property(history, fc.constantFrom(...STATUSES), fc.uuid(), (seen, status, eventId) => {
        fc.pre(seen !== undefined && !seen.observed && seen.status !== DELETED && seen.status !== status);
        expect(isNews(seen, { status, timestamp: seen!.timestamp + 1, eventId })).toBe(true);
      }),
    );
  });

  it('after a status the gateway read, a delivery is news when Didit can move from that status to it', () => {
    fc.assert(
      fc.property(history, fc.constantFrom(...DIDIT_STATUSES), fc.constantFrom(...DIDIT_STATUSES), fc.uuid(), (seen, read, status, eventId) => {
        const before = decide(seen, { status: read, timestamp: 0, observed: true }).seen;
        fc.pre(before.observed && before.status === read && status !== read);
        const timestamp = before.timestamp + 1;
        expect(isNews(before, { status, timestamp, eventId })).toBe(mayFollow(read, status));
      }),
    );
  });

  it('a delivery older than the newest one seen is never news', () => {
    fc.assert(
      fc.property(history, fromDidit, (seen, incoming) => {
        fc.pre(seen !== undefined && incoming.timestamp < seen.timestamp);
        expect(isNews(seen, incoming)).toBe(false);
      }),
    );
  });

  it('a delivery seen before (a retry) is never news again, nor the same status twice in a row', () => {
    fc.assert(
      fc.property(history, fromDidit, (seen, incoming) => {
        const once = decide(seen, incoming);
        expect(decide(once.seen, incoming).news).toBe(false);
        expect(decide(once.seen, { ...incoming, eventId: 'other', timestamp: incoming.timestamp + 1, status: once.seen.status }).news).toBe(false);
      }),
    );
  });

  it('after Deleted nothing is news, and the newest timestamp seen never goes back', () => {
    fc.assert(
      fc.property(deliveries, (list) => {
        let seen: Seen | undefined;
        for (const d of list) {
          const { news, seen: next } = decide(seen, d);
          if (seen?.status === DELETED) expect(news).toBe(false);
          if (seen) expect(next.timestamp).toBeGreaterThanOrEqual(seen.timestamp);
          seen = next;
        }
      }),
    );
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
    for (const [first, then] of CASES) {
      const sessionId = randomUUID();
      expect(await events.record({ sessionId, ...first })).toBe(true);
      decided.push(await events.record({ sessionId, ...then }));
    }
    expect(decided).toEqual(CASES.map(([, , news]) => news));
  });

  it('for any sequence of deliveries', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async (list) => {
        const sessionId = randomUUID();
        let seen: Seen | undefined;
        for (const d of list) {
          const expected = decide(seen, d);
          seen = expected.seen;
          expect(await events.record({ sessionId, ...d })).toBe(expected.news);
        }
      }),
      { numRuns: 150 },
    );
  });
});
