/**
 * The web example (examples/web), built with Vite as `npm run example:web:build` would and served
 * with `vite preview`, in headless Chromium against a sandbox-mode gateway: an applicant starts a
 * verification, finishes it on the sandbox page and sees the result arrive live; a reviewer opens
 * the session and approves it, and the card updates from urql's normalized cache.
 *
 * UPDATE_SCREENSHOTS=1 also writes docs/web-example.png (otherwise it goes to a temp folder).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build, preview, type InlineConfig, type PreviewServer } from 'vite';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { BROWSER_TIMEOUT, createTestBrowser, recordProblems } from '../support/browser.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/web/', import.meta.url));
const SCREENSHOT = fileURLToPath(new URL('../../docs/web-example.png', import.meta.url));
// The machine is slow and shared: wait for conditions, long enough for Chromium and webhooks.
const WAIT = { timeout: 30_000 };

const browser = createTestBrowser();
let outDir: string;
let site: PreviewServer | undefined;
let gw: TestGateway | undefined;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'web-example-'));
  const config: InlineConfig = {
    root: EXAMPLE,
    configFile: join(EXAMPLE, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
    preview: { host: '127.0.0.1', port: 0, strictPort: true },
  };
  await build(config);
  site = await preview(config);
  // As `npm start` runs it: no AUTH_JWT_SECRET, so the gateway mints the demo tokens.
  gw = await startTestGateway({ AUTH_JWT_SECRET: '' });
}, 120_000);

afterAll(async () => {
  await browser.close();
  await gw?.close();
  await site?.close();
  rmSync(outDir, { recursive: true, force: true });
}, BROWSER_TIMEOUT);

/** The example's address for one caller, as a person would open it after `npm start`. */
function exampleUrl(token: string, extra: Record<string, string> = {}): string {
  const url = new URL(site!.resolvedUrls!.local[0]!);
  url.search = new URLSearchParams({ gateway: gw!.url, token, ...extra }).toString();
  return url.href;
}

/** The operation names a page posted to the gateway, in order. */
function recordOperations(page: Page): string[] {
  const names: string[] = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url() === `${gw!.url}/graphql`) {
      names.push((JSON.parse(request.postData() ?? '{}') as { operationName?: string }).operationName ?? '?');
    }
  });
  return names;
}

const text = (page: Page, selector: string) => page.locator(selector).textContent();

it(
  'an applicant verifies and sees the result live; a reviewer approves it and both pages show APPROVED',
  async () => {
    const { applicant, reviewer } = gw!.demoTokens!;

    // Flow 1: the applicant.
    const { page, problems } = await browser.openPage();
    const applicantOps = recordOperations(page);
    await page.goto(exampleUrl(applicant));
    // The token is taken out of the address bar (and so out of the history and the callback).
    expect(new URL(page.url()).searchParams.has('token')).toBe(false);
    expect(await text(page, '#gateway')).toBe(gw!.url);

    await page.getByRole('button', { name: 'Start verification' }).click();
    const link = page.getByRole('link', { name: /Open the verification page/ });
    await link.waitFor(WAIT);
    const sessionUrl = new URL((await link.getAttribute('href'))!);
    expect(sessionUrl.origin).toBe(gw!.sandbox!.url);
    await page.locator('#status', { hasText: 'NOT_STARTED' }).waitFor(WAIT);
    const id = (await text(page, '#card-id'))!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // Nothing is replayed on subscribe: wait until the page's subscription is open before acting.
    await vi.waitFor(() => expect(gw!.services.events.subscriberCount()).toBe(1), WAIT);

    // The link opens the sandbox page in a new tab, where the person picks an outcome.
    const [verification] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
    const verificationProblems = recordProblems(verification);
    await verification.getByRole('button', { name: 'In Review', exact: true }).click(WAIT);
    await verification.getByRole('heading', { name: 'Verification finished' }).waitFor(WAIT);
    const back = new URL((await verification.getByRole('link', { name: 'Continue' }).getAttribute('href'))!);
    expect(back.origin).toBe(new URL(page.url()).origin);
    expect(back.searchParams.get('token')).toBeNull();
    expect(back.searchParams.get('verificationSessionId')).toBe(id);
    await verification.close();

    // Opening the page started the session, the button finished it: both arrive live.
    await page.locator('#status', { hasText: 'IN_REVIEW' }).waitFor(WAIT);
    await expect.poll(() => page.locator('#events li .badge').allTextContents(), WAIT).toEqual(['IN_PROGRESS', 'IN_REVIEW']);
    const read = await gw!.post(reviewer, 'query($id: ID!) { session(id: $id) { decision { kyc { fullName } aml { totalHits } } } }', { id });
    const fullName = read.data!.session.decision.kyc.fullName as string;
    expect(fullName).toMatch(/\S/);
    expect(await text(page, '#name')).toBe(fullName);
    expect(await page.locator('#events li').last().textContent()).toContain(fullName);
    // The applicant is never shown the AML screening, though the session has one.
    expect(read.data!.session.decision.aml).not.toBeNull();
    expect(await text(page, '#aml')).toBe('— (reviewers only)');
    // No GET (refused by the gateway's CSRF prevention): everything was a POST.
    expect(applicantOps).toEqual(expect.arrayContaining(['StartVerification', 'SessionCard', 'WatchStatus']));

    // Flow 2: a reviewer opens the session and approves it.
    const { page: review, problems: reviewProblems } = await browser.openPage();
    const reviewOps = recordOperations(review);
    await review.goto(exampleUrl(reviewer, { session: id }));
    await review.locator('#status', { hasText: 'IN_REVIEW' }).waitFor(WAIT);
    expect(await text(review, '#name')).toBe(fullName);
    expect(await text(review, '#aml')).toMatch(new RegExp(`^\\w+ · ${read.data!.session.decision.aml.totalHits} hit\\(s\\) · score `));
    await review.getByLabel('Comment').fill('Checked by hand');
    await review.getByRole('button', { name: 'Approve' }).click();
    await review.locator('#status', { hasText: 'APPROVED' }).waitFor(WAIT);
    // The card's query was not run again and this page has no subscription: the mutation's
    // result, normalized into the cache, is what updated it.
    expect(reviewOps).toEqual(['SessionCard', 'Approve']);
    expect(gw!.upstream('update')).toBe(1);

    // The approval is a status change too: the applicant's page hears it live.
    await page.locator('#status', { hasText: 'APPROVED' }).waitFor(WAIT);
    await expect.poll(() => page.locator('#events li .badge').allTextContents(), WAIT).toEqual(['IN_PROGRESS', 'IN_REVIEW', 'APPROVED']);
    expect(await page.locator('#error').isHidden()).toBe(true);

    const shot = join(outDir, 'web-example.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS) copyFileSync(shot, SCREENSHOT);

    expect([...problems, ...verificationProblems, ...reviewProblems]).toEqual([]);
    expect(browser.offHost).toEqual([]);
  },
  3 * BROWSER_TIMEOUT,
);
