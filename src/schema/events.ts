import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { DiditNotFoundError, DiditRateLimitedError } from '../didit/errors.ts';
import type { Decision } from '../domain/model.ts';
import type { LiveQueue } from '../core/live-queue.ts';
import type { ResubmitStep as ResubmitStepEvent, StatusEvent } from '../core/status-events.ts';
import { DELETED_STATUS, mayFollow } from '../domain/status.ts';
import { canSee, notFound, requireCaller, requireReviewer, stepsFor, type Caller } from '../core/access.ts';
import type { GatewayContext } from '../core/context.ts';
import { readsSession } from './session-count.ts';
import { builder } from './builder.ts';
import { warnOf } from './decision.ts';
import { SessionStatus, fromSessionStatus, toSessionStatus } from './enums.ts';

import { Session, checkSessionId, loadVisibleSession } from './session.ts';

const ResubmitStep = builder.objectRef<ResubmitStepEvent>('ResubmitStep');
ResubmitStep.implement({
  description: 'A step the applicant is asked to do again (Didit v3).',
  fields: (t) => ({
    nodeId: t.exposeString('nodeId', { nullable: false }),
    feature: t.exposeString('feature'),
    reason: t.exposeString('reason'),
  }),
});

const SessionStatusEvent = builder.objectRef<StatusEvent>('SessionStatusEvent');
SessionStatusEvent.implement({
  description: "A change of a session's status, as Didit reported it by webhook, or as the gateway made it (read back from Didit).",
  fields: (t) => ({
    sessionId: t.id({ nullable: false, resolve: (e) => e.sessionId }),
    status: t.field({
      type: SessionStatus,
      nullable: false,
      resolve: (e, _, ctx) => toSessionStatus(e.status, warnOf(ctx)),
    }),
    occurredAt: t.field({
      type: 'DateTime',
      nullable: false,
      description: "Didit's time of the change (a webhook's signed timestamp); for the gateway's own change or the current status, when the gateway read it.",
      resolve: (e) => new Date(e.timestamp * 1000).toISOString(),
    }),
    resubmittedSteps: t.field({
      type: [ResubmitStep],
      description:
        'On RESUBMITTED (Didit v3): the steps to do again, and why. An applicant sees only the steps they can redo themselves (document, selfie, proof of address, phone, email, questionnaire); reviewers see every step.',
      resolve: (e, _, ctx) => (e.resubmit ? stepsFor(ctx.caller, e.resubmit) : null),
    }),
    session: t.field({
      type: Session,
      description:
        'The session read afresh for the subscriber, under the same access rules as `session` (null after DELETED). Select what your cache shows (e.g. `status decision { … }`) so that one event updates it.',
      resolve: async (e, _, ctx) => {
        if (e.status === DELETED_STATUS) return null;
        // Read because Didit sent a webhook, not because the subscriber asked: background work, on
        // what no caller wants, and the shared decision cache makes it one read for all the
        // session's subscribers. The subscription-long loader is bypassed.
        const read = (id: string) => ctx.services.decisionCache.get(id, { background: true });
        const session = await loadVisibleSession(ctx, e.sessionId, read);
        const known = session.decision?.status ?? '';
        // Already at this status, or at one this event cannot follow (an "In Progress" event read after the outcome).
        if (known === e.status || mayFollow(known, e.status) === false) return session;
        // The shared cache may still hold the status before this event: read Didit again, the truth.
        await ctx.services.decisionCache.delete(e.sessionId);
        return loadVisibleSession(ctx, e.sessionId, read);
      },
    }),
  }),
});

builder.subscriptionType({});

builder.subscriptionField('sessionStatusChanged', (t) =>
  t.field({
    type: SessionStatusEvent,
    nullable: false,
    description:
      "Changes of one session, fed by Didit webhooks and the gateway's own changes, from the moment of subscribing: each change once, reversals included, never a delivery older than the newest one seen; DELETED (the session was erased) is the last. With `includeCurrent`, the session as it stands comes first. Owner or reviewer; costs none of the caller's share of Didit.",
    args: {
      sessionId: t.arg.id({ required: true }),
      includeCurrent: t.arg.boolean({ defaultValue: false, description: 'Start with the current status, so there is no need to subscribe and then query.' }),
    },
    extensions: readsSession((args: { sessionId: string }) => args.sessionId),
    subscribe: async (_, { sessionId, includeCurrent }, ctx) => {
      const caller = requireCaller(ctx.caller);
      const id = checkSessionId(sessionId, 'sessionId');
      const release = ctx.services.subscriptionSlots.take(caller);
      // Registered for events before anything is read, so that no change during the read is missed.
      const live = ctx.services.events.subscribe(id);
      try {
        // Same rules as `session`: someone else's session is NOT_FOUND, before anything is held.
        const decision = await attach(ctx, caller, id, includeCurrent ?? false);
        // The current status carries no time of ours: what follows it is ordered by the moves Didit makes.
        const current = includeCurrent && decision ? { sessionId: id, status: decision.status, timestamp: Math.floor(Date.now() / 1000), observed: true } : undefined;
        return follow(live, { first: current, oneSession: true, release, expiresAt: caller.expiresAt });
      } catch (error) {
        release();
        await live.return();
        throw error;
      }
    },
    resolve: (event) => event,
  }),
);

