/**
 * The web console's screenshots in docs/console/, taken from the real thing: the built
 * standalone app with a few models loaded, some traffic and an eviction, in Debian's
 * headless Chromium.
 *
 *   npm run console:screenshots        # builds the standalone app, then writes the PNGs
 *
 * Needs /usr/bin/chromium (Debian's `chromium`). Takes about a minute: the sparklines
 * need a few of the gateway's 5-second samples.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

import { buildMlpModel, launchChromium, REPO_ROOT } from '@portfolio/testing';

import { registerOnnxModel, startStandalone } from '../bench/portfolio-admin';

const ADMIN_KEY = 'console-screenshots-admin-key';
const OUT = join(REPO_ROOT, 'docs', 'console');

/** Models of a few sizes (the MLP's hidden layers set its weights' bytes). */
const MODELS = [
  { id: 'fraud-detector', hidden: [2048, 1024], inputSize: 64 },
  { id: 'recommender', hidden: [1536, 1024], inputSize: 64 },
  { id: 'churn', hidden: [1024, 512], inputSize: 64 },
  { id: 'iris', hidden: [16], inputSize: 4 },
  { id: 'sentiment', hidden: [1024, 1024], inputSize: 64 },
];

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  key = ADMIN_KEY,
): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

function predict(url: string, id: string, inputSize: number) {
  return call(url, 'POST', `/v1/models/${id}/predict`, {
    inputs: { x: [Array.from({ length: inputSize }, (_, i) => i / inputSize)] },
  });
}

async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/ui`);
  await page.fill('#key-form input', key);
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('.runtime .segment[data-model]');
  await page.waitForSelector('.spark-card');
  await page.waitForSelector('table.models tbody tr[data-version]');
}

async function main(): Promise<void> {
  const { url, app } = await startStandalone(ADMIN_KEY, {
    // Less than the models need together: the traffic below evicts some of them.
    PORTFOLIO_CACHE_MAX_MEMORY: '24MiB',
    PORTFOLIO_CACHE_SOFT_LIMIT: '75%',
    PORTFOLIO_RUNTIME_NODE_ID: 'runtime-1',
  });
  const browser = await launchChromium({
    viewport: { width: 1440, height: 1000 },
  });
  try {
    for (const [i, m] of MODELS.entries())
      await registerOnnxModel(
        url,
        ADMIN_KEY,
        m.id,
        buildMlpModel({
          inputSize: m.inputSize,
          hidden: m.hidden,
          outputSize: 4,
          seed: i + 1,
          softmax: true,
        }),
      );
    // A second version of one model, promoted, so the table shows aliases moving.
    await call(url, 'PUT', '/admin/models/churn/aliases/production', {
      version: 1,
    });
    await fetch(`${url}/admin/models/churn/versions`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${ADMIN_KEY}`,
        'Content-Type': 'application/octet-stream',
      },
      body: buildMlpModel({
        inputSize: 64,
        hidden: [1024, 512],
        outputSize: 4,
        seed: 99,
        softmax: true,
      }),
    });
    await call(url, 'PUT', '/admin/models/churn/aliases/staging', {
      version: 2,
    });
    const read = (await call(url, 'POST', '/admin/keys', {
      name: 'dashboards',
      scopes: ['read'],
    })) as { key: string };

    const page = await browser.context.newPage();
    // Open before the loads, so the timeline fills as they happen.
    await page.goto(`${url}/ui`);
    await page.fill('#key-form input', ADMIN_KEY);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('table.models');

    // Traffic for ~30 s, most of it to three models and some to the others: the first
    // request of each is a miss, and the rare ones are evicted to make room (24 MiB).
    const until = Date.now() + 30_000;
    for (let round = 0; Date.now() < until; round++)
      for (const m of MODELS)
        if (m.id !== 'sentiment' || round % 40 === 0)
          await predict(url, m.id, m.inputSize).catch(() => undefined);
    await call(url, 'POST', '/admin/models/iris/unload', {});
    for (let i = 0; i < 20; i++) await predict(url, 'churn', 64);

    await page.waitForSelector('.timeline li.event[data-kind=unloaded]');
    await page.waitForSelector('.spark-card');
    await new Promise((r) => setTimeout(r, 5_500));

    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'overview.png'), fullPage: true });
    await page.locator('#memory').screenshot({ path: join(OUT, 'memory.png') });
    await page
      .locator('#timeline')
      .screenshot({ path: join(OUT, 'timeline.png') });
    await page
      .locator('#models')
      .screenshot({ path: join(OUT, 'models-admin.png') });

    const readOnly = await browser.context.newPage();
    await signIn(readOnly, url, read.key);
    await readOnly.screenshot({
      path: join(OUT, 'read-only.png'),
      fullPage: true,
    });
    console.log(`screenshots written to ${OUT}`);
  } finally {
    await browser.close();
    await app.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
