import { STEADY_SHARE, WINDOW_MS, createWindows, type Bucket, type Windows } from '../didit/rate-buckets.ts';

/**
 * Whose turn it is to call Didit: the scheduler's decision, made one call at a time. The same
 * arithmetic runs in this process (here, for one instance or an instance without Redis) and in
 * Redis for a fleet (`fleet-buckets.ts`, one Lua script); keep both in step.
 *
 * Three things decide a turn, as in Linux HTB and Kubernetes' API Priority and Fairness:
 * - Didit's pace: the endpoint's strict bucket (`didit:<endpoint>`, which the Didit client takes
 *   from and a 429 holds off) must have room, and so must the scheduler's own count of the calls it
 *   let through and of their retries (`all`), so that nothing it lets through finds Didit's pace empty.
 * - Levels (weighted fair queuing between them): reviewers are guaranteed `reviewerReserve` of the
 *   turns and applicants the rest. Each level has a tag on a clock the levels share: its next call
 *   starts at its tag, or at the clock when it was idle (so nothing is banked), and each call it is
 *   given moves its tag by 1 / its part. While both levels wait, the one with the lower start goes
 *   (reviewers on a tie), so each gets its part of whatever the whole has room for; a level alone
 *   takes all of it (it borrows the other's idle part, as an HTB class borrows from its parent) and
 *   gives it back at once: the level that comes back starts at the clock, ahead of the one that was
 *   alone. A level with no part (a 0 % reserve) goes only when the other does not wait. Background
 *   work has no part: it goes only when nobody in another level waits.
 * - Borrowing (HTB's rate and ceiling): each level keeps a log of its calls of the last window,
 *   borrowed ones too. A level whose log holds its part or more is over it: it borrows. While both
 *   wait, a level under its part takes every turn before one over it (what was borrowed comes back
 *   at once). And a borrowing call (of a flow that floods, not of one that reads now and then)
 *   leaves in the window the other level's burst (`keepFor`), so that a back office reading a page
 *   of sessions while applicants flood finds its reads served at once rather than one steady
 *   spacing after another.
 * - Fair queuing inside a level (start-time fair queuing): each flow (a caller) has a tag, the calls
 *   it was given; only a flow whose tag is the lowest among the level's waiting flows may go, so
 *   backlogged flows take turns, one call each. A sparse flow (none of its calls given for a round)
 *   starts one call below the level's virtual time (the tag of the last call given), so a caller who
 *   reads now and then goes before those who flood (as FQ-CoDel's new flows do), and banks nothing
 *   by idling.
 */

/** Priority levels of Didit's budget, highest first. */
export type Level = 'reviewers' | 'applicants' | 'background';
export const LEVELS: readonly Level[] = ['reviewers', 'applicants', 'background'];

export interface TurnRequest {
  /** The budget: `decision`, `pdf` or `get`. */
  endpoint: string;
  level: Level;
  /** The caller, as a pseudonym. */
  flow: string;
  /** Didit's limit on the endpoint, in calls a minute (this instance's fraction when counting alone). */
  limit: number;
  /** The part of `limit` reserved for reviewers (0 to 1); applicants are guaranteed the rest. */
  reviewerReserve: number;
}

export type TurnAnswer =
  /** Go now; `borrowed` when the level was over its guarantee and used another level's idle part. */
  | { ok: true; borrowed: boolean }
  /** Not now: ask again in `pollMs`; `retryInMs` is how long until this flow's turn, as far as can be told. */
  | { ok: false; pollMs: number; retryInMs: number };

export interface Turns {
  /** Takes a turn for the request's flow, or says when to ask again (and registers the flow as waiting). */
  turn(request: TurnRequest): Promise<TurnAnswer>;
  /** The flow has nothing waiting any more (it gave up): others no longer wait for it. */
  leave(request: Pick<TurnRequest, 'endpoint' | 'level' | 'flow'>): Promise<void>;
}

/** How long a waiting flow counts as waiting without asking again (its instance may be gone). */
export const WAITING_TTL_MS = 1000;
/** How soon after a refusal a waiting call asks again, at most and at least. */
export const MAX_POLL_MS = 250;
export const MIN_POLL_MS = 5;
/** How many calls below the level's virtual time an idle flow starts. */
export const IDLE_CREDIT = 1;

/** A strict bucket of the scheduler's own (a sliding log, see rate-buckets.ts). */
export interface Share {
  key: string;
  limit: number;
}

