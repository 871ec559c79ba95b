/** How sessions move: the applicant's page, its form, the control endpoint and reviews. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/sandbox/wire.ts';
import { escapeHtml } from '../../src/sandbox/page.ts';
import { api, completeSession, createSession, getToken, startSandbox } from '../support/sandbox.ts';

async function decisionOf(url: string, token: string, id: string): Promise<Decision> {
  return (await (await api(url, token, 'GET', `/v1/session/${id}/decision/`)).json()) as Decision;
}

describe('the applicant\'s page', () => {
  it('moves Not Started to In Progress and offers the three outcomes', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    expect((await decisionOf(url, token, session.session_id)).status).toBe('Not Started');

    const page = await fetch(session.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain(`<form method="post" action="/session/${session.session_token}/complete">`);
    for (const status of ['Approved', 'Declined', 'In Review']) expect(html).toContain(`name="status" value="${status}"`);
    expect(html).not.toMatch(/<script|<link|src=/);
    expect((await decisionOf(url, token, session.session_id)).status).toBe('In Progress');

    // Opening it again changes nothing.
    await fetch(session.url);
    expect((await decisionOf(url, token, session.session_id)).status).toBe('In Progress');
  });

  it('finishes the session from the form, then shows the outcome and a link to the callback', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token, { callback: 'https://shop.example.com/done?from=didit' });
    await fetch(session.url);
    const posted = await fetch(`${url}/session/${session.session_token}/complete`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ status: 'In Review' }),
      redirect: 'manual',
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`/session/${session.session_token}`);

    const done = await (await fetch(session.url)).text();
    expect(done).toContain('<strong id="outcome">In Review</strong>');
    expect(done).toContain(
      `href="https://shop.example.com/done?from=didit&#38;verificationSessionId=${session.session_id}&#38;status=In+Review"`,
    );
    expect(done).not.toContain('<form');
    expect((await decisionOf(url, token, session.session_id)).status).toBe('In Review');

    // Submitting again (back button) keeps the first outcome.
    const again = await fetch(`${url}/session/${session.session_token}/complete`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'status=Approved',
    });
    expect(await again.text()).toContain('<strong id="outcome">In Review</strong>');
  });

  it('answers 404 for an unknown page and 400 for an unknown outcome', async () => {
    const { url } = await startSandbox();
    const session = await createSession(url, await getToken(url));
    expect((await fetch(`${url}/session/nope`)).status).toBe(404);
    const bad = await fetch(`${url}/session/${session.session_token}/complete`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'status=Abandoned',
    });
    expect(bad.status).toBe(400);
  });

  it('escapes what it writes into HTML', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;');
  });
});

describe('finishing and reviewing', () => {
  it('finishes with the control endpoint, with recognisable KYC data', async () => {
    const { url } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    const res = await completeSession(url, session.session_id, {
      status: 'Approved',
      kyc: { first_name: 'Zelda', last_name: 'Fitzgerald', document_number: 'ZF0001' },
    });
    expect(res.status).toBe(200);
    const decision = (await res.json()) as Decision;
    expect(decision.status).toBe('Approved');
    expect(decision.kyc).toMatchObject({ first_name: 'Zelda', last_name: 'Fitzgerald', full_name: 'Zelda Fitzgerald', document_number: 'ZF0001' });
    expect(await decisionOf(url, token, session.session_id)).toEqual(decision);
  });

  it('finishes programmatically, and refuses unknown or finished sessions', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token, { callback: 'https://example.com/cb', features: 'OCR' });
    const decision = sandbox.complete(session.session_id, 'Declined', { kyc: { nationality: 'NLD' } });
    expect(decision).toMatchObject({ status: 'Declined', kyc: { status: 'Declined', nationality: 'NLD' }, face: null, aml: null });
    expect(() => sandbox.complete(session.session_id, 'Approved')).toThrow(/already Declined/);
    expect(() => sandbox.complete('00000000-0000-4000-8000-000000000000', 'Approved')).toThrow();
  });

  it('adds a review on each update-status and changes the status', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    sandbox.complete(session.session_id, 'In Review');
    const path = `/v1/session/${session.session_id}/update-status/`;
    expect((await api(url, token, 'PATCH', path, { new_status: 'Approved', comment: 'Documents fine' })).status).toBe(200);
    expect((await api(url, token, 'PATCH', path, { new_status: 'Declined' })).status).toBe(200);
    const decision = await decisionOf(url, token, session.session_id);
    expect(decision.status).toBe('Declined');
    expect(decision.reviews).toEqual([
      { user: 'sandbox-client@sandbox.local', new_status: 'Approved', comment: 'Documents fine', created_at: expect.stringMatching(/^\d{4}-.+Z$/) },
      { user: 'sandbox-client@sandbox.local', new_status: 'Declined', comment: null, created_at: expect.any(String) },
    ]);
  });

  it('records every request with its endpoint', async () => {
    const { url, sandbox } = await startSandbox();
    const token = await getToken(url);
    const session = await createSession(url, token);
    await api(url, token, 'GET', `/v1/session/${session.session_id}/decision/?x=1`);
    await fetch(session.url);
    expect(sandbox.requests.map((r) => r.endpoint)).toEqual(['token', 'create', 'decision', 'other']);
    expect(sandbox.requests[2]).toEqual({ method: 'GET', path: `/v1/session/${session.session_id}/decision/`, endpoint: 'decision' });
    sandbox.resetRequests();
    expect(sandbox.requests).toHaveLength(0);
  });
});

describe('state file', () => {
  it('keeps sessions, their pages and their decisions across a restart', async () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'sandbox-state-')), 'state.json');
    const first = await startSandbox({ stateFile });
    const created = await createSession(first.url, await getToken(first.url));
    first.sandbox.complete(created.session_id, 'Approved');
    const before = await (await api(first.url, await getToken(first.url), 'GET', `/v1/session/${created.session_id}/decision/`)).json();
    await first.sandbox.close();

    const second = await startSandbox({ stateFile });
    const after = await (await api(second.url, await getToken(second.url), 'GET', `/v1/session/${created.session_id}/decision/`)).json();
    expect(after).toEqual(before);
    const next = await createSession(second.url, await getToken(second.url));
    expect(next.session_number).toBe(created.session_number + 1);
  });
});
