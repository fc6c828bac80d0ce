import { rmSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';

import {
  AppProcess,
  buildMlpModel,
  freePort,
  HeadlessChromium,
  launchChromium,
  makeTempDir,
  testNatsUrl,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http, useKey } from './http.testing';
import { startStandalone } from './standalone.testing';

const ADMIN_KEY = 'console-e2e-admin-key-0123';
const MODEL = 'console-a';
const MiB = 1024 * 1024;

/**
 * The web console (`/ui`) of the built standalone app, in Debian's headless Chromium:
 * what a person sees and clicks, asserted through the DOM. The page's own requests go
 * to the app only, and it logs no error (a CSP violation would be one).
 */
describe('web console (/ui) in headless Chromium', () => {
  const dataDir = makeTempDir('console-data');
  const dir = makeTempDir('console-e2e');
  let app: AppProcess;
  let url = '';
  let browser: HeadlessChromium;
  let readKey = '';
  /** Requests the pages sent anywhere but the app, and errors they logged. */
  const elsewhere: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    ({ app, url } = await startStandalone({
      dir,
      dataDir,
      adminKey: ADMIN_KEY,
      // Small, so that a model's segment is a visible share of the bar (and no smaller:
      // the runtime refuses loads past its capacity plus the process's own base, and the
      // standalone process grows as it registers models).
      extraConfig: ['cache:', '  max_memory: 512MiB', '  soft_limit: 75%'],
    }));
    useKey(url, ADMIN_KEY);
    const model = buildMlpModel({
      inputSize: 4,
      hidden: [1024, 1024],
      outputSize: 3,
      seed: 5,
    });
    expect(
      (
        await http(`${url}/admin/models`, {
          json: { id: MODEL, format: 'onnx' },
        })
      ).status,
    ).toBe(201);
    for (let v = 1; v <= 2; v++)
      expect(
        (
          await http(`${url}/admin/models/${MODEL}/versions`, {
            body: model,
          })
        ).status,
      ).toBe(201);
    for (const [alias, version] of [
      ['production', 1],
      ['staging', 2],
    ] as const)
      expect(
        (
          await http(`${url}/admin/models/${MODEL}/aliases/${alias}`, {
            method: 'PUT',
            json: { version },
          })
        ).status,
      ).toBe(200);
    const created = await http<{ key: string }>(`${url}/admin/keys`, {
      json: { name: 'console-reader', scopes: ['read'] },
    });
    readKey = created.body.key;
    browser = await launchChromium();
    // Within jest's timeout, so that a wait that fails says which.
    browser.context.setDefaultTimeout(15_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    for (const d of [dataDir, dir]) rmSync(d, { recursive: true, force: true });
  });

  /** A new tab (its own sessionStorage: no key yet), watched for stray requests and errors. */
  async function openConsole(): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('request', (r) => {
      if (!r.url().startsWith(`${url}/`) && !r.url().startsWith('data:'))
        elsewhere.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${url}/ui`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain(
      "default-src 'none'",
    );
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.fill('#key-form input', key);
    await page.click('#key-form button[type=submit]');
  }

  /** An inline style the page set (through the CSSOM: the CSP allows no style attribute text). */
  const style = (locator: Locator, property: 'left' | 'width') =>
    locator.evaluate(
      (e, p) => (e as unknown as { style: Record<string, string> }).style[p],
      property,
    );

  const row = (page: Page, version: number) =>
    page.locator(`tr[data-model="${MODEL}"][data-version="${version}"]`);

  it('shows memory, models, the timeline and sparklines; an admin loads, unloads and promotes', async () => {
    const page = await openConsole();
    // Auth is on: the page asks for a key before it shows anything.
    await page.waitForSelector('#key-form');
    expect(await page.locator('#memory').count()).toBe(0);
    await signIn(page, ADMIN_KEY);
    const identity = page.locator('.identity[data-scope=admin]');
    await identity.waitFor();
    expect(await identity.textContent()).toBe('admin · key "bootstrap"');

    // The models table: both versions, their aliases, states and statuses.
    await row(page, 2).waitFor();
    expect(await row(page, 1).locator('.alias').allTextContents()).toEqual([
      'production',
    ]);
    expect(await row(page, 2).locator('.alias').allTextContents()).toEqual([
      'staging',
    ]);
    expect(await row(page, 1).getAttribute('data-state')).toBe('unloaded');
    expect(await row(page, 1).locator('td.status').textContent()).toBe('ready');
    expect(await row(page, 1).locator('td.version').textContent()).toContain(
      'default',
    );

    // Load v1 with the table's button: the timeline shows it, with its reason.
    await row(page, 1).locator('button[data-action=load]').click();
    const loaded = page.locator(
      `.timeline li[data-kind=loaded][data-model="${MODEL}"][data-version="1"]`,
    );
    await loaded.waitFor();
    expect(await loaded.getAttribute('data-reason')).toBe('admin');
    expect(await loaded.locator('.reason').textContent()).toBe('admin');

    // The runtime's bar: the model's segment, and the soft and hard limits' marks.
    const segment = page.locator(`.runtime .segment[data-model="${MODEL}"]`);
    await segment.waitFor();
    expect(await segment.getAttribute('data-version')).toBe('1');
    expect(parseFloat(await style(segment, 'width'))).toBeGreaterThan(0);
    const soft = page.locator('.runtime .limit.soft');
    const hard = page.locator('.runtime .limit.hard');
    expect(Number(await soft.getAttribute('data-bytes'))).toBe(384 * MiB);
    expect(Number(await hard.getAttribute('data-bytes'))).toBe(512 * MiB);
    // The bar's full width is the hard limit (nothing is used past it).
    expect(await style(soft, 'left')).toMatch(/%$/);
    expect(parseFloat(await style(soft, 'left'))).toBeCloseTo(75, 2);
    expect(parseFloat(await style(hard, 'left'))).toBeCloseTo(100, 2);
    expect(await page.locator('.runtime .legend').textContent()).toContain(
      `${MODEL} v1`,
    );
    await page.waitForSelector(
      `tr[data-model="${MODEL}"][data-version="1"][data-state=loaded]`,
    );

    // Traffic: the sparklines draw this gateway's predictions and their latency.
    for (let i = 0; i < 10; i++)
      expect(
        (
          await http(`${url}/v1/models/${MODEL}/predict`, {
            json: { inputs: { x: [[5.1, 3.5, 1.4, 0.2]] } },
          })
        ).status,
      ).toBe(200);
    const latency = page.locator('.spark-now[data-metric=latency]');
    // The gateway closes a sample every 5 s and the page reads them every 5 s.
    await eventually(
      'the latency sparkline',
      async () =>
        /ms/.test((await latency.textContent()) ?? '') ? true : null,
      30_000,
    );
    for (const metric of ['predictions', 'latency', 'hit-ratio']) {
      const lines = page.locator(
        `svg.sparkline[data-metric=${metric}] polyline`,
      );
      expect(await lines.count()).toBeGreaterThan(0);
      expect(await lines.first().getAttribute('points')).toMatch(
        /^[\d.]+,[\d.]+( [\d.]+,[\d.]+)+$/,
      );
    }

    // Unload with the button: the timeline shows it, and the status agrees.
    await row(page, 1).locator('button[data-action=unload]').click();
    const unloaded = page.locator(
      `.timeline li[data-kind=unloaded][data-model="${MODEL}"][data-version="1"]`,
    );
    await unloaded.waitFor();
    expect(await unloaded.getAttribute('data-reason')).toBe('admin');
    const status = await http<{
      models: { model_id: string; version: number | null; state: string }[];
    }>(`${url}/v1/models/status`);
    expect(
      status.body.models.filter(
        (m) => m.model_id === MODEL && m.state !== 'unloaded',
      ),
    ).toEqual([]);
    await page.waitForSelector(`.notice.ok`);

    // Promote v2: production moves to it.
    await row(page, 2).locator('button[data-action=promote]').click();
    await page.waitForSelector(
      `tr[data-model="${MODEL}"][data-version="2"] .alias[data-alias=production]`,
    );
    const meta = await http<{ aliases: Record<string, number> }>(
      `${url}/v1/models/${MODEL}/metadata`,
    );
    expect(meta.body.aliases['production']).toBe(2);

    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000); // the root jest configuration's 30 s is tight for the sparklines' samples

  it('shows a read key everything but the controls, which the admin API refuses it anyway', async () => {
    const page = await openConsole();
    await signIn(page, readKey);

    await row(page, 1).waitFor();
    await page.locator('.spark-card').first().waitFor();
    expect(await page.locator('.identity[data-scope=read]').textContent()).toBe(
      'read-only · key "console-reader"',
    );
    // The timeline starts with what the gateway holds: the admin's load and unload.
    await page
      .locator(`.timeline li[data-kind=unloaded][data-model="${MODEL}"]`)
      .waitFor();
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(
      await page.locator('table.models thead th').allTextContents(),
    ).not.toContain('Actions');
    const refused = await http<{ error: { code: string } }>(
      `${url}/admin/models/${MODEL}/load`,
      { json: {}, key: readKey },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');

    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('is served by the distributed gateway app too, from its own build', async () => {
    // The gateway alone: the page and its code need nothing behind it.
    const port = await freePort();
    const gateway = new AppProcess({
      name: 'gateway',
      app: 'gateway',
      env: {
        PORTFOLIO_NATS_URL: testNatsUrl(),
        PORTFOLIO_NATS_SUBJECT_PREFIX: uniqueSubjectPrefix('console'),
        PORTFOLIO_GATEWAY_HOST: '127.0.0.1',
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_GATEWAY_GRPC_PORT: 'off',
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
      },
      readyLine: 'gateway ready',
    });
    await gateway.start();
    try {
      const base = `http://127.0.0.1:${port}`;
      const script = await fetch(`${base}/ui/console.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toBe(
        'application/javascript; charset=utf-8',
      );
      const page = await browser.context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      const res = await page.goto(`${base}/ui`);
      expect(res?.headers()['content-security-policy']).toContain(
        "script-src 'self'",
      );
      // The script ran: it asked the gateway whether a key is needed, and asks for one.
      await page.waitForSelector('#key-form input');
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await gateway.stop();
    }
  });

  it('asks again for a key the server does not know', async () => {
    const page = await openConsole();
    await signIn(page, 'pf_not_a_key_of_this_server');

    await page.waitForSelector('#key-form .error');
    expect(await page.locator('#key-form .error').textContent()).toContain(
      'not valid',
    );
    // The refused key is not kept.
    expect(
      await page.evaluate(
        () =>
          (globalThis as unknown as { sessionStorage: { length: number } })
            .sessionStorage.length,
      ),
    ).toBe(0);
    await page.close();
  });
});