/** The spacing of a steady flow under `limit` a minute: how long each flow ahead adds to a wait. */
export const spacing = (limit: number) => Math.ceil(WINDOW_MS / (limit * STEADY_SHARE));

/** The buckets a turn takes from. */
export function turnBuckets(request: Pick<TurnRequest, 'endpoint' | 'limit' | 'reviewerReserve'>) {
  const { endpoint, limit, reviewerReserve } = request;
  // A level with no guarantee (a 0 % reserve) has no bucket: it only borrows.
  const share = (key: string, perMinute: number): Share | undefined => (perMinute > 0 ? { key, limit: perMinute } : undefined);
  return {
    pace: { key: `didit:${endpoint}`, limit, shape: 'strict' } satisfies Bucket,
    all: { key: `budget:${endpoint}:all`, limit } satisfies Share,
    reviewers: share(`budget:${endpoint}:level:reviewers`, limit * reviewerReserve),
    applicants: share(`budget:${endpoint}:level:applicants`, limit * (1 - reviewerReserve)),
  };
}

/** The levels' shared clock: the start of the last call given, and each level's next start. */
interface LevelClock {
  virtual: number;
  tags: Record<'reviewers' | 'applicants', number>;
}

/**
 * How many calls of the window a borrowing level leaves free for the other level: the burst of
 * the other's part (a quarter of it), but no more than the other called in the window (an idle
 * level lends all), than it has left of its part, or than the borrower is over its own. It grows
 * and shrinks one call at a time, so no level ever finds the window taken from it at once.
 */
export function keepFor(mine: { limit: number; count: number }, theirs: { limit: number; count: number }): number {
  const over = mine.count - mine.limit + 1;
  return Math.max(0, Math.floor(Math.min(theirs.limit * (1 - STEADY_SHARE), theirs.count, theirs.limit - theirs.count, over)));
}

/** A level's part of the turns while both levels wait. */
export function partOf(level: Level, reviewerReserve: number): number {
  return level === 'reviewers' ? reviewerReserve : level === 'applicants' ? 1 - reviewerReserve : 0;
}

interface LevelState {
  /** Virtual time: the start tag of the last call given. */
  virtual: number;
  /** Calls given in the level so far. */
  served: number;
  /** Flows ahead of the virtual time: their tag, and `served` when their last call was given. */
  flows: Map<string, { tag: number; mark: number }>;
  /** Waiting flows: their start tag and until when they count as waiting. */
  waiting: Map<string, { tag: number; until: number }>;
}

/**
 * Where a flow's next call starts in virtual time: after its last one, or, for a flow that was
 * sparse (more than a round went by since its last call: more calls given than flows are active,
 * waiting or ahead of the virtual time; or it is not ahead at all), one call below the virtual
 * time, so it goes before the flows that flood. A flooding flow's calls come a round apart.
 */
export function startTag(virtual: number, served: number, active: number, entry: { tag: number; mark: number } | undefined): number {
  const sparse = !entry || served - entry.mark > active;
  return sparse ? virtual - IDLE_CREDIT : Math.max(entry.tag, virtual - IDLE_CREDIT);
}

/**
 * Turns counted in this process. `peekPace` says in how many ms Didit's pace bucket has room (0 or
 * less: now), as the Didit client's buckets hold it.
 */
