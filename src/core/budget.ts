import { createHash, createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { BudgetConfig } from '../config.ts';
import type { Caller } from './access.ts';
import { RateLimited } from './errors.ts';
import type { Level, Turns } from './turns.ts';

/**
 * The Didit limits calls are scheduled under: decision reads, PDF downloads, and every other GET
 * (searches, the reviews feed, workflow lists) which share Didit's generic GET limit.
 */
export type BudgetedEndpoint = 'decision' | 'pdf' | 'get';

/** Who pays for an upstream call: a caller, by a hash of its `sub` (no personal data in keys or links), at its level. */
export interface Payer {
  id: string;
  level: Level;
}

export function payerOf(caller: Caller): Payer {
  return { id: pseudonym(`sub:${caller.sub}`), level: caller.reviewer ? 'reviewers' : 'applicants' };
}

/**
 * The payer of work nobody asked for right now: revalidation, prefetching, re-reads after a webhook.
 * It only ever uses what no caller wants: `budget.charge(BACKGROUND, 'decision')`.
 */
export const BACKGROUND: Payer = { id: 'background', level: 'background' };

let pseudonymKey: Buffer | undefined;
/**
 * Pseudonyms already made: every request names its caller two or three times (operation limit,
 * budget), and an HMAC each time was 2-3 % of the gateway's CPU on uncached reads. In memory only.
 */
const PSEUDONYMS_MAX = 10_000;
const PSEUDONYMS_TTL_MS = 10 * 60_000;
const pseudonyms = new LRUCache<string, string>({ max: PSEUDONYMS_MAX, ttl: PSEUDONYMS_TTL_MS });

/** `PSEUDONYM_KEY`, set at start: the same on every instance, so that a fleet names callers alike. */
export function setPseudonymKey(key: Buffer | undefined): void {
  pseudonymKey = key;
  pseudonyms.clear();
}

/**
 * A stable, short stand-in for a personal value (a `sub`, an address) in Redis keys, links, logs
 * and applicants' audit records: an HMAC keyed with PSEUDONYM_KEY, so that a `sub` that is an
 * email address cannot be found by hashing a list of addresses (unkeyed only outside production,
 * when no key is set).
 */
export function pseudonym(value: string): string {
  let name = pseudonyms.get(value);
  if (name === undefined) {
    const digest = pseudonymKey ? createHmac('sha256', pseudonymKey) : createHash('sha256');
    name = digest.update(`didit-gateway\0${value}`).digest('base64url').slice(0, 22);
    pseudonyms.set(value, name);
  }
  return name;
}

export interface Budget {
  /**
   * Waits for `payer`'s turn to make one upstream call, right before it is made: at once when
   * Didit's budget has room for it, else in the payer's queue for up to `DIDIT_QUEUE_WAIT_MS`.
   * Throws RATE_LIMITED (`limit: "didit"`) when its turn would come later than that, or
   * (`limit: "caller"`) when the payer already has `DIDIT_QUEUE_PER_CALLER` calls waiting.
   */
  charge(payer: Payer, endpoint: BudgetedEndpoint): Promise<void>;
}

/** What operators see of the scheduler (metrics.ts). */
export interface BudgetObserver {
  /** A call's outcome: served at once, served after waiting, or refused; with its time in the queue. */
  outcome(level: Level, endpoint: BudgetedEndpoint, outcome: 'served' | 'waited' | 'refused', waitedMs: number): void;
  /** A call served over its level's guarantee, on capacity another level left unused. */
  borrowed(level: Level, endpoint: BudgetedEndpoint): void;
}

/** Calls waiting on one instance, all callers together: a flood of accounts cannot grow memory past it. */
const MAX_WAITING = 10_000;
/** After this long without a refusal, a level's next refusal is logged again. */
const REFUSING_QUIET_MS = 30_000;

interface Waiter {
  deadline: number;
  enqueuedAt: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface FlowQueue {
  waiters: Waiter[];
  /** The last estimate of how long until this flow's turn. */
  retryInMs: number;
}

const NOUNS: Record<BudgetedEndpoint, string> = { decision: 'decision reads', pdf: 'PDF reports', get: 'searches and lists' };

/**
 * Didit's per-minute limits shared out by a work-conserving, fair scheduler (see turns.ts for the
 * rules and README "Didit's budget" for how it relates to APF and HTB). Each caller's calls wait in
 * a small queue of their own; only the head of a caller's queue asks for a turn, so a caller with a
 * hundred calls waiting costs the fleet's Redis no more than one with one.
 */
export function createBudget(options: {
  turns: Turns;
  config: BudgetConfig;
  limitsPerMinute: Record<BudgetedEndpoint, number>;
  observer?: BudgetObserver;
  log: Logger;
}): Budget {
  const { turns, config, limitsPerMinute, observer, log } = options;
  const queues = new Map<string, FlowQueue>();
  const lastRefusal = new Map<string, number>();
  let waiting = 0;

  /** Counts and logs a refusal, and returns its error. */
  function refused(payer: Payer, endpoint: BudgetedEndpoint, enqueuedAt: number, error: RateLimited): RateLimited {
    const now = Date.now();
    observer?.outcome(payer.level, endpoint, 'refused', now - enqueuedAt);
    const key = `${payer.level}:${endpoint}`;
    if (now - (lastRefusal.get(key) ?? -Infinity) > REFUSING_QUIET_MS) {
      log.warn({ priority: payer.level, endpoint, retryAfter: error.retryAfter }, `Didit budget: ${payer.level} started being refused ${NOUNS[endpoint]}`);
    }
    lastRefusal.set(key, now);
    return error;
  }

  /** Serves one caller's queue, head first, until it is empty. */
  async function drain(payer: Payer, endpoint: BudgetedEndpoint, queue: FlowQueue, key: string) {
    const request = { endpoint, level: payer.level, flow: payer.id, limit: limitsPerMinute[endpoint], reviewerReserve: config.reviewerReserve };
    let registered = false;
    try {
      for (let head = queue.waiters[0]; head; head = queue.waiters[0]) {
        const answer = await turns.turn(request);
        const now = Date.now();
        if (answer.ok) {
          registered = false;
          queue.waiters.shift();
          waiting--;
          const waited = now - head.enqueuedAt;
          observer?.outcome(payer.level, endpoint, waited > 0 ? 'waited' : 'served', waited);
          if (answer.borrowed) observer?.borrowed(payer.level, endpoint);
          head.resolve();
          continue;
        }
        registered = true;
        queue.retryInMs = answer.retryInMs;
        if (answer.retryInMs > head.deadline - now) {
          // Its turn would come after the wait: refused now, with when to come back.
          queue.waiters.shift();
          waiting--;
          head.reject(refused(payer, endpoint, head.enqueuedAt, new RateLimited(`Didit's ${NOUNS[endpoint]} are all taken for now; try again later`, answer.retryInMs, 'didit')));
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(answer.pollMs, head.deadline - now)));
      }
    } finally {
      queues.delete(key);
      // Nothing of this caller's waits here any more: the others do not wait for it.
      if (registered) await turns.leave(request).catch(() => {});
    }
  }

  /**
   * The whole wait for a turn, in one place (tracing wraps it): queued behind the caller's own
   * calls, then served, or refused with an honest `retryAfter`.
   */
  async function waitForTurn(payer: Payer, endpoint: BudgetedEndpoint): Promise<void> {
    const key = `${endpoint}\0${payer.level}\0${payer.id}`;
    let queue = queues.get(key);
    const now = Date.now();
    if (queue && queue.waiters.length >= config.queuePerCaller) {
      // Its calls already waiting go first: come back once they are served.
      const retryAfterMs = Math.max(queue.retryInMs, 1000);
      throw refused(payer, endpoint, now, new RateLimited(`This caller already has ${config.queuePerCaller} Didit ${NOUNS[endpoint]} waiting; try again later`, retryAfterMs, 'caller'));
    }
    if (waiting >= MAX_WAITING) {
      throw refused(payer, endpoint, now, new RateLimited(`Too many Didit ${NOUNS[endpoint]} are waiting; try again later`, config.queueWaitMs, 'didit'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = { deadline: now + config.queueWaitMs, enqueuedAt: now, resolve, reject };
      waiting++;
      if (queue) return void queue.waiters.push(waiter);
      queue = { waiters: [waiter], retryInMs: 0 };
      queues.set(key, queue);
      drain(payer, endpoint, queue, key).catch((error: unknown) => {
        // A turn that failed outright (never expected: the fleet's turns fall back to this
        // instance's): every waiter of the queue hears it rather than hanging.
        for (const w of queue!.waiters.splice(0)) {
          waiting--;
          w.reject(error);
        }
      });
    });
  }

  return { charge: waitForTurn };
}
