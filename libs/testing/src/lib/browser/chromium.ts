import { existsSync, rmSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';

import { makeTempDir } from '../services/temp-dir';

/** Debian's Chromium (package `chromium`; `.ci/run` installs it). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Headless, as root in a container (no sandbox), without a GPU, and with nothing of its
 * own to fetch: without the background-networking flags Chromium keeps dialling
 * Google's hosts, which a closed network refuses, many at a time.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface HeadlessChromium {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Debian's Chromium driven by playwright-core (which downloads no browser of its own),
 * with a fresh, empty profile (`--user-data-dir`, through launchPersistentContext) that
 * close() removes.
 */
export async function launchChromium(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<HeadlessChromium> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`,
    );
  // Loaded here: most tests that import @portfolio/testing drive no browser.
  const { chromium } = await import('playwright-core');
  const profile = makeTempDir('chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: options.viewport ?? { width: 1400, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
