import * as ort from 'onnxruntime-node';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  AppProcess,
  buildMlpModel,
  freePort,
  makeTempDir,
  parsePrometheusText,
  REPO_ROOT,
  writeModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { ErrorBody, http, useKey } from './http.testing';
import {
  expectClose,
  predictionFlow,
  runDirectly,
} from './prediction-flow.testing';

const ADMIN_KEY = 'standalone-admin-key-0123';

/** The `portfolio` app: every service in one process, PGlite, local files. */
describe('standalone Portfolio', () => {
  const dataDir = makeTempDir('standalone-data');
  const modelDir = makeTempDir('standalone-models');
  const configuredPath = writeModel(
    modelDir,
    'configured.onnx',
    buildMlpModel({ inputSize: 2, hidden: [4], outputSize: 2, seed: 3 }),
  );
  const configFile = join(modelDir, 'portfolio.yaml');
  let app: AppProcess;
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    writeFileSync(
      configFile,
      [
        `data_dir: ${dataDir}`,
        'models:',
        '  configured:',
        '    path: ./configured.onnx',
        '    type: onnx',
        '    preload: true',
        '    aliases: [production]',
        'storage:',
        '  import:',
        `    sources: [${pathToFileURL(modelDir).href}]`,
        'gateway:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        `  admin_key: ${ADMIN_KEY}`,
        '',
      ].join('\n'),
    );
    app = new AppProcess({
      name: 'portfolio',
      app: 'portfolio',
      args: ['--config', configFile],
      env: { MALLOC_MMAP_THRESHOLD_: '131072' },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('serves Swagger UI at /docs and the OpenAPI document at /docs/json, without a key', async () => {
    // Plain fetch: no key, as a browser opening the page would.
    const page = await fetch(`${url}/docs`);
    const json = await fetch(`${url}/docs/json`);
    const css = await fetch(`${url}/docs/swagger-ui.css`);
    const doc = (await json.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };

    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('swagger-ui');
    // The page's assets come from the built app's node_modules (swagger-ui-dist).
    expect(css.status).toBe(200);
    expect(json.status).toBe(200);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths['/v1/models/{modelId}/predict'])).toEqual([
      'post',
    ]);
    expect(doc.paths['/v2/models/{name}/infer']['post']).toBeDefined();
  });

  it('prints the URL and a curl line that works as printed', async () => {
    expect(app.logs()).toContain(`Portfolio is running (standalone) at ${url}`);
    expect(app.logs()).toContain(
      `curl -s -H "Authorization: Bearer $PORTFOLIO_API_KEY" ${url}/v1/models/configured/metadata`,
    );
    const health = await http<{ status: string }>(`${url}/v1/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
  });

  it('registered and preloaded the model listed in its configuration', async () => {
    // Ready means registered; the cache-manager preloads in the background after that.
    const configured = await eventually(
      'the configured model loaded',
      async () => {
        const status = await http<{
          models: { model_id: string; version: number; state: string }[];
        }>(`${url}/v1/models/status`);
        const model = status.body.models.find(
          (m) => m.model_id === 'configured',
        );
        return model?.state === 'loaded' ? model : null;
      },
    );
    expect(configured).toMatchObject({ version: 1, state: 'loaded' });
  });

  predictionFlow(() => ({ url, adminKey: ADMIN_KEY }), 'solo');

  it("serves every service's metrics at the gateway's /metrics, once each, and opens no metrics port", async () => {
    await http(`${url}/v1/models/configured/predict`, {
      json: { inputs: { x: [[0.5, 0.5]] } },
    });
    const res = await fetch(`${url}/metrics`, {
      headers: { Authorization: `Bearer ${ADMIN_KEY}` },
    });
    const { types, samples } = parsePrometheusText(await res.text());

    expect(res.status).toBe(200);
    // One of each: the gateway's, the cache-manager's, a runtime's, the registry's,
    // storage's and the bus's, in one registry with no name twice.
    for (const family of [
      'portfolio_http_requests_total',
      'portfolio_model_loads_total',
      'portfolio_runtime_memory_bytes',
      'portfolio_inference_compute_duration_seconds',
      'portfolio_registry_db_duration_seconds',
      'portfolio_storage_upload_bytes_total',
      'portfolio_bus_handler_duration_seconds',
      'portfolio_process_resident_memory_bytes',
    ])
      expect([family, types.has(family)]).toEqual([family, true]);
    const loads = samples.filter(
      (s) =>
        s.name === 'portfolio_model_loads_total' &&
        s.labels['model'] === 'configured',
    );
    expect(loads.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    expect(app.logs()).not.toContain('serving GET /metrics on port');
  });

  it('registers a version by file:// URI from an import source, and collects its artifact once the version is deleted', async () => {
    const created = await http(`${url}/admin/models`, {
      json: { id: 'imported', format: 'onnx' },
    });
    expect(created.status).toBe(201);
    const register = (json: unknown) =>
      http<{ version: number; sha256: string } & ErrorBody>(
        `${url}/admin/models/imported/versions`,
        { json },
      );

    const outside = await register({ uri: 'file:///etc/hostname' });
    expect(outside.status).toBe(400);
    expect(outside.body.error.message).toMatch(/storage\.import\.sources/);
    const wrong = await register({
      uri: pathToFileURL(configuredPath).href,
      sha256: '0'.repeat(64),
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('INVALID_ARTIFACT');

    const res = await register({ uri: pathToFileURL(configuredPath).href });
    expect(res.status).toBe(201);
    expect(res.body.version).toBe(1);
    const predicted = await http(`${url}/v1/models/imported/predict`, {
      json: { inputs: { x: [[1, 2]] } },
    });
    expect(predicted.status).toBe(200);

    const artifact = join(dataDir, 'artifacts', 'imported', res.body.sha256);
    expect(existsSync(artifact)).toBe(true);
    const deleted = await http(
      `${url}/admin/models/imported/versions/1?force=true`,
      { method: 'DELETE' },
    );
    expect(deleted.status).toBe(200);
    const gc = (dry_run: boolean) =>
      http<{
        unreferenced: { listed: { model_id: string }[] };
        deleted: { artifacts: number };
      }>(`${url}/admin/storage/gc`, { json: { dry_run, min_age: '1ms' } });
    const dry = await gc(true);
    expect(dry.status).toBe(200);
    expect(dry.body.unreferenced.listed.map((l) => l.model_id)).toContain(
      'imported',
    );
    expect(existsSync(artifact)).toBe(true);
    const real = await gc(false);
    expect(real.body.deleted.artifacts).toBeGreaterThanOrEqual(1);
    expect(existsSync(artifact)).toBe(false);
    // The configured model's artifact, which a version references, stays.
    const still = await http(`${url}/v1/models/configured/predict`, {
      json: { inputs: { x: [[1, 2]] } },
    });
    expect(still.status).toBe(200);
  });

  it('serves a scoped API key for its scope only, until it is revoked', async () => {
    const created = await http<{ id: string; key: string; scopes: string[] }>(
      `${url}/admin/keys`,
      { json: { name: 'predict-only', scopes: ['predict'] } },
    );
    expect(created.status).toBe(201);
    const key = created.body.key;
    const predict = () =>
      http(`${url}/v1/models/configured/predict`, {
        json: { inputs: { x: [[1, 2]] } },
        key,
      });

    expect((await predict()).status).toBe(200);
    const status = await http<ErrorBody>(`${url}/v1/models/status`, { key });
    expect(status.status).toBe(403);
    expect(status.body.error.code).toBe('FORBIDDEN');
    const listed = await http(`${url}/admin/keys`);
    expect(JSON.stringify(listed.body)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    const revoked = await http(`${url}/admin/keys/${created.body.id}`, {
      method: 'DELETE',
    });
    expect(revoked.status).toBe(200);
    const after = await predict();
    expect(after.status).toBe(401);
  });

  it('keeps what was registered across a restart, registering nothing new', async () => {
    expect(await app.stop()).toBe(0);
    await app.start();
    const meta = await http<{ versions: { version: number }[] }>(
      `${url}/v1/models/configured/metadata`,
    );
    expect(meta.body.versions.map((v) => v.version)).toEqual([1]);
    const solo = await http<{ versions: { version: number }[] }>(
      `${url}/v1/models/solo/metadata`,
    );
    expect(solo.body.versions.map((v) => v.version)).toEqual([1]);

    const rows = [[0.5, -1]];
    const res = await http<{ outputs: { y: number[][] } }>(
      `${url}/v1/models/configured/predict`,
      { json: { inputs: { x: rows } } },
    );
    expect(res.status).toBe(200);
    const direct = await runDirectly(configuredPath, {
      x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [1, 2]),
    });
    expectClose(res.body.outputs.y.flat(), direct['y'].data as Float32Array);
    // The alias the file names was set once, by the configuration, not again at restart.
    expect(
      (await http(`${url}/v1/models/configured/metadata`)).body,
    ).toMatchObject({ aliases: { production: 1 } });
    expect(await configAliasMoves()).toEqual([1]);
  });

  it('registers a changed model file as a new version and moves the alias the file names to it', async () => {
    writeFileSync(
      configuredPath,
      buildMlpModel({ inputSize: 2, hidden: [4], outputSize: 2, seed: 4 }),
    );
    expect(await app.stop()).toBe(0);
    await app.start();

    const meta = await http<{
      versions: { version: number }[];
      aliases: Record<string, number>;
      default_version: number;
    }>(`${url}/v1/models/configured/metadata`);
    expect(meta.body.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(meta.body.aliases).toEqual({ production: 2 });
    expect(meta.body.default_version).toBe(2);
    expect(await configAliasMoves()).toEqual([2, 1]);
  });

  /** The versions the configuration pointed `production` of `configured` at, newest first. */
  async function configAliasMoves(): Promise<number[]> {
    const audit = await http<{
      entries: { action: string; actor: string; version: number }[];
    }>(`${url}/admin/audit?model_id=configured`);
    return audit.body.entries
      .filter((e) => e.action === 'alias.set' && e.actor === 'config')
      .map((e) => e.version);
  }

  it('runs the example iris model from the repository as npm start does', async () => {
    const port = await freePort();
    const iris = new AppProcess({
      name: 'portfolio-iris',
      app: 'portfolio',
      args: ['--config', join(REPO_ROOT, 'portfolio.yaml')],
      env: {
        PORTFOLIO_DATA_DIR: makeTempDir('standalone-iris'),
        PORTFOLIO_GATEWAY_PORT: String(port),
        MALLOC_MMAP_THRESHOLD_: '131072',
      },
      readyLine: 'portfolio ready',
    });
    await iris.start();
    try {
      const line = iris
        .logs()
        .split('\n')
        .find((l) => l.includes('predict: curl'));
      const body = /-d '(.*)'$/.exec(line ?? '')?.[1];
      expect(body).toBeDefined();
      const res = await http<{
        outputs: { label: number[]; probabilities: number[][] };
      }>(`http://127.0.0.1:${port}/v1/models/iris/predict`, {
        json: JSON.parse(body as string),
      });
      expect(res.status).toBe(200);
      // One sample of each species, in order: setosa, versicolor, virginica.
      expect(res.body.outputs.label).toEqual([0, 1, 2]);
    } finally {
      await iris.stop();
    }
  });
});

describe('standalone Portfolio on a data folder that does not exist yet', () => {
  const parent = makeTempDir('standalone-new-data');
  // The artifacts elsewhere: nothing else creates the data folder on the way.
  const dataDir = join(parent, 'not', 'yet', 'data');
  const artifacts = join(parent, 'artifacts');
  let app: AppProcess;

  afterAll(async () => {
    await app?.stop();
  });

  it('creates it with the registry in it, and registers a model there', async () => {
    const port = await freePort();
    app = new AppProcess({
      name: 'portfolio-new-data',
      app: 'portfolio',
      env: {
        PORTFOLIO_DATA_DIR: dataDir,
        PORTFOLIO_STORAGE_LOCAL_ROOT: artifacts,
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
        MALLOC_MMAP_THRESHOLD_: '131072',
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    useKey(`http://127.0.0.1:${port}`, ADMIN_KEY);

    const created = await http(`http://127.0.0.1:${port}/admin/models`, {
      json: { id: 'fresh', format: 'onnx' },
    });

    expect(created.status).toBe(201);
    expect(statSync(join(dataDir, 'registry')).isDirectory()).toBe(true);
    expect(app.logs()).not.toContain('Unable to connect to the database');
  }, 120_000);
});
