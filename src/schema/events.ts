import { readsSessions } from '../core/session-count.ts';
import { isNews } from '../core/status-order.ts';
import { DELETED_STATUS, stage, type ResubmitStep as ResubmitStepEvent, type StatusEvent } from '../core/status-events.ts';
import { requireCaller, requireReviewer } from '../core/access.ts';
import { Repeater } from 'graphql-yoga';
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
  description: "A change of a session's status, as Didit reported it by webhook.",
  fields: (t) => ({
    sessionId: t.id({ nullable: false, resolve: (e) => e.sessionId }),
    status: t.field({
      type: SessionStatus,
      nullable: false,
      resolve: (e, _, ctx) => toSessionStatus(e.status, warnOf(ctx)),
    }),
    occurredAt: t.field({ type: 'DateTime', nullable: false, resolve: (e) => new Date(e.timestamp * 1000).toISOString() }),
    resubmittedSteps: t.field({
      type: [ResubmitStep],
      description: 'On RESUBMITTED (Didit v3): the steps to do again, and why.',
      resolve: (e) => e.resubmit ?? null,
    }),
    session: t.field({
      type: Session,
      description:
        'The session read afresh for the subscriber, under the same access rules as `session` (null after DELETED). Select what your cache shows (e.g. `status decision { … }`) so that one event updates it.',
      resolve: async (e, _, ctx) => {
        if (e.status === DELETED_STATUS) return null;
        // Read because Didit sent a webhook, not because the subscriber asked: not charged to the
        // subscriber's share (Didit's own pace still applies), and the shared decision cache makes
        // it one read for all the session's subscribers. The subscription-long loader is bypassed.
        const read = (id: string) => ctx.services.decisionCache.get(id);
        const session = await loadVisibleSession(ctx, e.sessionId, read);
        const known = session.decision?.status ?? '';
        // Already at this status, or further along (an "In Progress" event read after the outcome).
        if (known === e.status || stage(known) > stage(e.status)) return session;
        // The shared cache still holds the status before this event: read Didit again.
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
      'Changes of one session, fed by Didit webhooks: each change once, never an older status after a newer one; DELETED is the last. With `includeCurrent`, the session as it stands comes first. Owner or reviewer.',
    args: {
      sessionId: t.arg.id({ required: true }),
      includeCurrent: t.arg.boolean({ defaultValue: false, description: 'Start with the current status, so there is no need to subscribe and then query.' }),
    },
    extensions: readsSessions((args: { sessionId: string }) => [args.sessionId]),
    subscribe: async (_, { sessionId, includeCurrent }, ctx) => {
      const id = checkSessionId(sessionId, 'sessionId');
      const release = ctx.services.subscriptionSlots.take(requireCaller(ctx.caller));
      // Subscribed before the read, so that no change between the two is missed.
      const live = ctx.services.events.subscribe(id);
      try {
        // Same rules as `session`: someone else's session is NOT_FOUND, before anything is held.
        const { decision } = await loadVisibleSession(ctx, id);
        const current = includeCurrent && decision ? { sessionId: id, status: decision.status, timestamp: Math.floor(Date.now() / 1000) } : undefined;
        return untilDeleted(live, current, lease(release, ctx.caller?.expiresAt));
      } catch (error) {
        release();
        await live.return?.();
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
      const release = ctx.services.subscriptionSlots.take(requireReviewer(ctx.caller));
      const wanted = statuses?.length ? new Set(statuses.map(fromSessionStatus)) : undefined;
      return filtered(ctx.services.events.subscribeAll(), (event) => !wanted || wanted.has(event.status), lease(release, ctx.caller?.expiresAt));
    },
    resolve: (event) => event,
  }),
);

/**
 * The events, starting with `first`, ending after DELETED; a live event that is no news after
 * `first` is not sent. A Repeater, not an async generator: a client leaving must end `live` at once, even while
 * it waits for an event (a generator would wait for that event before running its `finally`).
 */
function untilDeleted(live: AsyncIterableIterator<StatusEvent>, first: StatusEvent | undefined, held: Lease): AsyncIterableIterator<StatusEvent> {
  return new Repeater<StatusEvent>(async (push, stop) => {
    held.start(stop, live);
    if (first) await push(first);
    for await (const event of live) {
      // Nothing the read already showed, nor a status that comes before it.
      if (first && !isNews(first, event)) continue;
      await push(event);
      if (event.status === DELETED_STATUS) break;
    }
    stop();
  });
}

function filtered(live: AsyncIterableIterator<StatusEvent>, keep: (event: StatusEvent) => boolean, held: Lease): AsyncIterableIterator<StatusEvent> {
  return new Repeater<StatusEvent>(async (push, stop) => {
    held.start(stop, live);
    for await (const event of live) if (keep(event)) await push(event);
    stop();
  });
}

interface Lease {
  /** Ties a subscription's end to its slot, its events and its caller's token. */
  start(stop: Promise<unknown> & (() => void), live: AsyncIterableIterator<StatusEvent>): void;
}

/** Longest delay a Node timer takes; a token valid longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What a subscription holds, let go together: when the client leaves or the stream ends, its
 * events at once and its slot; when the caller's token expires, the subscription itself (over
 * WebSocket the socket closes then; an SSE stream would otherwise run on).
 */
function lease(release: () => void, expiresAt: number | undefined): Lease {
  return {
    start(stop, live) {
      const left = expiresAt === undefined ? Infinity : expiresAt * 1000 - Date.now();
      const expiry = left < MAX_TIMER_MS ? setTimeout(() => stop(), Math.max(0, left)) : undefined;
      void stop.then(() => {
        clearTimeout(expiry);
        release();
        return live.return?.();
      });
    },
  };
}
