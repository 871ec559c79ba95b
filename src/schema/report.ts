import { requireReviewer } from '../core/access.ts';
import { payerOf } from '../core/budget.ts';
import { readsSession } from './session-count.ts';
import { builder } from './builder.ts';
import { warnOf } from './decision.ts';
import { toSessionStatus } from './enums.ts';
import { checkSessionId, failedPrecondition, loadVisibleSession } from './session.ts';

const SessionPdf = builder.objectRef<{ url: string; expiresAt: number; filename: string }>('SessionPdf');
SessionPdf.implement({
  description: "A short-lived link to a session's PDF report.",
  fields: (t) => ({
    url: t.field({ type: 'URL', nullable: false, description: "The gateway's own signed download link.", resolve: (p) => p.url }),
    expiresAt: t.field({ type: 'DateTime', nullable: false, resolve: (p) => new Date(p.expiresAt * 1000).toISOString() }),
    filename: t.exposeString('filename', { nullable: false }),
  }),
});

builder.mutationField('generateSessionPdf', (t) =>
  t.field({
    type: SessionPdf,
    nullable: false,
    description: 'A signed link to download the PDF report (GET, no token needed, valid for a few minutes). Reviewers only.',
    args: { sessionId: t.arg.id({ required: true }) },
    extensions: readsSession((args: { sessionId: string }) => args.sessionId),
    resolve: async (_, { sessionId }, ctx) => {
      const caller = requireReviewer(ctx.caller);
      const { id, decision } = await loadVisibleSession(ctx, checkSessionId(sessionId, 'sessionId'));
      // Didit renders a report only for some statuses (per API); it answers 403 for the others.
      const reportable = ctx.services.didit.reportable;
      if (!reportable.has(decision!.status)) {
        const status = toSessionStatus(decision!.status, warnOf(ctx));
        const states = [...reportable].map((name) => toSessionStatus(name, warnOf(ctx))).join(', ');
        throw failedPrecondition(`The report exists once the session is ${states}; this session is ${status}`, { status });
      }
      return ctx.services.pdfLinks.create(id, payerOf(caller));
    },
  }),
);
