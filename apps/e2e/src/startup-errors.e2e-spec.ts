import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import {
  AppProcess,
  makeTempDir,
  testNatsUrl,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

/** A bad configuration stops start-up with a message naming the key and the file. */
describe('start-up with a bad configuration', () => {
  const dir = makeTempDir('bad-config');

  async function refused(
    app: string,
    args: string[],
    env: Record<string, string>,
  ): Promise<{ code: number | null; logs: string }> {
    const p = new AppProcess({
      name: app,
      app,
      args,
      env,
      readyLine: 'ready',
      startTimeoutMs: 30_000,
    });
    const started = p.start().then(
      () => 'started',
      () => 'refused',
    );
    const code = await p.waitForExit();
    expect(await started).toBe('refused');
    return { code, logs: p.logs() };
  }

  it.each(['gateway', 'portfolio'])(
    '%s refuses an unknown key in the file',
    async (app) => {
      const file = join(dir, `${app}-unknown.yaml`);
      writeFileSync(file, 'cache:\n  max_memroy: 2GB\n');
      const { code, logs } = await refused(app, ['--config', file], {});
      expect(code).toBe(2);
      expect(logs).toContain(file);
      expect(logs).toContain('cache.max_memroy');
    },
  );

  it('refuses a bad size naming the model key', async () => {
    const file = join(dir, 'bad-size.yaml');
    writeFileSync(
      file,
      'models:\n  iris:\n    path: ./nowhere.onnx\n    type: onnx\n    memory_estimate: 2XB\n',
    );
    const { code, logs } = await refused('portfolio', ['--config', file], {});
    expect(code).toBe(2);
    expect(logs).toContain('models.iris.memory_estimate');
  });

  it('refuses an unknown PORTFOLIO_ variable', async () => {
    const { code, logs } = await refused('runtime', [], {
      PORTFOLIO_RUNTIME_NODEID: 'x',
    });
    expect(code).toBe(2);
    expect(logs).toContain('PORTFOLIO_RUNTIME_NODEID');
  });

  it('portfolio refuses a data folder it cannot create, naming it', async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, '');
    const dataDir = join(file, 'data');

    const { code, logs } = await refused('portfolio', [], {
      PORTFOLIO_DATA_DIR: dataDir,
    });

    expect(code).toBe(2);
    expect(logs).toContain(
      `cannot create the data folder (data_dir, PORTFOLIO_DATA_DIR) ${dataDir}: a part of the path is a file, not a folder`,
    );
    expect(logs).not.toContain('Unable to connect to the database');
  });

  it('model-registry refuses to start without a database URL', async () => {
    const { code, logs } = await refused('model-registry', [], {});
    expect(code).toBe(2);
    expect(logs).toContain('PORTFOLIO_DATABASE_URL');
  });

  it('cache-manager refuses a metrics port in use, naming the setting', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const { code, logs } = await refused('cache-manager', [], {
        PORTFOLIO_NATS_URL: testNatsUrl(),
        PORTFOLIO_NATS_SUBJECT_PREFIX: uniqueSubjectPrefix('metrics-port'),
        PORTFOLIO_METRICS_PORT: String(port),
      });

      expect(code).toBe(2);
      expect(logs).toContain(
        `cannot serve metrics on port ${port} (metrics.port, PORTFOLIO_METRICS_PORT): the port is in use`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