export function createLocalTurns(peekPace: (bucket: Bucket) => number, clock: () => number = Date.now, windows: Windows = createWindows(clock)): Turns {
  const levels = new Map<string, LevelState>();
  const clocks = new Map<string, LevelClock>();
  const levelOf = (endpoint: string, level: Level) => {
    const key = `${endpoint}:${level}`;
    let state = levels.get(key);
    if (!state) levels.set(key, (state = { virtual: 0, served: 0, flows: new Map(), waiting: new Map() }));
    return state;
  };
  const prune = (state: LevelState, now: number) => {
    for (const [flow, entry] of state.waiting) if (entry.until <= now) state.waiting.delete(flow);
  };

  return {
    async turn(request) {
      const now = clock();
      const { endpoint, level, flow } = request;
      const buckets = turnBuckets(request);
      const state = levelOf(endpoint, level);
      prune(state, now);
      // A waiting call keeps the start it was given when it came; a call that comes now gets one.
      const active = Math.max(state.waiting.size + 1, state.flows.size);
      const start = state.waiting.get(flow)?.tag ?? startTag(state.virtual, state.served, active, state.flows.get(flow));
      let lowest = Infinity;
      let ahead = 0;
      for (const [other, entry] of state.waiting) {
        if (other === flow) continue;
        lowest = Math.min(lowest, entry.tag);
        if (entry.tag < start) ahead++;
      }
      const otherWaits = (other: Level) => {
        const s = levelOf(endpoint, other);
        prune(s, now);
        return s.waiting.size > 0;
      };

      const own = level === 'background' ? undefined : buckets[level];
      let levelClock = clocks.get(endpoint);
      if (!levelClock) clocks.set(endpoint, (levelClock = { virtual: 0, tags: { reviewers: 0, applicants: 0 } }));
      const part = partOf(level, request.reviewerReserve);
      // A level is over its part when its calls of the last window (borrowed ones too) fill it.
      const over = (l: Level) => {
        const bucket = l === 'background' ? undefined : buckets[l];
        return !bucket || windows.count(bucket.key) >= bucket.limit;
      };
      let mine = levelClock.virtual;
      let behind: boolean;
      let contended: boolean;
      let takesAll = false;
      let borrowing = false;
      /** What this call leaves of the whole for the other level's next calls (`keepFor`). */
      let keep = 0;
      if (level === 'background') {
        // No part: every call it is given is borrowed.
        borrowing = true;
        behind = contended = otherWaits('reviewers') || otherWaits('applicants');
      } else {
        const other = level === 'reviewers' ? 'applicants' : 'reviewers';
        mine = Math.max(levelClock.tags[level], levelClock.virtual);
        const theirs = Math.max(levelClock.tags[other], levelClock.virtual);
        const [meOver, themOver] = [over(level), over(other)];
        borrowing = meOver;
        const theirPart = buckets[other];
        // (A caller who reads now and then, whose call starts below the level's virtual time, is
        // within its fair part whoever else floods the level: it borrows nothing.)
        if (own && theirPart && start > state.virtual - IDLE_CREDIT) {
          keep = keepFor({ limit: own.limit, count: windows.count(own.key) }, { limit: theirPart.limit, count: windows.count(theirPart.key) });
        }
        contended = otherWaits(other);
        takesAll = !meOver && themOver;
        const first = theirs < mine || (theirs === mine && level === 'applicants') ? other : level;
        behind = contended && (part <= 0 || (partOf(other, request.reviewerReserve) > 0 && !takesAll && (meOver !== themOver || first === other)));
      }
      const capacity = Math.max(peekPace(buckets.pace), windows.wait(buckets.all.key, buckets.all.limit, keep));
      const allSpacing = spacing(buckets.all.limit);
      // Behind the other level: it goes next, at the whole's next room.
      const levelWait = behind ? allSpacing : 0;
      if (start <= lowest && capacity <= 0 && levelWait <= 0) {
        windows.add(buckets.all.key);
        if (own) windows.add(own.key);
        if (level !== 'background' && part > 0) {
          levelClock.virtual = mine;
          levelClock.tags[level] = mine + 1 / part;
        }
        state.flows.set(flow, { tag: start + 1, mark: ++state.served });
        state.virtual = Math.max(state.virtual, start);
        for (const [other, entry] of state.flows) if (entry.tag <= state.virtual - IDLE_CREDIT) state.flows.delete(other);
        state.waiting.delete(flow);
        return { ok: true, borrowed: borrowing };
      }
      state.waiting.set(flow, { tag: start, until: now + WAITING_TTL_MS });
      // Flows ahead in the level come one a turn of its part while the other level waits too (or
      // one a turn of the whole while the other is over its part and this one is not).
      return refusal(capacity, levelWait, ahead, own && contended && !takesAll ? spacing(own.limit) : allSpacing);
    },
    async leave({ endpoint, level, flow }) {
      levelOf(endpoint, level).waiting.delete(flow);
    },
  };
}

/** When to ask again, and how long until the flow's turn: the wait for room, plus one interval per flow ahead. */
export function refusal(capacityMs: number, levelMs: number, ahead: number, interval: number): TurnAnswer {
  const roomMs = Math.max(capacityMs, levelMs, 0);
  const retryInMs = roomMs + ahead * interval || interval;
  const pollMs = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, roomMs > 0 ? roomMs : MIN_POLL_MS * 4));
  return { ok: false, pollMs, retryInMs };
}
