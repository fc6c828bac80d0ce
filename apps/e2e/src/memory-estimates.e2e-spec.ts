import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Registry } from '@portfolio/contracts';
import { Messaging, NatsBus } from '@portfolio/messaging';
import {
  AppProcess,
  buildMlpModel,
  createTestDatabase,
  freePort,
  makeTempDir,
  testNatsUrl,
  type TestDatabase,
  uniqueSubjectPrefix,
  writeModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http, useKey } from './http.testing';

const ADMIN_KEY = 'memory-admin-key-0123456789';

const MiB = 1024 * 1024;

interface ErrorBody {
  error: { code: string; message: string };
}
interface Measured {
  memory_bytes: number;
  load_ms: number;
  measured_at: string;
}
interface AdminModel {
  model: {
    memory_estimate_bytes: number | null;
    memory_estimate_authoritative: boolean;
  };
  versions: { version: number; measured: Measured | null }[];
}

/**
 * Declared memory estimates that are authoritative, and measurements that outlive the
 * services, through the real gateway, model-registry and storage processes over NATS
 * and PostgreSQL. No cache-manager runs: the test publishes the measurement event the
 * cache-manager publishes after a load, so what the metadata shows can only come from
 * the registry.
 */
describe('memory estimates and measurements', () => {
  const dir = makeTempDir('e2e-memory-estimates');
  writeModel(
    dir,
    'fixed.onnx',
    buildMlpModel({ inputSize: 2, hidden: [4], outputSize: 2, seed: 5 }),
  );
  const configFile = join(dir, 'portfolio.yaml');
  const prefix = uniqueSubjectPrefix('memory');
  let database: TestDatabase;
  let url = '';
  let env: Record<string, string> = {};
  const services: AppProcess[] = [];
  let gateway: AppProcess;
  let bus: NatsBus;
  let messaging: Messaging;

  const writeConfig = (authoritative: boolean) =>
    writeFileSync(
      configFile,
      [
        'models:',
        '  fixed:',
        '    path: ./fixed.onnx',
        '    type: onnx',
        '    memory_estimate: 64MiB',
        `    memory_estimate_authoritative: ${authoritative}`,
        '',
      ].join('\n'),
    );

  const adminModel = (id: string) =>
    http<AdminModel & ErrorBody>(`${url}/admin/models/${id}`);

  beforeAll(async () => {
    database = await createTestDatabase('memory');
    const port = await freePort();
    env = {
      PORTFOLIO_NATS_URL: testNatsUrl(),
      PORTFOLIO_NATS_SUBJECT_PREFIX: prefix,
      PORTFOLIO_DATABASE_URL: database.url,
      PORTFOLIO_STORAGE_LOCAL_ROOT: makeTempDir('e2e-memory-artifacts'),
      PORTFOLIO_DATA_DIR: makeTempDir('e2e-memory-data'),
      PORTFOLIO_GATEWAY_HOST: '127.0.0.1',
      PORTFOLIO_GATEWAY_PORT: String(port),
      PORTFOLIO_LOG_LEVEL: 'info',
      PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
    };
    writeConfig(true);
    gateway = new AppProcess({
      name: 'gateway',
      app: 'gateway',
      args: ['--config', configFile],
      env,
      readyLine: 'gateway ready',
    });
    services.push(
      new AppProcess({
        name: 'model-registry',
        app: 'model-registry',
        env,
        readyLine: 'model-registry ready',
      }),
      new AppProcess({
        name: 'storage',
        app: 'storage',
        env,
        readyLine: 'storage ready',
      }),
      gateway,
    );
    await Promise.all(services.map((s) => s.start()));
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
    bus = await NatsBus.connect({ url: testNatsUrl(), name: 'e2e-memory' });
    messaging = new Messaging(bus, prefix, 10_000);
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    for (const s of services) await s.stop();
    await database?.drop();
  });

  it('registers a configured model with its authoritative estimate', async () => {
    const got = await eventually(
      'the configured model and its version',
      async () => {
        const res = await adminModel('fixed');
        return res.status === 200 && res.body.versions.length === 1
          ? res.body
          : null;
      },
    );
    expect(got.model).toMatchObject({
      memory_estimate_bytes: 64 * MiB,
      memory_estimate_authoritative: true,
    });
    expect(got.versions[0]).toMatchObject({ version: 1, measured: null });
  });

  it('shows the measurement the registry keeps, next to the declared estimate', async () => {
    const measured_at = new Date().toISOString();
    messaging.emit(Registry.versionMeasured, {
      model_id: 'fixed',
      version: 1,
      memory_bytes: 123_456,
      load_ms: 4.5,
      node_id: 'runtime-x',
      measured_at,
    });
    const meta = await eventually(
      'the measurement in the metadata',
      async () => {
        const res = await http<{ memory: { measured_bytes: number | null } }>(
          `${url}/v1/models/fixed/metadata`,
        );
        return res.body.memory.measured_bytes !== null ? res.body : null;
      },
    );
    expect(meta.memory).toEqual({
      declared_bytes: 64 * MiB,
      authoritative: true,
      measured_bytes: 123_456,
      measured_at,
    });
    const version = await http<{ measured: Measured }>(
      `${url}/admin/models/fixed/versions/1`,
    );
    expect(version.body.measured).toEqual({
      memory_bytes: 123_456,
      load_ms: 4.5,
      measured_at,
    });
  });

  it('takes memory_estimate_authoritative in POST /admin/models, only with an estimate', async () => {
    const created = await http(`${url}/admin/models`, {
      json: {
        id: 'declared',
        format: 'onnx',
        memory_estimate: '512MiB',
        memory_estimate_authoritative: true,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      memory_estimate_bytes: 512 * MiB,
      memory_estimate_authoritative: true,
    });

    for (const body of [
      { memory_estimate_authoritative: true },
      { memory_estimate: null, memory_estimate_authoritative: true },
    ]) {
      const refused = await http<ErrorBody>(`${url}/admin/models`, {
        json: { id: 'guessed', format: 'onnx', ...body },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('INVALID_REQUEST');
      expect(refused.body.error.message).toMatch(
        /^memory_estimate_authoritative: .*memory_estimate/,
      );
    }
    const notBoolean = await http<ErrorBody>(`${url}/admin/models`, {
      json: {
        id: 'guessed',
        format: 'onnx',
        memory_estimate: 1024,
        memory_estimate_authoritative: 'yes',
      },
    });
    expect(notBoolean.status).toBe(400);
    expect(notBoolean.body.error.message).toMatch(
      /memory_estimate_authoritative/,
    );
    expect((await adminModel('guessed')).status).toBe(404);

    const plain = await http(`${url}/admin/models`, {
      json: { id: 'plain', format: 'onnx', memory_estimate: 1024 },
    });
    expect(plain.body).toMatchObject({ memory_estimate_authoritative: false });
  });

  it('follows the file when it changes, and keeps the measurement', async () => {
    expect(await gateway.stop()).toBe(0);
    writeConfig(false);
    await gateway.start();
    const got = await eventually(
      'the settings of the changed file',
      async () => {
        const res = await adminModel('fixed');
        return res.status === 200 &&
          !res.body.model.memory_estimate_authoritative
          ? res.body
          : null;
      },
    );
    expect(got.model.memory_estimate_bytes).toBe(64 * MiB);
    expect(got.versions).toEqual([
      expect.objectContaining({
        version: 1,
        measured: expect.objectContaining({ memory_bytes: 123_456 }),
      }),
    ]);
  });
});
