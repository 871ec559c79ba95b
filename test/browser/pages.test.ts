/**
 * The two pages a person opens in a real browser: GraphiQL on the gateway, and the applicant's
 * page on the sandbox, in headless Chromium that may only talk to 127.0.0.1 (test/support/browser.ts).
 */
import { afterAll, expect, it, vi } from 'vitest';
import { BROWSER_TIMEOUT as TIMEOUT, createTestBrowser } from '../support/browser.ts';
import { startTestGateway } from '../support/gateway.ts';
import { STATUS_SUBSCRIPTION, subscribeSse, type LiveSubscription } from '../support/subscriptions.ts';

const browser = createTestBrowser();
const { offHost } = browser;
const openPage = () => browser.openPage();

afterAll(() => browser.close(), TIMEOUT);

/**
 * Monaco renders spaces as non-breaking ones, joins its lines without a break and wraps long ones
 * (indenting the rest): compare text without any whitespace.
 */
const squash = (text: string | null) => (text ?? '').replace(/\s+/g, '');

it(
  'GraphiQL loads offline, shows the example operation and runs StartVerification',
  async () => {
    const { page, problems } = await openPage();
    const gw = await startTestGateway({ AUTH_JWT_SECRET: '' }).catch(async (error: unknown) => {
      await page.close();
      throw error;
    });
    try {
      const response = await page.goto(`${gw.url}/graphql`);
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe('Didit gateway');

      // Loaded means the Monaco editors are up and hold the sandbox's example and token.
      const operation = page.locator('.graphiql-query-editor .view-lines');
      await operation.filter({ hasText: 'mutation StartVerification' }).waitFor();
      expect(squash(await operation.textContent())).toContain('mutationStartVerification{createSession(');
      expect(await page.locator('.graphiql-container').first().textContent()).not.toMatch(/Loading/);
      await page.getByRole('button', { name: 'Headers' }).click();
      // Variables and Headers are two editors in one place; the hidden one is empty.
      const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .view-lines').filter({ hasText: 'Authorization' });
      await headers.waitFor();
      expect(squash(await headers.textContent())).toBe(`{"Authorization":"Bearer${gw.demoTokens!.reviewer}"}`);

      // Four operations in the document: the run button asks which one.
      const created = page.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/graphql' && (r.request().postData() ?? '').includes('StartVerification'),
      );
      await page.getByRole('button', { name: 'Execute query' }).click();
      const choices = page.getByRole('menuitem');
      await choices.first().waitFor();
      expect(await choices.allTextContents()).toEqual(['StartVerification', 'ReadDecision', 'Approve', 'Report']);
      await page.getByRole('menuitem', { name: 'StartVerification', exact: true }).click();

      const sent = await created;
      expect(sent.status()).toBe(200);
      expect(sent.request().headers().authorization).toBe(`Bearer ${gw.demoTokens!.reviewer}`);
      const body = (await sent.json()) as { data?: { createSession: { session: { id: string; url: string; status: string } } }; errors?: unknown };
      expect(body.errors).toBeUndefined();
      const session = body.data!.createSession.session;
      expect(session.status).toBe('NOT_STARTED');
      expect(new URL(session.url).origin).toBe(gw.sandbox!.url);
      expect(new URL(session.url).pathname).toMatch(/^\/session\/[^/]+$/);

      // The result pane shows that session.
      const result = page.locator('.graphiql-response .view-lines');
      await result.filter({ hasText: session.id }).waitFor();
      const shown = squash(await result.textContent());
      expect(shown).toContain('"status":"NOT_STARTED"');
      expect(shown).toContain(`"url":"${session.url}"`);
      expect(shown).toContain(`"id":"${session.id}"`);
      expect(shown).not.toContain('"errors"');

      await page.screenshot({ path: '/tmp/graphiql.png' });
      expect(problems).toEqual([]);
      expect(offHost).toEqual([]);
    } finally {
      await page.close();
      await gw.close();
    }
  },
  TIMEOUT,
);

it(
  "the applicant's sandbox page finishes a verification, and the gateway hears it live",
  async () => {
    const { page, problems } = await openPage();
    const gw = await startTestGateway({ AUTH_JWT_SECRET: '' }).catch(async (error: unknown) => {
      await page.close();
      throw error;
    });
    let sub: LiveSubscription | undefined;
    try {
      const applicant = gw.demoTokens!.applicant;
      const created = await gw.post(applicant, 'mutation { createSession(input: { callback: "http://localhost:3000/done" }) { session { id url } } }');
      expect(created.errors).toBeUndefined();
      const { id, url } = created.data!.createSession.session as { id: string; url: string };
      expect(new URL(url).hostname).toBe('127.0.0.1');

      sub = subscribeSse(gw.url, applicant, STATUS_SUBSCRIPTION, { id });
      await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(1));

      const response = await page.goto(url);
      expect(response?.status()).toBe(200);
      await page.getByRole('heading', { name: 'Verify your identity' }).waitFor();
      const buttons = page.getByRole('button');
      expect(await buttons.allTextContents()).toEqual(['Approve', 'Decline', 'In Review']);

      await page.getByRole('button', { name: 'Approve', exact: true }).click();
      await page.getByRole('heading', { name: 'Verification finished' }).waitFor();
      expect(await page.locator('#outcome').textContent()).toBe('Approved');
      expect(new URL(page.url()).pathname).toBe(new URL(url).pathname); // post/redirect/get
      const back = new URL((await page.getByRole('link', { name: 'Continue' }).getAttribute('href'))!);
      expect(back.origin + back.pathname).toBe('http://localhost:3000/done');
      expect(back.searchParams.get('verificationSessionId')).toBe(id);
      expect(back.searchParams.get('status')).toBe('Approved');

      // Opening the page started the session, the button finished it: two webhooks, two events.
      const events = await sub.next(2);
      expect(events.map((e) => e.errors)).toEqual([undefined, undefined]);
      expect(events.map((e) => e.data!.sessionStatusChanged.status)).toEqual(['IN_PROGRESS', 'APPROVED']);
      expect(events[1]!.data!.sessionStatusChanged).toMatchObject({ sessionId: id, session: { id, status: 'APPROVED' } });

      const read = await gw.post(applicant, `{ session(id: "${id}") { status decision { kyc { fullName } } } }`);
      expect(read.errors).toBeUndefined();
      expect(read.data!.session.status).toBe('APPROVED');
      expect(read.data!.session.decision.kyc.fullName).toMatch(/\S/);
      expect(sub.results.at(-1)!.data!.sessionStatusChanged.status).toBe('APPROVED');

      expect(problems).toEqual([]);
      expect(offHost).toEqual([]);
    } finally {
      await sub?.close();
      await page.close();
      await gw.close();
    }
  },
  TIMEOUT,
);
