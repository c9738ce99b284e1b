import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (scripts/system-deps.sh installs it); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], timeout: 30_000 });
}

/**
 * A browser whose user speaks `language`: `--lang` sets it for a headed
 * Chromium, and `--accept-lang` for the headless one (which ignores --lang),
 * so navigator.languages and Accept-Language are what such a user's would be.
 */
export function launchChromiumIn(language: string): Promise<Browser> {
  return launchChromium([`--lang=${language}`, `--accept-lang=${language}`]);
}

export interface UserPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Uncaught exceptions and console errors of the page's own code, for a final check. */
  readonly errors: string[];
}

/** A fresh browser context (its own cookies) per user, on a laptop-sized screen. */
export async function openPage(browser: Browser, baseURL: string): Promise<UserPage> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (message) => {
    // Refused requests (401 before login, 403 in the viewer test) are logged by Chromium itself; they are expected.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(`console: ${message.text()}`);
  });
  return { context, page, errors };
}

/** Logs in through the form and waits for the live view to show the role. */
export async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('role').waitFor({ state: 'visible' });
}

/** The text of a test id, trimmed ('' when absent). */
export async function textOf(page: Page, testId: string): Promise<string> {
  return ((await page.getByTestId(testId).textContent({ timeout: 5_000 })) ?? '').trim();
}
