/**
 * The sandbox's own endpoints, beside Didit's API: the applicant's page at each session's `url`
 * (`/session/{token}`), where a person picks the outcome; control endpoints that move a session
 * without the page, so every status can be produced (`POST /sandbox/sessions/{id}/complete`,
 * `.../expire`, `.../abandon`, `.../kyc-expire`; each answers the v1 decision and sends the
 * webhook); and fault injection (`POST` / `DELETE /sandbox/faults`). None of them is ever faulted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FINAL_STATUSES, type FinalStatus } from './wire.ts';
import { sendJson } from '../lib/send-json.ts';
import { findSession, type SandboxContext } from './context.ts';
import { FaultError, parseFault, parseRates } from './faults.ts';
import { HttpError, readForm, readJsonObject } from './http.ts';
import { messagePage, PAGE_HEADERS, sessionPage } from './page.ts';
import { KycOverrideError, parseKycOverrides } from './personas.ts';
import { SEGMENT, type Route } from './router.ts';
import { isFinished, SessionStateError, type SessionRecord } from './store.ts';

export function controlRoutes(context: SandboxContext): Route[] {
  const { store, faults } = context;

  async function complete(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    const session = findSession(store, id!);
    const { status, kyc } = await readJsonObject(req);
    if (!isFinalStatus(status)) throw new HttpError(400, { status: [`Must be one of: ${FINAL_STATUSES.join(', ')}.`] });
    try {
      store.finish(session, status, kyc === undefined ? undefined : parseKycOverrides(kyc));
    } catch (error) {
      if (error instanceof KycOverrideError) throw new HttpError(400, { kyc: [error.message] });
      if (error instanceof SessionStateError) throw new HttpError(409, { detail: error.message });
      throw error;
    }
    sendJson(res, 200, store.decision(session));
  }

  /** `expire`, `abandon` and `kyc-expire`: a status change the applicant or time would cause. */
  function transition(move: (session: SessionRecord) => void) {
    return (_req: IncomingMessage, res: ServerResponse, [id]: string[]): void => {
      const session = findSession(store, id!);
      try {
        move(session);
      } catch (error) {
        if (error instanceof SessionStateError) throw new HttpError(409, { detail: error.message });
        throw error;
      }
      sendJson(res, 200, store.decision(session));
    };
  }

  async function setFaults(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { fault, rates, ...rest } = await readJsonObject(req);
    try {
      if (Object.keys(rest).length > 0 || (fault === undefined && rates === undefined)) {
        throw new FaultError('Expected {"fault": {...}} and/or {"rates": {...}}.');
      }
      // Both are checked before either is applied, so a bad request changes nothing.
      const checkedFault = fault === undefined ? undefined : parseFault(fault);
      const checkedRates = rates === undefined ? undefined : parseRates(rates);
      if (checkedFault) faults.inject(checkedFault);
      if (checkedRates) faults.setRates(checkedRates);
    } catch (error) {
      if (error instanceof FaultError) throw new HttpError(400, { detail: error.message });
      throw error;
    }
    res.writeHead(204).end();
  }

  function clearFaults(_req: IncomingMessage, res: ServerResponse): void {
    faults.clear();
    res.writeHead(204).end();
  }

  function page(_req: IncomingMessage, res: ServerResponse, [token]: string[]): void {
    const session = store.getByToken(token!);
    if (!session) return sendPage(res, 404, messagePage('Session not found', 'This verification link is not valid.'));
    store.start(session);
    sendPage(res, 200, sessionPage(session));
  }

  async function pageComplete(req: IncomingMessage, res: ServerResponse, [token]: string[]): Promise<void> {
    const session = store.getByToken(token!);
    if (!session) return sendPage(res, 404, messagePage('Session not found', 'This verification link is not valid.'));
    const status = (await readForm(req)).get('status');
    if (!isFinalStatus(status)) return sendPage(res, 400, messagePage('Unknown outcome', 'Choose one of the buttons on the page.'));
    // A second submission (back button, double click) just shows the outcome already reached.
    if (!isFinished(session)) store.finish(session, status);
    // Post/redirect/get: reloading the done page does not post again.
    res.writeHead(303, { Location: `/session/${token}` }).end();
  }

  return [
    { pattern: new RegExp(`^/sandbox/sessions/${SEGMENT}/complete$`), endpoint: 'other', methods: { POST: complete } },
    { pattern: new RegExp(`^/sandbox/sessions/${SEGMENT}/expire$`), endpoint: 'other', methods: { POST: transition((s) => store.expire(s)) } },
    { pattern: new RegExp(`^/sandbox/sessions/${SEGMENT}/abandon$`), endpoint: 'other', methods: { POST: transition((s) => store.abandon(s)) } },
    { pattern: new RegExp(`^/sandbox/sessions/${SEGMENT}/kyc-expire$`), endpoint: 'other', methods: { POST: transition((s) => store.kycExpire(s)) } },
    { pattern: /^\/sandbox\/faults$/, endpoint: 'other', methods: { POST: setFaults, DELETE: clearFaults } },
    { pattern: new RegExp(`^/session/${SEGMENT}$`), endpoint: 'other', methods: { GET: page } },
    { pattern: new RegExp(`^/session/${SEGMENT}/complete$`), endpoint: 'other', methods: { POST: pageComplete } },
  ];
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(html) }).end(html);
}

function isFinalStatus(value: unknown): value is FinalStatus {
  return (FINAL_STATUSES as readonly unknown[]).includes(value);
}
