import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_POLL_MS, createLocalTurns, keepFor, spacing, type Level } from '../../src/core/turns.ts';
import { busiestWindow } from '../../scripts/soak/figures.ts';

/** The most calls in any window of 60 s. */
const busiestMinute = (times: number[]) => busiestWindow(times, 60_000).count;

/**
 * The scheduler's rules (turns.ts), simulated in virtual time: callers that keep calls waiting
 * (backlogged) ask again when told, callers that read now and then ask every so often. The order
 * in which callers ask at the same instant is random (a seed), as it is across a fleet.
 */
interface Flow {
  level: Level;
  flow: string;
  /** Backlogged (always a call waiting), or a call every `everyMs`. */
  everyMs?: number;
  /** When it starts asking (ms after the start; within the first second when not given). */
  fromMs?: number;
}

interface Simulation {
  /** Times of every call let through, by flow. */
  served: Map<string, number[]>;
  all: number[];
  /** How long sparse flows' calls waited, once the first burst is spent (after 5 s). */
  sparseWaitsMs: number[];
}

async function simulate(flows: Flow[], options: { limit: number; reserve: number; seconds: number; seed: number; stepMs?: number }): Promise<Simulation> {
  const { limit, reserve, seconds, seed, stepMs = 10 } = options;
  let now = 1_000_000;
  let random = seed >>> 0 || 1;
  const next = () => ((random = (random * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const turns = createLocalTurns(() => -Infinity, () => now);
  const served = new Map<string, number[]>(flows.map((f) => [f.flow, []]));
  const all: number[] = [];
  /** When each flow asks next, and since when its current call waits (sparse flows). */
  const askAt = new Map<string, number>(flows.map((f) => [f.flow, now + (f.fromMs ?? Math.floor(next() * 1000))]));
  const waitingSince = new Map<string, number>(flows.map((f) => [f.flow, askAt.get(f.flow)!]));
  const sparseWaitsMs: number[] = [];
  const end = now + seconds * 1000;
  for (; now < end; now += stepMs) {
    const order = flows.filter((f) => askAt.get(f.flow)! <= now).sort(() => next() - 0.5);
    for (let i = 0; i < order.length; i++) {
      const f = order[i]!;
      const answer = await turns.turn({ endpoint: 'decision', level: f.level, flow: f.flow, limit, reviewerReserve: reserve });
      if (!answer.ok) {
        askAt.set(f.flow, now + answer.pollMs);
        continue;
      }
      // A backlogged caller's next call asks at once, as the next in its queue does (budget.ts).
      if (!f.everyMs) order.splice(i + 1, 0, f);
      served.get(f.flow)!.push(now);
      all.push(now);
      if (f.everyMs) {
        if (waitingSince.get(f.flow)! >= 1_005_000) sparseWaitsMs.push(now - waitingSince.get(f.flow)!);
        const at = Math.max(now, waitingSince.get(f.flow)! + f.everyMs);
        waitingSince.set(f.flow, at);
        askAt.set(f.flow, at);
      }
    }
  }
  return { served, all, sparseWaitsMs };
}

const backlogged = (level: Level, n: number, name: string = level): Flow[] => Array.from({ length: n }, (_, i) => ({ level, flow: `${name}-${i}` }));
const count = (s: Simulation, prefix: string) => [...s.served].filter(([flow]) => flow.startsWith(prefix)).reduce((sum, [, times]) => sum + times.length, 0);

describe('the scheduler (in-process turns)', () => {
  it('never lets more than the limit through in any 60 s window, whoever asks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 120 }),
        fc.integer({ min: 0, max: 90 }),
        fc.array(fc.record({ level: fc.constantFrom<Level>('reviewers', 'applicants', 'background'), everyMs: fc.option(fc.integer({ min: 50, max: 5000 }), { nil: undefined }) }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        async (limit, reservePercent, shapes, seed) => {
          const flows = shapes.map((s, i) => ({ ...s, flow: `f${i}` }));
          const result = await simulate(flows, { limit, reserve: reservePercent / 100, seconds: 150, seed, stepMs: 20 });
          expect(busiestMinute(result.all)).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('is work-conserving: a lone caller of any level gets all of the limit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Level>('reviewers', 'applicants', 'background'), fc.integer({ min: 8, max: 120 }), fc.integer(), async (level, limit, seed) => {
        const result = await simulate([{ level, flow: 'alone' }], { limit, reserve: 0.5, seconds: 120, seed, stepMs: 20 });
        // The limit in the first minute (a quarter at once, then the rest spread), then about one
        // less a minute: over 97 % of it (less a rounding of the polls).
        expect(result.all.length).toBeGreaterThanOrEqual(Math.floor(1.95 * limit) - 1);
        expect(busiestMinute(result.all)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 15 },
    );
  });

  it('shares a level equally among the callers that flood it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 12 }), fc.constantFrom<Level>('reviewers', 'applicants'), fc.integer(), async (n, level, seed) => {
        const result = await simulate(backlogged(level, n), { limit: 100, reserve: 0.5, seconds: 90, seed });
        // Callers start within the first second: whoever comes first has the burst alone. From then on, turns.
        const counts = [...result.served.values()].map((times) => times.filter((t) => t >= 1_001_000).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(3);
      }),
      { numRuns: 20 },
    );
  });

  it('keeps the reviewers’ part however many applicant accounts flood, and lends it while reviewers are idle', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 10, max: 90 }), fc.integer(), async (accounts, reservePercent, seed) => {
        const reserve = reservePercent / 100;
        const result = await simulate([...backlogged('applicants', accounts, 'attacker'), { level: 'reviewers', flow: 'office' }], { limit: 100, reserve, seconds: 120, seed });
        // The reviewer's part of every turn given while both wait (all but Didit's first burst, which
        // whoever asks first in the first second takes), and applicants no more than theirs plus
        // what was left idle.
        expect(count(result, 'office')).toBeGreaterThanOrEqual(Math.floor(reserve * (result.all.length - 26)) - 1);
        // (Before the reviewer's first call, within the first second, applicants may borrow all of Didit's burst.)
        // (And a call's worth now and then, in the instant between a reviewer's turn and its next ask.)
        expect(count(result, 'attacker')).toBeLessThanOrEqual(25 + Math.ceil(2 * 100 * (1 - reserve) * 1.05) + 5);
      }),
      { numRuns: 15 },
    );
  });

  it('serves a caller who reads within their fair part at once, beside ten flooding accounts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.double({ min: 1.5, max: 3, noNaN: true }), fc.integer(), async (honest, slack, seed) => {
        // Fair part: 75 reads a minute (one every 0.8 s) among 10 + `honest` callers; they read well within it.
        const everyMs = Math.round((10 + honest) * 800 * slack);
        const flows = [...backlogged('applicants', 10, 'attacker'), ...Array.from({ length: honest }, (_, i) => ({ level: 'applicants' as const, flow: `honest-${i}`, everyMs }))];
        const result = await simulate(flows, { limit: 100, reserve: 0.5, seconds: 90, seed });
        // Honest callers are served within the queue wait (5 s), and mostly before the flood rather
        // than after a round of it (ten turns of 0.8 s): about a turn for each honest caller.
        expect(Math.max(...result.sparseWaitsMs)).toBeLessThanOrEqual(5000);
        const mean = result.sparseWaitsMs.reduce((a, b) => a + b, 0) / result.sparseWaitsMs.length;
        expect(mean).toBeLessThanOrEqual((honest + 1) * 800);
        expect(count(result, 'honest')).toBeGreaterThanOrEqual(honest * Math.floor(89_000 / everyMs));
      }),
      { numRuns: 15 },
    );
  });

  it('serves a reviewer who reads now and then within a turn of the whole, however many applicant accounts flood', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 10, max: 90 }), fc.double({ min: 1.5, max: 3, noNaN: true }), fc.integer(), async (accounts, reservePercent, slack, seed) => {
        // Within the reviewers' part (`reservePercent` of 100 reads a minute).
        const everyMs = Math.round((60_000 / reservePercent) * slack);
        const flows = [...backlogged('applicants', accounts, 'attacker'), { level: 'reviewers' as const, flow: 'office', everyMs }];
        const result = await simulate(flows, { limit: 100, reserve: reservePercent / 100, seconds: 90, seed });
        // The levels' clock puts a reviewer back from idle ahead of the applicants: it waits for the
        // whole's next room (one steady spacing, 0.82 s at 100 a minute) and a poll (0.25 s at most).
        expect(Math.max(...result.sparseWaitsMs)).toBeLessThanOrEqual(spacing(100) + MAX_POLL_MS + 20);
        expect(count(result, 'office')).toBeGreaterThanOrEqual(Math.floor(89_000 / everyMs));
      }),
      { numRuns: 15 },
    );
  });

  it('gives the reviewers’ part back at once: reviewers coming back after applicants borrowed it are served first', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 5 }), fc.integer(), async (accounts, reviewers, seed) => {
        // Applicants flood alone for 70 s (they use the whole limit), then `reviewers` reviewers
        // read at once, every 20 s (within their part): each is served within a few turns of the
        // whole, before the applicants (over their part) are served again, never after the 5 s queue wait.
        const office = Array.from({ length: reviewers }, (_, i) => ({ level: 'reviewers' as const, flow: `office-${i}`, everyMs: 20_000, fromMs: 70_000 }));
        const result = await simulate([...backlogged('applicants', accounts, 'attacker'), ...office], { limit: 100, reserve: 0.5, seconds: 120, seed });
        expect(Math.max(...result.sparseWaitsMs)).toBeLessThanOrEqual(reviewers * spacing(100) + MAX_POLL_MS + 20);
        expect(count(result, 'office')).toBe(reviewers * 3);
      }),
      { numRuns: 15 },
    );
  });

  it('keeps the burst of a level that is active: a page of reviewers’ reads goes at once while applicants flood', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 12 }), fc.integer(), async (accounts, reviewers, seed) => {
        // One reviewer reads every 4 s all along (15 a minute); at 70 s, `reviewers` more read at
        // once (a quarter of the reviewers' 50 is 12): every one goes within a poll, not one steady
        // spacing after another.
        const steady = { level: 'reviewers' as const, flow: 'office-steady', everyMs: 4000 };
        const page = Array.from({ length: reviewers }, (_, i) => ({ level: 'reviewers' as const, flow: `office-${i}`, everyMs: 60_000, fromMs: 70_000 + i }));
        const result = await simulate([...backlogged('applicants', accounts, 'attacker'), steady, ...page], { limit: 100, reserve: 0.5, seconds: 90, seed });
        expect(Math.max(...result.sparseWaitsMs)).toBeLessThanOrEqual(spacing(100) + MAX_POLL_MS + 20);
        expect(busiestMinute(result.all)).toBeLessThanOrEqual(100);
      }),
      { numRuns: 15 },
    );
  });

  it('changes what a borrowing level leaves the other by one call at most when one call is made', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }), fc.nat(700), fc.nat(700), fc.boolean(), (mineLimit, theirLimit, mineCount, theirCount, mineCalls) => {
        const before = keepFor({ limit: mineLimit, count: mineCount }, { limit: theirLimit, count: theirCount });
        const after = mineCalls
          ? keepFor({ limit: mineLimit, count: mineCount + 1 }, { limit: theirLimit, count: theirCount })
          : keepFor({ limit: mineLimit, count: mineCount }, { limit: theirLimit, count: theirCount + 1 });
        expect(Math.abs(after - before)).toBeLessThanOrEqual(1);
        // Never more than the other's burst, and nothing while the borrower is within its part.
        expect(before).toBeLessThanOrEqual(Math.floor(theirLimit / 4));
        if (mineCount < mineLimit) expect(before).toBe(0);
      }),
    );
  });

  it('gives background work only what nobody else waits for', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Level>('reviewers', 'applicants'), fc.integer(), async (level, seed) => {
        const busy = await simulate([{ level: 'background', flow: 'background' }, ...backlogged(level, 2)], { limit: 60, reserve: 0.5, seconds: 60, seed });
        // Only the burst nobody asked for before the flood started (callers start within the first
        // second): a quarter of 60, and one more a millisecond later.
        expect(count(busy, 'background')).toBeLessThanOrEqual(16);
        const idle = await simulate([{ level: 'background', flow: 'background' }], { limit: 60, reserve: 0.5, seconds: 60, seed });
        expect(count(idle, 'background')).toBeGreaterThanOrEqual(15 + 40);
      }),
      { numRuns: 10 },
    );
  });
});