builder.subscriptionField('reviewQueue', (t) =>
  t.field({
    type: SessionStatusEvent,
    nullable: false,
    description:
      "Every session's status changes, across all instances (the back office's live queue), optionally only those reaching one of `statuses` (e.g. [IN_REVIEW]). Reviewers only.",
    args: { statuses: t.arg({ type: [SessionStatus] }) },
    subscribe: (_, { statuses }, ctx) => {
      const caller = requireReviewer(ctx.caller);
      const release = ctx.services.subscriptionSlots.take(caller);
      const wanted = statuses?.length ? new Set(statuses.map(fromSessionStatus)) : undefined;
      return follow(ctx.services.events.subscribeAll(), { keep: (event) => !wanted || wanted.has(event.status), release, expiresAt: caller.expiresAt });
    },
    resolve: (event) => event,
  }),
);

/** Sessions whose last status a subscription remembers, to send none twice in a row (the queue's: the most recently changed). */
const REMEMBERED_SESSIONS = 1_000;

/** Longest a subscriber's first read waits for Didit's pace before the subscription is refused. */
const ATTACH_WAIT_MS = 60_000;

/**
 * What a caller needs read to follow a session: nothing for a reviewer (they may see every
 * session) nor for an applicant whose ownership the gateway already knows, unless the current
 * status is asked for. A read is never charged to the caller (following a session must not cost
 * their share of Didit), and waits while Didit's pace is spent rather than refusing.
 * Throws NOT_FOUND for a session the caller may not see.
 */
async function attach(ctx: GatewayContext, caller: Caller, id: string, includeCurrent: boolean): Promise<Decision | undefined> {
  const owner = ctx.services.owners.of(id);
  if (!caller.reviewer && owner !== undefined && owner !== caller.sub) throw notFound();
  if (!includeCurrent && (caller.reviewer || owner !== undefined)) return undefined;
  const deadline = Date.now() + ATTACH_WAIT_MS;
  for (;;) {
    try {
      const decision = await ctx.services.decisionCache.get(id);
      ctx.services.owners.remember(id, decision.vendorData);
      if (!canSee(caller, decision)) throw notFound();
      return decision;
    } catch (error) {
      if (error instanceof DiditNotFoundError) throw notFound();
      const wait = error instanceof DiditRateLimitedError ? error.retryAfter * 1000 : undefined;
      if (wait === undefined || Date.now() + wait > deadline) throw error;
      await sleep(wait);
    }
  }
}

/** Longest delay a Node timer takes; a token valid longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A subscription's events: `first` if given, then those of `live` that `keep` takes, ending when
 * the caller's token expires, when the client leaves, or (following `oneSession`) after DELETED.
 * Not a Repeater nor a generator: whatever ends it (`return()` before any `next()` included, as
 * graphql-ws does when a client completes at once), its slot is given back and its events let go
 * at once.
 *
 * A session's status is never sent twice in a row (to the queue's subscribers as to the session's
 * own): the record of what was announced lives in Redis, and a Redis that restarted empty takes a
 * status read or re-delivered after it as news once more. After `first` (a status read, which no
 * timestamp of Didit's orders), an event that came in during the read is sent only when Didit can
 * move from `first` to it.
 */
function follow(
  live: LiveQueue<StatusEvent>,
  options: { first?: StatusEvent; oneSession?: boolean; keep?: (event: StatusEvent) => boolean; release: () => void; expiresAt?: number },
): AsyncIterableIterator<StatusEvent> {
  const { first, oneSession = false, keep = () => true, release } = options;
  let pending = first;
  // The last status seen of each session, sent or not (the queue's: of the most recently changed).
  // LRUCache allocates for `max` at once: a session's own subscription keeps one, not a thousand.
  const seen = new LRUCache<string, string>({ max: oneSession ? 1 : REMEMBERED_SESSIONS });
  if (first) seen.set(first.sessionId, first.status);
  // Events that came in while `first` was read: they may tell of a change the read already shows.
  let early = first ? live.size : 0;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(expiry);
    release();
    void live.return();
  };
  const left = options.expiresAt === undefined ? Infinity : options.expiresAt * 1000 - Date.now();
  const expiry = left < MAX_TIMER_MS ? setTimeout(end, Math.max(0, left)) : undefined;
  const done = (): IteratorResult<StatusEvent> => ({ value: undefined, done: true });

  const iterator: AsyncIterableIterator<StatusEvent> = {
    async next() {
      if (pending && !ended) {
        const value = pending;
        pending = undefined;
        return { value, done: false };
      }
      while (!ended) {
        const result = await live.next();
        if (result.done) break;
        const event = result.value;
        const duringRead = early > 0;
        if (duringRead) early -= 1;
        const last = seen.get(event.sessionId);
        if (event.status === last || (duringRead && last !== undefined && mayFollow(last, event.status) === false)) continue;
        seen.set(event.sessionId, event.status);
        if (!keep(event)) continue;
        if (oneSession && event.status === DELETED_STATUS) end();
        return { value: event, done: false };
      }
      end();
      return done();
    },
    async return() {
      end();
      return done();
    },
    async throw(error: unknown) {
      end();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
