/**
 * The page: plain DOM, no framework. Every value from the gateway goes in with textContent.
 *
 * The session card only ever shows what the `SessionCard` query watches. Nothing else writes to
 * it: the subscription's events and the Approve mutation update the normalized cache, and urql
 * hands the watching query the new result from there.
 */
import type { Client, CombinedError } from '@urql/core';
import { createGatewayClient } from './client.ts';
import type { SessionCardQuery, VerificationFeature } from './gql/graphql.ts';
import { Approve, SessionCard, StartVerification, WatchStatus } from './operations.ts';
import { callbackUrl, gatewayOrigin, saveToken, takeTokenFromUrl } from './settings.ts';

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`#${id} is missing from index.html`);
  return found;
}

const ui = {
  gateway: element('gateway', HTMLElement),
  tokenForm: element('token-form', HTMLFormElement),
  token: element('token', HTMLInputElement),
  start: element('start', HTMLButtonElement),
  withAml: element('with-aml', HTMLInputElement),
  verify: element('verify', HTMLElement),
  verifyLink: element('verify-link', HTMLAnchorElement),
  events: element('events', HTMLOListElement),
  loadForm: element('load-form', HTMLFormElement),
  sessionId: element('session-id', HTMLInputElement),
  approveForm: element('approve-form', HTMLFormElement),
  comment: element('comment', HTMLInputElement),
  card: element('card', HTMLElement),
  cardId: element('card-id', HTMLElement),
  status: element('status', HTMLElement),
  name: element('name', HTMLElement),
  document: element('document', HTMLElement),
  aml: element('aml', HTMLElement),
  error: element('error', HTMLElement),
};

const params = new URLSearchParams(location.search);
const gateway = (() => {
  try {
    return gatewayOrigin(params);
  } catch (error) {
    showError(String(error)); // on the page, not only in the console
    throw error;
  }
})();
ui.gateway.textContent = gateway;
ui.token.value = takeTokenFromUrl();
let client: Client = createGatewayClient(gateway, ui.token.value);

/** The session on the card, and what keeps it current (unsubscribed when another is shown). */
let shown: string | undefined;
let following: Array<{ unsubscribe(): void }> = [];

function follow(sessionId: string, { live }: { live: boolean }): void {
  stopFollowing();
  shown = sessionId;
  ui.sessionId.value = sessionId;
  // cache-and-network: what the cache has at once, then a fresh read; later results come
  // from cache updates.
  const card = client.query(SessionCard, { id: sessionId }, { requestPolicy: 'cache-and-network' });
  following.push(
    card.subscribe(({ data, error }) => {
      if (error) showError(error);
      if (data?.session) renderCard(data.session);
    }),
  );
  if (live) {
    following.push(
      client.subscription(WatchStatus, { sessionId }).subscribe(({ data, error }) => {
        if (error) return showError(error);
        const event = data?.sessionStatusChanged;
        if (event) addEvent(event.status, event.occurredAt, event.session?.decision?.kyc?.fullName);
      }),
    );
  }
}

function stopFollowing(): void {
  following.forEach((subscription) => subscription.unsubscribe());
  following = [];
  shown = undefined;
}

function renderCard(session: NonNullable<SessionCardQuery['session']>): void {
  const kyc = session.decision?.kyc;
  const aml = session.decision?.aml;
  ui.card.hidden = false;
  ui.cardId.textContent = session.id;
  ui.status.textContent = session.status;
  ui.status.className = `badge ${session.status}`;
  ui.name.textContent = kyc?.fullName ?? '—';
  ui.document.textContent = kyc ? [kyc.documentType, kyc.issuingStateName, kyc.status].filter(Boolean).join(' · ') : '—';
  // The gateway gives AML screening to reviewers only; an applicant's is always null.
  ui.aml.textContent = aml ? `${aml.status ?? 'UNKNOWN'} · ${aml.totalHits} hit(s) · score ${aml.score ?? '—'}` : '— (reviewers only)';
}

function addEvent(status: string, occurredAt: string, fullName: string | null | undefined): void {
  const item = document.createElement('li');
  const badge = document.createElement('span');
  badge.className = `badge ${status}`;
  badge.textContent = status;
  const time = new Date(occurredAt).toLocaleTimeString();
  item.append(badge, ` at ${time}${fullName ? ` · ${fullName}` : ''}`);
  ui.events.append(item);
}

function showError(error: CombinedError | string): void {
  ui.error.textContent = typeof error === 'string' ? error : error.message;
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
}

ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  saveToken(ui.token.value.trim());
  // Another caller: a fresh client, so nothing cached for the last one is shown.
  stopFollowing();
  client = createGatewayClient(gateway, ui.token.value.trim());
  ui.card.hidden = true;
  ui.verify.hidden = true;
  ui.events.replaceChildren();
  clearError();
});

// Flow 1: start, open the verification page in another tab, and watch the result arrive.
ui.start.addEventListener('click', async () => {
  clearError();
  ui.start.disabled = true;
  try {
    const features: VerificationFeature[] | null = ui.withAml.checked ? ['OCR', 'FACE', 'AML'] : null;
    const result = await client.mutation(StartVerification, { callback: callbackUrl(params), features }).toPromise();
    const session = result.data?.createSession.session;
    if (!session) return showError(result.error ?? 'No session was created');
    ui.verifyLink.href = session.url;
    ui.verify.hidden = false;
    ui.events.replaceChildren();
    follow(session.id, { live: true });
  } finally {
    ui.start.disabled = false;
  }
});

// Flow 2: load a session and approve it.
ui.loadForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearError();
  const id = ui.sessionId.value.trim();
  if (id) follow(id, { live: false });
});

ui.approveForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  if (!shown) return showError('Load a session first');
  const result = await client.mutation(Approve, { sessionId: shown, comment: ui.comment.value.trim() || null }).toPromise();
  // Nothing to render here: graphcache wrote the returned session, and the card follows it.
  if (result.error) showError(result.error);
});

if (!ui.token.value) showError('No token yet: paste one of those `npm start` printed, then Use.');

// `?session=` opens a session on the card; so does coming back from the verification page (Didit
// adds the session's id to the callback), though a new tab has no token until one is pasted.
const returned = params.get('session') ?? params.get('verificationSessionId');
if (returned && ui.token.value) follow(returned, { live: false });
else if (returned) ui.sessionId.value = returned;
