/**
 * Headless Chromium for the browser tests, driven with playwright-core through Debian's Chromium
 * (`apt-get install chromium`): nothing is downloaded, and pages may only talk to 127.0.0.1.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Even with the flags above, Chromium looks up accounts.google.com and update.googleapis.com
  // at start and content-autofill.googleapis.com on GraphiQL: refuse every name but 127.0.0.1,
  // so that no lookup nor connection leaves the machine.
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];
/** Chromium starts slowly on a small machine: a timeout for tests that drive it. */
export const BROWSER_TIMEOUT = 60_000;

export interface TestBrowser {
  /** The browser's one context, started on first use. */
  context(): Promise<BrowserContext>;
  /** A fresh tab that records what went wrong in it (uncaught errors, console errors). */
  openPage(): Promise<{ page: Page; problems: string[] }>;
  /** Every request a page tried to send somewhere other than 127.0.0.1 (all were refused). */
  offHost: string[];
  close(): Promise<void>;
}

/**
 * One browser per test file, started by the first test that needs it: without Chromium each test
 * fails with the reason (a failing beforeAll would only mark them skipped). Call `close` in afterAll.
 */
export function createTestBrowser(): TestBrowser {
  let profile: string | undefined;
  let launching: Promise<BrowserContext> | undefined;
  const offHost: string[] = [];

  const context = () => {
    launching ??= (async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
      profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
      // A persistent context is how Playwright takes our own, fresh --user-data-dir.
      const started = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
      // data: and blob: URLs (favicons, editor workers) never reach the network or a route.
      await started.route(
        (url) => url.protocol !== 'data:' && url.protocol !== 'blob:' && url.hostname !== '127.0.0.1',
        (route) => {
          offHost.push(route.request().url());
          return route.abort('blockedbyclient');
        },
      );
      return started;
    })();
    return launching;
  };

  return {
    context,
    offHost,
    async openPage() {
      const page = await (await context()).newPage();
      return { page, problems: recordProblems(page) };
    },
    async close() {
      try {
        await (await launching?.catch(() => undefined))?.close();
      } finally {
        if (profile) rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

/** Collects a page's uncaught errors and console errors. */
export function recordProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return problems;
}
