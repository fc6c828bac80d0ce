import { execFile } from 'node:child_process';

import {
  AppProcess,
  buildMlpModel,
  builtApp,
  freePort,
  makeTempDir,
  REPO_ROOT,
  writeModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http } from './http.testing';
import { startStandalone } from './standalone.testing';

const ADMIN_KEY = 'cli-e2e-admin-key-0123';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `portfolio` admin CLI against the built standalone app, as an operator runs it. */
describe('admin CLI (portfolio)', () => {
  const dataDir = makeTempDir('cli-data');
  const modelDir = makeTempDir('cli-models');
  const modelPath = writeModel(
    modelDir,
    'model.onnx',
    buildMlpModel({ inputSize: 2, hidden: [4], outputSize: 2, seed: 11 }),
  );
  let app: AppProcess;
  let url = '';

  /** `node dist/apps/cli/main.js ...args`, with only the CLI's own settings in its environment. */
  function cli(args: string[], env: Record<string, string> = {}) {
    return new Promise<CliResult>((resolve) => {
      execFile(
        process.execPath,
        [builtApp('cli'), ...args],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env['PATH'] ?? '',
            PORTFOLIO_CLI_URL: url,
            PORTFOLIO_CLI_KEY: ADMIN_KEY,
            ...env,
          },
          timeout: 60_000,
        },
        (error, stdout, stderr) =>
          resolve({
            code: error
              ? typeof error.code === 'number'
                ? error.code
                : -1
              : 0,
            stdout,
            stderr,
          }),
      );
    });
  }

  async function ok(args: string[]): Promise<string> {
    const result = await cli(args);
    expect({ args, ...result }).toMatchObject({ code: 0, stderr: '' });
    return result.stdout;
  }

  beforeAll(async () => {
    ({ app, url } = await startStandalone({
      dir: modelDir,
      dataDir,
      adminKey: ADMIN_KEY,
    }));
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('registers a model from a file, lists it and promotes an alias', async () => {
    const first = JSON.parse(
      await ok([
        'models',
        'register',
        'cli-model',
        modelPath,
        '--format',
        'onnx',
        '--alias',
        'production',
        '--json',
      ]),
    );
    expect(first).toMatchObject({
      created: true,
      version: { model_id: 'cli-model', version: 1, status: 'ready' },
      alias: { alias: 'production', version: 1 },
    });
    // Registering again keeps the model (409 MODEL_EXISTS is fine) and adds a version.
    const again = await ok([
      'models',
      'register',
      'cli-model',
      modelPath,
      '--format',
      'onnx',
    ]);
    expect(again).toMatch(/^model cli-model; registered version 2 /);

    const listed = JSON.parse(await ok(['models', 'list', '--json']));
    expect(listed.models.map((m: { id: string }) => m.id)).toContain(
      'cli-model',
    );
    const table = await ok(['models', 'list']);
    expect(table.split('\n')[0]).toMatch(/^ID\s+FORMAT/);
    expect(table).toMatch(/^cli-model\s+onnx\s/m);

    const versions = await ok(['versions', 'list', 'cli-model']);
    expect(versions).toMatch(/^\s*1\s+ready\s/m);
    expect(versions).toMatch(/^\s*2\s+ready\s/m);

    const promoted = JSON.parse(
      await ok(['versions', 'promote', 'cli-model', '2', '--json']),
    );
    expect(promoted).toMatchObject({
      alias: 'production',
      version: 2,
      previous_version: 1,
    });
    const got = JSON.parse(await ok(['models', 'get', 'cli-model', '--json']));
    expect(got.versions).toHaveLength(2);
  });

  it('loads it, shows it in the cache status, and unloads it', async () => {
    const loaded = JSON.parse(
      await ok(['load', 'cli-model', '--version', '2', '--json']),
    );
    expect(loaded).toMatchObject({ model_id: 'cli-model', version: 2 });
    expect(loaded.nodes.length).toBeGreaterThan(0);

    const status = await ok(['cache', 'status']);
    expect(status).toMatch(/^NODE\s+ALIVE\s+USED \/ CAPACITY/m);
    expect(status).toMatch(/^cli-model\s+2\s+loaded\s/m);
    expect(status).toMatch(
      /^\S+\s+yes\s+[\d.]+ (B|KiB|MiB) \/ [\d.]+ [MG]iB\s+[\d.]+%\s+1$/m,
    );

    const unloaded = JSON.parse(await ok(['unload', 'cli-model', '--json']));
    expect(unloaded.unloaded).toEqual([
      expect.objectContaining({ version: 2 }),
    ]);
    await eventually('the model unloaded', async () => {
      const json = JSON.parse(await ok(['cache', 'status', '--json']));
      const entry = json.models.find(
        (m: { model_id: string; state: string }) =>
          m.model_id === 'cli-model' && m.state === 'loaded',
      );
      return entry ? null : true;
    });
  });

  it('creates a key that predicts until it is revoked', async () => {
    const created = await ok([
      'keys',
      'create',
      'cli-e2e',
      '--scopes',
      'predict,read',
    ]);
    const key = /^key:\s+(pf_\S+)$/m.exec(created)?.[1];
    const id = /^id:\s+(\S+)$/m.exec(created)?.[1];
    expect(key).toBeDefined();
    expect(created).toContain('shown this once only');

    const predict = () =>
      http(`${url}/v1/models/cli-model/predict`, {
        json: { inputs: { x: [[1, 2]] } },
        key: key ?? null,
      });
    expect((await predict()).status).toBe(200);

    const keys = await ok(['keys', 'list']);
    expect(keys).toMatch(new RegExp(`^${id}\\s+cli-e2e\\s+pf_`, 'm'));
    expect(keys).not.toContain(key);

    expect(await ok(['keys', 'revoke', id ?? ''])).toContain(
      `revoked key ${id}`,
    );
    expect((await predict()).status).toBe(401);
  });

  it('exits 1 when refused, 3 without a server, 2 on bad usage', async () => {
    const refused = await cli(['models', 'get', 'no-such-model']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error MODEL_NOT_FOUND: .+\n$/);
    expect(refused.stdout).toBe('');

    const unauthorized = await cli(['keys', 'list'], {
      PORTFOLIO_CLI_KEY: 'not-a-valid-key-0000',
    });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toMatch(/^error UNAUTHORIZED: /);

    const dead = await cli([
      'models',
      'list',
      '--url',
      `http://127.0.0.1:${await freePort()}`,
    ]);
    expect(dead.code).toBe(3);
    expect(dead.stderr).toMatch(/ECONNREFUSED/);

    const usage = await cli(['load']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: portfolio load <id>');
  });
});
