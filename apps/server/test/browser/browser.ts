import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); STROM_TEST_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.STROM_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Where failing browser tests leave their screenshots (repository root, like CI expects). */
export const RESULTS_DIR = path.resolve(import.meta.dirname, '../../../../test-results');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** What a page did that it should not: load from elsewhere, break its CSP, throw. */
export interface PageProblems {
  foreignRequests: string[];
  cspViolations: string[];
  pageErrors: string[];
}

/** Records every request to another origin, CSP violation and uncaught error of the context's pages. */
export function watchContext(context: BrowserContext, origin: string): PageProblems {
  const problems: PageProblems = { foreignRequests: [], cspViolations: [], pageErrors: [] };
  const allowed = new URL(origin);
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return;
    if (url.host !== allowed.host) problems.foreignRequests.push(request.url());
  });
  const watchPage = (page: Page) => {
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) problems.cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => problems.pageErrors.push(error.message));
  };
  context.pages().forEach(watchPage);
  context.on('page', watchPage);
  return problems;
}

/** Saves a full-page screenshot named after the test into test-results/. */
export async function screenshot(page: Page, testName: string): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${testName.replace(/[^\w.-]+/g, '-').slice(0, 120)}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}
