import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';

import { PortfolioError, Registry, Signature } from '@portfolio/contracts';
import { InProcessBus, Messaging, MessagingModule } from '@portfolio/messaging';
import { createTestDatabase, makeTempDir } from '@portfolio/testing';

import { RegistryDatabase } from './database/registry-database';
import { ModelRegistryServiceModule } from './model-registry-service.module';

const signature: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
};
const sha = (n: number) => n.toString(16).padStart(64, '0');

async function start(
  database: RegistryDatabase,
): Promise<{ app: INestApplicationContext; m: Messaging }> {
  const bus = new InProcessBus();
  const app = await NestFactory.createApplicationContext(
    {
      module: class RegistryTestApp {},
      imports: [
        MessagingModule.forRoot({
          bus,
          prefix: 'test',
          requestTimeoutMs: 10_000,
        }),
        ModelRegistryServiceModule.forRoot({ database }),
      ],
    },
    { logger: ['error'] },
  );
  await app.init();
  return { app, m: app.get(Messaging) };
}

function version(
  m: Messaging,
  model_id: string,
  n: number,
  extra: { reuse?: boolean } = {},
) {
  return m.call(Registry.createVersion, {
    model_id,
    artifact_uri: `local:${model_id}/${sha(n)}/model.onnx`,
    sha256: sha(n),
    size_bytes: 1000 + n,
    format: 'onnx',
    signature,
    reuse_if_same_sha256: extra.reuse,
  });
}

/** The same behaviour on a PostgreSQL server and on embedded PGlite. */
describe.each([
  [
    'postgres',
    async () => {
      const db = await createTestDatabase('registry');
      return {
        database: { kind: 'postgres', url: db.url } as RegistryDatabase,
        cleanup: db.drop,
      };
    },
  ],
  [
    'pglite',
    async () => {
      const dir = makeTempDir('registry-pglite');
      return {
        database: { kind: 'pglite', dataDir: dir } as RegistryDatabase,
        cleanup: async () => undefined,
      };
    },
  ],
])('model registry on %s', (_kind, provision) => {
  let app: INestApplicationContext;
  let m: Messaging;
  let database: RegistryDatabase;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ database, cleanup } = await provision());
    ({ app, m } = await start(database));
  });
  afterAll(async () => {
    await app?.close();
    await cleanup?.();
  });

  it('registers a model once and refuses the same id again', async () => {
    const first = await m.call(Registry.createModel, {
      id: 'iris',
      format: 'onnx',
      memory_estimate_bytes: 2048,
      labels: { team: 'a' },
    });
    expect(first.created).toBe(true);
    expect(first.model).toMatchObject({
      id: 'iris',
      format: 'onnx',
      memory_estimate_bytes: 2048,
      preload: false,
      labels: { team: 'a' },
    });
    const again = await m
      .call(Registry.createModel, { id: 'iris', format: 'onnx' })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PortfolioError);
    expect(again).toMatchObject({ code: 'MODEL_EXISTS' });
  });

  it('updates settings with if_exists=update, keeping the format', async () => {
    const res = await m.call(Registry.createModel, {
      id: 'iris',
      format: 'onnx',
      preload: true,
      if_exists: 'update',
    });
    expect(res).toMatchObject({
      created: false,
      model: { preload: true, memory_estimate_bytes: 2048 },
    });
    await expect(
      m.call(Registry.createModel, {
        id: 'iris',
        format: 'pytorch',
        if_exists: 'update',
      }),
    ).rejects.toMatchObject({
      code: 'MODEL_EXISTS',
    });
  });

  it('numbers versions in order, also when uploads race', async () => {
    await m.call(Registry.createModel, { id: 'race', format: 'onnx' });
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => version(m, 'race', n)),
    );
    expect(results.map((r) => r.version.version).sort()).toEqual([
      1, 2, 3, 4, 5,
    ]);
    const got = await m.call(Registry.getModel, { id: 'race' });
    expect(got.versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
    expect(got.versions[0]).toMatchObject({
      status: 'ready',
      signature,
      format: 'onnx',
    });
  });

  it('reuses a version with the same bytes only when asked to', async () => {
    await m.call(Registry.createModel, { id: 'dedupe', format: 'onnx' });
    const a = await version(m, 'dedupe', 9, { reuse: true });
    const b = await version(m, 'dedupe', 9, { reuse: true });
    const c = await version(m, 'dedupe', 9);
    expect([a.created, b.created, c.created]).toEqual([true, false, true]);
    expect([a.version.version, b.version.version, c.version.version]).toEqual([
      1, 1, 2,
    ]);
  });

  it('resolves the default (highest ready) and explicit versions', async () => {
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'race' }),
    ).resolves.toMatchObject({ version: { version: 5 } });
    // The racing uploads got their numbers in arrival order: compare with the listing.
    const second = (await m.call(Registry.getModel, { id: 'race' }))
      .versions[1];
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'race', version: 2 }),
    ).resolves.toMatchObject({
      version: {
        version: 2,
        sha256: second.sha256,
        artifact_uri: second.artifact_uri,
      },
    });
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'race', version: 9 }),
    ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'iris' }),
    ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'nope' }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('refuses versions for unknown models and of another format', async () => {
    await expect(version(m, 'ghost', 1)).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
    await m.call(Registry.createModel, { id: 'torchy', format: 'pytorch' });
    await expect(version(m, 'torchy', 1)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(
      (await m.call(Registry.getModel, { id: 'torchy' })).versions,
    ).toEqual([]);
  });

  it('refuses invalid requests before they reach SQL', async () => {
    const bad = await m
      .call(Registry.createModel, {
        id: 'Bad Id; DROP TABLE models',
        format: 'onnx',
      } as never)
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(
      (await m.call(Registry.listModels, {})).models.map((x) => x.id),
    ).toEqual(['dedupe', 'iris', 'race', 'torchy']);
  });

  it('keeps versions immutable in the database itself', async () => {
    const ds = app.get(DataSource);
    await expect(
      ds.query(
        `UPDATE model_versions SET sha256 = $1 WHERE model_id = 'race' AND version = 1`,
        [sha(77)],
      ),
    ).rejects.toThrow(/immutable/);
    await ds.query(
      `UPDATE model_versions SET status = 'failed' WHERE model_id = 'race' AND version = 5`,
    );
    await expect(
      m.call(Registry.resolveVersion, { model_id: 'race' }),
    ).resolves.toMatchObject({ version: { version: 4 } });
  });

  it('keeps everything across a restart and migrates nothing twice', async () => {
    await app.close();
    ({ app, m } = await start(database));
    const got = await m.call(Registry.getModel, { id: 'race' });
    expect(got.versions).toHaveLength(5);
    const migrations = await app
      .get(DataSource)
      .query('SELECT name FROM migrations');
    expect(migrations).toHaveLength(1);
  });
});
