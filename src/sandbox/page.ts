/**
 * The applicant's side of the sandbox: the page at a session's `url`, where a person finishes the
 * verification by picking an outcome, and the "done" page that links back to the callback.
 * Self-contained (inline style, no script, no external asset) so it works offline; every value
 * put into the HTML is escaped.
 */
import { FINAL_STATUSES } from './wire.ts';
import { isFinished, type SessionRecord } from './store.ts';

/** Headers for every page: nothing may load from elsewhere, and forms only post back here. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Cache-Control': 'no-store',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The session's page: the outcome buttons while it runs (or was resubmitted), the done page once finished. */
export function sessionPage(session: SessionRecord): string {
  return isFinished(session) ? donePage(session) : choicePage(session);
}

/** A page that only says something, e.g. that a link is not valid. */
export function messagePage(title: string, text: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(text)}</p>`);
}

function choicePage(session: SessionRecord): string {
  const buttons = FINAL_STATUSES.map(
    (status) => `<button type="submit" name="status" value="${escapeHtml(status)}">${escapeHtml(BUTTON_LABELS[status])}</button>`,
  ).join('\n');
  return layout(
    'Verify your identity',
    `<h1>Verify your identity</h1>
<p>Sandbox session #${session.number} &middot; ${escapeHtml(session.features)}</p>
<p>No document or camera is needed here: choose how the verification ends.</p>
<form method="post" action="/session/${escapeHtml(session.token)}/complete">
${buttons}
</form>`,
  );
}

const BUTTON_LABELS: Record<(typeof FINAL_STATUSES)[number], string> = {
  Approved: 'Approve',
  Declined: 'Decline',
  'In Review': 'In Review',
};

function donePage(session: SessionRecord): string {
  // Didit sends the applicant back to the callback with the session id and status in the query;
  // a v3 session may have no callback, and then there is nowhere to go back to.
  let link = '';
  if (session.callback) {
    const back = new URL(session.callback);
    back.searchParams.set('verificationSessionId', session.id);
    back.searchParams.set('status', session.status);
    link = `\n<p><a href="${escapeHtml(back.href)}">Continue</a></p>`;
  }
  return layout(
    'Verification finished',
    `<h1>Verification finished</h1>
<p>Outcome: <strong id="outcome">${escapeHtml(session.status)}</strong></p>${link}`,
  );
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - Didit sandbox</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }
button { font: inherit; padding: .6rem 1.2rem; margin: 0 .5rem .5rem 0; border: 1px solid #888; border-radius: .4rem; background: #f4f4f4; cursor: pointer; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
