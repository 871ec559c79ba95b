import { readsSessions } from '../core/session-count.ts';
import { stage, type StatusEvent } from '../core/status-events.ts';
import { builder } from './builder.ts';
import { warnOf } from './decision.ts';
import { SessionStatus, toSessionStatus } from './enums.ts';
import { Session, checkSessionId, loadVisibleSession } from './session.ts';

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
    session: t.field({
      type: Session,
      description: 'The session read afresh for the subscriber, under the same access rules as `session`.',
      resolve: async (e, _, ctx) => {
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
      'Changes of one session, fed by Didit webhooks: each change once, never an older status after a newer one. Nothing is sent on subscribe: read the current status with a query. Owner or reviewer.',
    args: { sessionId: t.arg.id({ required: true }) },
    extensions: readsSessions((args: { sessionId: string }) => [args.sessionId]),
    subscribe: async (_, { sessionId }, ctx) => {
      // Same rules as `session`: someone else's session is NOT_FOUND, before anything is held.
      const { id } = await loadVisibleSession(ctx, checkSessionId(sessionId, 'sessionId'));
      return ctx.services.events.subscribe(id);
    },
    resolve: (event) => event,
  }),
);
