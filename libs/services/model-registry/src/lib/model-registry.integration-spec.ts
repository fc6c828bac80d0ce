import { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  ApiKeyChangedEvent,
  ApiKeys,
  PortfolioError,
  Registry,
  Signature,
} from '@portfolio/contracts';
import {
  createBusApp,
  InProcessBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';
import { createTestDatabase, makeTempDir } from '@portfolio/testing';

import {
  RegistryDatabase,
  registryDataSourceOptions,
} from './database/registry-database';
import { REGISTRY_MIGRATIONS } from './migrations';
import { InitialSchema1764201600000 } from './migrations/1764201600000-initial-schema';
import { ModelRegistryServiceModule } from './model-registry-service.module';
import { ModelRegistryService } from './model-registry.service';

const signature: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
};
const sha = (n: number) => n.toString(16).padStart(64, '0');

async function start(
  database: RegistryDatabase,
): Promise<{ app: INestApplicationContext; m: Messaging }> {
  const bus = new InProcessBus();
  const app = await createBusApp(
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

/** Polls `probe` until it returns something other than null; fails after 10 s. */
async function until<T>(
  what: string,
  probe: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still not there`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const provisioners: [
  string,
  () => Promise<{ database: RegistryDatabase; cleanup: () => Promise<void> }>,
][] = [
  [
    'postgres',
    async () => {
      const db = await createTestDatabase('registry');
      return {
        database: { kind: 'postgres', url: db.url },
        cleanup: db.drop,
      };
    },
  ],
  [
    'pglite',
    async () => ({
      database: { kind: 'pglite', dataDir: makeTempDir('registry-pglite') },
      cleanup: async () => undefined,
    }),
  ],
];

/** The same behaviour on a PostgreSQL server and on embedded PGlite. */
describe.each(provisioners)('model registry on %s', (_kind, provision) => {
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

  it('marks a declared estimate authoritative only where there is one', async () => {
    const fixed = await m.call(Registry.createModel, {
      id: 'fixed',
      format: 'onnx',
      memory_estimate_bytes: 4096,
      memory_estimate_authoritative: true,
    });
    expect(fixed.model).toMatchObject({
      memory_estimate_bytes: 4096,
      memory_estimate_authoritative: true,
    });
    expect(
      (await m.call(Registry.getModel, { id: 'dedupe' })).model,
    ).toMatchObject({ memory_estimate_authoritative: false });

    const refused = await m
      .call(Registry.createModel, {
        id: 'guess',
        format: 'onnx',
        memory_estimate_authoritative: true,
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/^memory_estimate_authoritative: /),
    });
    await expect(
      m.call(Registry.getModel, { id: 'guess' }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('checks the rule on the settings an update leaves', async () => {
    // iris keeps the 2048 bytes it was registered with: that estimate can become authoritative.
    await expect(
      m.call(Registry.createModel, {
        id: 'iris',
        format: 'onnx',
        memory_estimate_authoritative: true,
        if_exists: 'update',
      }),
    ).resolves.toMatchObject({
      model: {
        memory_estimate_bytes: 2048,
        memory_estimate_authoritative: true,
      },
    });
    await expect(
      m.call(Registry.createModel, {
        id: 'iris',
        format: 'onnx',
        memory_estimate_bytes: null,
        preload: false,
        if_exists: 'update',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(
      (await m.call(Registry.getModel, { id: 'iris' })).model,
    ).toMatchObject({
      memory_estimate_bytes: 2048,
      memory_estimate_authoritative: true,
      preload: true,
    });
    await expect(
      m.call(Registry.createModel, {
        id: 'iris',
        format: 'onnx',
        memory_estimate_bytes: null,
        memory_estimate_authoritative: false,
        if_exists: 'update',
      }),
    ).resolves.toMatchObject({
      model: {
        memory_estimate_bytes: null,
        memory_estimate_authoritative: false,
      },
    });
    // The database holds the rule whatever path writes.
    await expect(
      app
        .get(DataSource)
        .query(
          `UPDATE models SET memory_estimate_bytes = NULL WHERE id = 'fixed'`,
        ),
    ).rejects.toThrow(/models_authoritative_estimate_declared/);
  });

  it('keeps the latest measurement of a version from the event', async () => {
    expect(
      (await m.call(Registry.resolveVersion, { model_id: 'dedupe' })).version
        .measured,
    ).toBeNull();
    m.emit(Registry.versionMeasured, {
      model_id: 'dedupe',
      version: 2,
      memory_bytes: 900_000,
      load_ms: 12.5,
      node_id: 'runtime-1',
      measured_at: '2026-03-01T10:00:00.000Z',
    });
    const first = await until('the first measurement', async () => {
      const { version } = await m.call(Registry.resolveVersion, {
        model_id: 'dedupe',
      });
      return version.measured ?? null;
    });
    expect(first).toEqual({
      memory_bytes: 900_000,
      load_ms: 12.5,
      measured_at: '2026-03-01T10:00:00.000Z',
    });

    // Smaller but newer wins (the current engine); older loses, whatever its size.
    m.emit(Registry.versionMeasured, {
      model_id: 'dedupe',
      version: 2,
      memory_bytes: 700_000,
      load_ms: 8,
      node_id: 'runtime-2',
      measured_at: '2026-03-01T11:00:00.000Z',
    });
    await until('the newer measurement', async () => {
      const { version } = await m.call(Registry.resolveVersion, {
        model_id: 'dedupe',
        version: 2,
      });
      return version.measured?.memory_bytes === 700_000 ? true : null;
    });
    const service = app.get(ModelRegistryService);
    await expect(
      service.recordMeasurement({
        model_id: 'dedupe',
        version: 2,
        memory_bytes: 5_000_000,
        load_ms: 30,
        node_id: 'runtime-3',
        measured_at: '2026-03-01T09:00:00.000Z',
      }),
    ).resolves.toBe(false);
    const got = await m.call(Registry.getModel, { id: 'dedupe' });
    expect(got.versions.map((v) => v.measured ?? null)).toEqual([
      null,
      {
        memory_bytes: 700_000,
        load_ms: 8,
        measured_at: '2026-03-01T11:00:00.000Z',
      },
    ]);
    const [row] = await app
      .get(DataSource)
      .query(
        `SELECT node_id FROM version_measurements WHERE model_id = 'dedupe'`,
      );
    expect(row).toEqual({ node_id: 'runtime-2' });

    // Without a time, the registry's clock stamps it (now is later than 2026-03-01).
    await expect(
      service.recordMeasurement({
        model_id: 'dedupe',
        version: 1,
        memory_bytes: 650_000,
        load_ms: 7,
        node_id: 'runtime-1',
      }),
    ).resolves.toBe(true);
    const v1 = await m.call(Registry.resolveVersion, {
      model_id: 'dedupe',
      version: 1,
    });
    expect(v1.version.measured?.memory_bytes).toBe(650_000);
    // A version reused by sha256 (the highest with those bytes) comes back with its measurement.
    const reused = await version(m, 'dedupe', 9, { reuse: true });
    expect(reused).toMatchObject({
      created: false,
      version: { version: 2, measured: { memory_bytes: 700_000 } },
    });
  });

  it('refuses a measurement of a version that does not exist, storing nothing', async () => {
    const service = app.get(ModelRegistryService);
    const measurement = {
      version: 7,
      memory_bytes: 1,
      load_ms: 1,
      node_id: 'runtime-1',
    };
    await expect(
      service.recordMeasurement({ model_id: 'dedupe', ...measurement }),
    ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    await expect(
      service.recordMeasurement({ model_id: 'ghost', ...measurement }),
    ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    // Over the bus, the same event is logged and dropped; the registry keeps handling events.
    m.emit(Registry.versionMeasured, { model_id: 'ghost', ...measurement });
    m.emit(Registry.versionMeasured, {
      ...measurement,
      model_id: 'dedupe',
      version: 1,
      memory_bytes: 640_000,
    });
    await until('the measurement after the refused one', async () => {
      const { version } = await m.call(Registry.resolveVersion, {
        model_id: 'dedupe',
        version: 1,
      });
      return version.measured?.memory_bytes === 640_000 ? true : null;
    });
    const rows = await app
      .get(DataSource)
      .query(
        `SELECT model_id, version FROM version_measurements ORDER BY model_id, version`,
      );
    expect(rows).toEqual([
      { model_id: 'dedupe', version: 1 },
      { model_id: 'dedupe', version: 2 },
    ]);
  });

  it('keeps per-model engine settings, lists them as it reads them, and refuses ONNX Runtime settings for other formats', async () => {
    const engine = { threads: 2, graph_optimization: 'basic' as const };
    const created = await m.call(Registry.createModel, {
      id: 'tuned',
      format: 'onnx',
      engine,
    });
    expect(created.model.engine).toEqual(engine);
    const listed = await m.call(Registry.listModels, {
      limit: 1,
      after: 'tune',
    });
    expect(listed.models[0]).toEqual(
      (await m.call(Registry.getModel, { id: 'tuned' })).model,
    );
    const cleared = await m.call(Registry.updateModel, {
      id: 'tuned',
      engine: null,
    });
    expect(cleared.changed).toEqual(['engine']);
    expect(cleared.model.engine).toBeNull();

    await m.call(Registry.createModel, { id: 'tuned-sk', format: 'sklearn' });
    await expect(
      m.call(Registry.updateModel, {
        id: 'tuned-sk',
        engine: { memory_arena: false },
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(
        /^engine\.memory_arena applies to models that run on ONNX Runtime/,
      ),
    });
    expect(
      (await m.call(Registry.getModel, { id: 'tuned-sk' })).model.engine,
    ).toBeNull();
  });

  it('keeps per-model batching settings, lists them as it reads them, and refuses values out of range', async () => {
    const created = await m.call(Registry.createModel, {
      id: 'batched',
      format: 'onnx',
      max_batch_size: 8,
      max_queue_delay_ms: 2.5,
    });
    expect(created.model).toMatchObject({
      max_batch_size: 8,
      max_queue_delay_ms: 2.5,
    });
    const listed = await m.call(Registry.listModels, {
      limit: 1,
      after: 'batche',
    });
    expect(listed.models[0]).toEqual(
      (await m.call(Registry.getModel, { id: 'batched' })).model,
    );

    const cleared = await m.call(Registry.updateModel, {
      id: 'batched',
      max_batch_size: null,
      max_queue_delay_ms: 0,
    });
    expect(cleared.changed.sort()).toEqual([
      'max_batch_size',
      'max_queue_delay_ms',
    ]);
    expect(cleared.model).toMatchObject({
      max_batch_size: null,
      max_queue_delay_ms: 0,
    });
    for (const bad of [{ max_batch_size: 0 }, { max_queue_delay_ms: -1 }])
      await expect(
        m.call(Registry.updateModel, { id: 'batched', ...bad }),
      ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('updates the settings given, says which changed, and logs it; null clears', async () => {
    await m.call(Registry.createModel, {
      id: 'patched',
      format: 'onnx',
      description: 'before',
      ttl_ms: 60_000,
    });

    const res = await m.call(Registry.updateModel, {
      id: 'patched',
      description: 'after',
      pinned: true,
      ttl_ms: null,
      labels: { team: 'red' },
      actor: 'ops',
    });
    const again = await m.call(Registry.updateModel, {
      id: 'patched',
      pinned: true,
    });

    expect(res.model).toMatchObject({
      description: 'after',
      pinned: true,
      ttl_ms: null,
      labels: { team: 'red' },
      format: 'onnx',
    });
    expect(res.changed.sort()).toEqual(
      ['description', 'labels', 'pinned', 'ttl_ms'].sort(),
    );
    expect(again.changed).toEqual([]);
    const log = await m.call(Registry.listAudit, {
      limit: 10,
      model_id: 'patched',
    });
    expect(log.entries.map((e) => e.action)).toEqual([
      'model.update',
      'model.create',
    ]);
    expect(log.entries[0]).toMatchObject({ actor: 'ops' });
    expect((log.entries[0].details['changed'] as string[]).sort()).toEqual(
      ['description', 'labels', 'pinned', 'ttl_ms'].sort(),
    );
    await expect(
      m.call(Registry.updateModel, { id: 'ghost', pinned: true }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await expect(
      m.call(Registry.updateModel, {
        id: 'patched',
        memory_estimate_authoritative: true,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('lists models a page at a time, in id order, filtered by labels in the database', async () => {
    for (const [id, team] of [
      ['page-a', 'red'],
      ['page-b', 'blue'],
      ['page-c', 'red'],
      ['page-d', 'red'],
    ])
      await m.call(Registry.createModel, {
        id,
        format: 'onnx',
        labels: { suite: 'paging', team },
      });
    const red = { suite: 'paging', team: 'red' };

    const first = await m.call(Registry.listModels, { limit: 2, labels: red });
    const second = await m.call(Registry.listModels, {
      limit: 2,
      labels: red,
      after: first.next ?? undefined,
    });
    const all = await m.call(Registry.listModels, {
      labels: { suite: 'paging' },
    });

    expect(first.models.map((x) => x.id)).toEqual(['page-a', 'page-c']);
    expect(first.next).toBe('page-c');
    expect(second.models.map((x) => x.id)).toEqual(['page-d']);
    expect(second.next).toBeNull();
    expect(all.models.map((x) => x.id)).toEqual([
      'page-a',
      'page-b',
      'page-c',
      'page-d',
    ]);
    await expect(
      m.call(Registry.listModels, { limit: 0 }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('lists each model with the record getModel gives, whatever its settings', async () => {
    await m.call(Registry.createModel, {
      id: 'records-full',
      format: 'onnx',
      description: 'quotes " \' \\ ünïcödé ✓\nand a second line',
      memory_estimate_bytes: 2 ** 40 + 3,
      memory_estimate_authoritative: true,
      preload: true,
      pinned: true,
      ttl_ms: 90_000,
      labels: { suite: 'records', 'team.name': 'x y', empty: '' },
    });
    await m.call(Registry.createModel, {
      id: 'records-bare',
      format: 'sklearn',
      labels: { suite: 'records' },
    });
    // A changed model: updated_at moves on, created_at stays.
    await m.call(Registry.updateModel, {
      id: 'records-bare',
      description: 'changed',
    });
    const got = await Promise.all(
      ['records-bare', 'records-full'].map(
        async (id) => (await m.call(Registry.getModel, { id })).model,
      ),
    );

    const listed = await m.call(Registry.listModels, {
      labels: { suite: 'records' },
    });
    expect(listed.models).toEqual(got);
    // At the service itself (no bus schema in between): the same keys, nothing more.
    const registry = app.get(ModelRegistryService);
    const first = await registry.listModels({
      labels: { suite: 'records' },
      limit: 1,
    });
    expect(first).toStrictEqual({ models: [got[0]], next: 'records-bare' });
    await expect(
      registry.listModels({
        labels: { suite: 'records' },
        limit: 1,
        after: 'records-bare',
      }),
    ).resolves.toStrictEqual({ models: [got[1]], next: null });
    await expect(
      registry.listModels({ labels: { suite: 'records', empty: 'no' } }),
    ).resolves.toStrictEqual({ models: [], next: null });
  });

  describe('aliases', () => {
    const resolved = (req: { alias?: string; version?: number }) =>
      m
        .call(Registry.resolveVersion, { model_id: 'aliased', ...req })
        .then((r) => r.version.version);

    beforeAll(async () => {
      await m.call(Registry.createModel, { id: 'aliased', format: 'onnx' });
      for (const n of [1, 2, 3]) await version(m, 'aliased', 100 + n);
    });

    it('points an alias at a version, moves it, and says where it was, announcing each change', async () => {
      const events: unknown[] = [];
      const sub = m.on(Registry.modelChanged, (e) => {
        events.push(e);
      });
      try {
        const first = await m.call(Registry.setAlias, {
          model_id: 'aliased',
          alias: 'staging',
          version: 2,
          actor: 'ci-key',
        });
        const moved = await m.call(Registry.setAlias, {
          model_id: 'aliased',
          alias: 'staging',
          version: 3,
        });

        expect(first.alias).toMatchObject({
          alias: 'staging',
          version: 2,
          previous_version: null,
          updated_by: 'ci-key',
        });
        expect(moved.alias).toMatchObject({ version: 3, previous_version: 2 });
        expect(await resolved({ alias: 'staging' })).toBe(3);
        await until('both events', async () =>
          events.length >= 2 ? events : null,
        );
        expect(events).toEqual([
          {
            model_id: 'aliased',
            change: 'alias_set',
            alias: 'staging',
            version: 2,
          },
          {
            model_id: 'aliased',
            change: 'alias_set',
            alias: 'staging',
            version: 3,
          },
        ]);
      } finally {
        sub.unsubscribe();
      }
    });

    it('resolves the default to production while it is set, else to the highest ready version', async () => {
      expect(await resolved({})).toBe(3);
      await m.call(Registry.setAlias, {
        model_id: 'aliased',
        alias: 'production',
        version: 1,
      });
      expect(await resolved({})).toBe(1);
      expect(await resolved({ version: 2 })).toBe(2);
      const model = await m.call(Registry.getModel, { id: 'aliased' });
      expect(model.aliases).toEqual({ production: 1, staging: 3 });

      const deleted = await m.call(Registry.deleteAlias, {
        model_id: 'aliased',
        alias: 'production',
      });
      expect(deleted).toEqual({
        model_id: 'aliased',
        alias: 'production',
        version: 1,
      });
      expect(await resolved({})).toBe(3);
      await expect(
        m.call(Registry.resolveVersion, {
          model_id: 'aliased',
          alias: 'production',
        }),
      ).rejects.toMatchObject({
        code: 'ALIAS_NOT_FOUND',
        message: 'model "aliased" has no alias "production"',
      });
    });

    it('refuses what does not exist or is malformed, changing nothing', async () => {
      const before = (await m.call(Registry.getModel, { id: 'aliased' }))
        .aliases;
      await expect(
        m.call(Registry.setAlias, {
          model_id: 'aliased',
          alias: 'canary',
          version: 9,
        }),
      ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
      await expect(
        m.call(Registry.setAlias, {
          model_id: 'ghost',
          alias: 'canary',
          version: 1,
        }),
      ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
      await expect(
        m.call(Registry.setAlias, {
          model_id: 'aliased',
          alias: 'Bad Name',
          version: 1,
        }),
      ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
      await expect(
        m.call(Registry.deleteAlias, { model_id: 'aliased', alias: 'canary' }),
      ).rejects.toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      // A name an Object has a property of is still only a name (found by the fuzz).
      await expect(
        m.call(Registry.resolveVersion, {
          model_id: 'aliased',
          alias: 'constructor',
        }),
      ).rejects.toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      await expect(
        m.call(Registry.resolveVersion, {
          model_id: 'aliased',
          alias: 'staging',
          version: 1,
        }),
      ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
      expect(
        (await m.call(Registry.getModel, { id: 'aliased' })).aliases,
      ).toEqual(before);
    });

    it('keeps an audit log of the changes, newest first, with who made them, a page at a time', async () => {
      const log = await m.call(Registry.listAudit, {
        limit: 100,
        model_id: 'aliased',
      });
      expect(
        log.entries.map((e) => [
          e.action,
          e.version,
          e.details['alias'] ?? null,
        ]),
      ).toEqual([
        ['alias.delete', 1, 'production'],
        ['alias.set', 1, 'production'],
        ['alias.set', 3, 'staging'],
        ['alias.set', 2, 'staging'],
        ['version.create', 3, null],
        ['version.create', 2, null],
        ['version.create', 1, null],
        ['model.create', null, null],
      ]);
      expect(log.entries[3]).toMatchObject({
        actor: 'ci-key',
        model_id: 'aliased',
        details: { alias: 'staging', previous_version: null },
      });
      expect(log.next).toBeNull();

      const first = await m.call(Registry.listAudit, {
        limit: 3,
        model_id: 'aliased',
      });
      const rest = await m.call(Registry.listAudit, {
        limit: 100,
        model_id: 'aliased',
        before: first.next ?? undefined,
      });
      expect([...first.entries, ...rest.entries]).toEqual(log.entries);
    });

    it('keeps a version an alias points at in the database itself', async () => {
      const ds = app.get(DataSource);
      await expect(
        ds.query(
          `DELETE FROM model_versions WHERE model_id = 'aliased' AND version = 3`,
        ),
      ).rejects.toThrow();
      expect(await resolved({ alias: 'staging' })).toBe(3);
    });
  });

  describe('deleting and deprecating', () => {
    const resolved = (model_id: string, req: { version?: number } = {}) =>
      m
        .call(Registry.resolveVersion, { model_id, ...req })
        .then((r) => r.version);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );

    it('deprecates a ready version: no longer the default, never an alias target, still served by number', async () => {
      await m.call(Registry.createModel, { id: 'deprecating', format: 'onnx' });
      for (const n of [1, 2]) await version(m, 'deprecating', 200 + n);

      const res = await m.call(Registry.updateVersion, {
        model_id: 'deprecating',
        version: 2,
        status: 'deprecated',
        actor: 'ops',
      });
      expect(res).toMatchObject({
        changed: true,
        version: { version: 2, status: 'deprecated' },
      });
      expect((await resolved('deprecating')).version).toBe(1);
      expect((await resolved('deprecating', { version: 2 })).status).toBe(
        'deprecated',
      );
      expect(
        await code(
          m.call(Registry.setAlias, {
            model_id: 'deprecating',
            alias: 'production',
            version: 2,
          }),
        ),
      ).toBe('INVALID_REQUEST');
      // Once more: nothing to write.
      const again = await m.call(Registry.updateVersion, {
        model_id: 'deprecating',
        version: 2,
        status: 'deprecated',
      });
      expect(again.changed).toBe(false);

      const restored = await m.call(Registry.updateVersion, {
        model_id: 'deprecating',
        version: 2,
        status: 'ready',
      });
      expect(restored.version.status).toBe('ready');
      expect((await resolved('deprecating')).version).toBe(2);
      const log = await m.call(Registry.listAudit, {
        limit: 10,
        model_id: 'deprecating',
      });
      expect(
        log.entries
          .filter((e) => e.action === 'version.update')
          .map((e) => [e.actor, e.details['status']]),
      ).toEqual([
        [null, 'ready'],
        ['ops', 'deprecated'],
      ]);
    });

    it('refuses to deprecate a version an alias points at, or one that does not exist', async () => {
      await m.call(Registry.setAlias, {
        model_id: 'deprecating',
        alias: 'production',
        version: 1,
      });
      const refused = m.call(Registry.updateVersion, {
        model_id: 'deprecating',
        version: 1,
        status: 'deprecated',
      });
      await expect(refused).rejects.toMatchObject({
        code: 'VERSION_IN_USE',
        details: { aliases: ['production'] },
      });
      await expect(refused).rejects.toThrow(/alias "production" points/);
      expect(
        await code(
          m.call(Registry.updateVersion, {
            model_id: 'deprecating',
            version: 9,
            status: 'deprecated',
          }),
        ),
      ).toBe('VERSION_NOT_FOUND');
      expect((await resolved('deprecating', { version: 1 })).status).toBe(
        'ready',
      );
    });

    it('deletes a version, refusing while an alias points at it unless forced, and never reuses its number', async () => {
      await m.call(Registry.createModel, { id: 'deleting', format: 'onnx' });
      for (const n of [1, 2, 3]) await version(m, 'deleting', 300 + n);
      await m.call(Registry.setAlias, {
        model_id: 'deleting',
        alias: 'staging',
        version: 3,
      });
      const events: unknown[] = [];
      const sub = m.on(Registry.modelChanged, (e) => {
        if (e.model_id === 'deleting') events.push(e);
      });
      try {
        await expect(
          m.call(Registry.deleteVersion, { model_id: 'deleting', version: 3 }),
        ).rejects.toMatchObject({ code: 'VERSION_IN_USE' });
        expect((await resolved('deleting', { version: 3 })).version).toBe(3);

        const forced = await m.call(Registry.deleteVersion, {
          model_id: 'deleting',
          version: 3,
          force: true,
          actor: 'ops',
        });
        expect(forced).toMatchObject({
          version: { version: 3, sha256: sha(303) },
          aliases_deleted: ['staging'],
        });
        expect(await code(resolved('deleting', { version: 3 }))).toBe(
          'VERSION_NOT_FOUND',
        );
        expect(
          await code(
            m.call(Registry.resolveVersion, {
              model_id: 'deleting',
              alias: 'staging',
            }),
          ),
        ).toBe('ALIAS_NOT_FOUND');
        await m.call(Registry.deleteVersion, {
          model_id: 'deleting',
          version: 1,
        });
        // The highest number was deleted: the next upload still gets a new one.
        const next = await version(m, 'deleting', 304);
        expect(next.version.version).toBe(4);
        const { versions } = await m.call(Registry.getModel, {
          id: 'deleting',
        });
        expect(versions.map((v) => v.version)).toEqual([2, 4]);
        expect(
          await code(
            m.call(Registry.deleteVersion, {
              model_id: 'deleting',
              version: 3,
            }),
          ),
        ).toBe('VERSION_NOT_FOUND');
        await until('the deletions announced', async () =>
          events.length >= 3 ? events : null,
        );
        expect(events).toContainEqual({
          model_id: 'deleting',
          change: 'version_deleted',
          version: 3,
        });
        const log = await m.call(Registry.listAudit, {
          limit: 10,
          model_id: 'deleting',
        });
        expect(
          log.entries.find((e) => e.action === 'version.delete'),
        ).toMatchObject({
          version: 1,
          details: { sha256: sha(301), aliases_deleted: [] },
        });
      } finally {
        sub.unsubscribe();
      }
    });

    it('records who registered each version', async () => {
      await m.call(Registry.createModel, { id: 'authored', format: 'onnx' });
      const anonymous = await version(m, 'authored', 601);
      const byKey = await m.call(Registry.createVersion, {
        model_id: 'authored',
        artifact_uri: `local:authored/${sha(602)}/model.onnx`,
        sha256: sha(602),
        size_bytes: 1602,
        format: 'onnx',
        signature,
        actor: 'release-bot',
      });

      expect(anonymous.version.created_by).toBeNull();
      expect(byKey.version.created_by).toBe('release-bot');
      const { versions } = await m.call(Registry.getModel, { id: 'authored' });
      expect(versions.map((v) => v.created_by)).toEqual([null, 'release-bot']);
    });

    it('says which stored artifacts a version still references, for garbage collection', async () => {
      await m.call(Registry.createModel, { id: 'collected', format: 'onnx' });
      await version(m, 'collected', 501);
      await version(m, 'collected', 502);
      await m.call(Registry.deleteVersion, {
        model_id: 'collected',
        version: 2,
      });

      const res = await m.call(Registry.referencedArtifacts, {
        artifacts: [
          { model_id: 'collected', sha256: sha(501) },
          { model_id: 'collected', sha256: sha(502) },
          // The same bytes under another model are another artifact.
          { model_id: 'aliased', sha256: sha(501) },
          { model_id: 'nobody', sha256: sha(503) },
        ],
      });

      expect(res.referenced).toEqual([
        { model_id: 'collected', sha256: sha(501) },
      ]);
      expect(
        await m.call(Registry.referencedArtifacts, { artifacts: [] }),
      ).toEqual({ referenced: [] });
    });

    it('deletes a model with its versions, aliases and measurements; the id can be registered again', async () => {
      await m.call(Registry.createModel, { id: 'doomed', format: 'onnx' });
      for (const n of [1, 2]) await version(m, 'doomed', 400 + n);
      await m.call(Registry.setAlias, {
        model_id: 'doomed',
        alias: 'production',
        version: 2,
      });
      const deleted = await m.call(Registry.deleteModel, {
        id: 'doomed',
        actor: 'ops',
      });
      expect(deleted).toMatchObject({
        model: { id: 'doomed' },
        versions: [1, 2],
        aliases: { production: 2 },
      });
      expect(await code(m.call(Registry.getModel, { id: 'doomed' }))).toBe(
        'MODEL_NOT_FOUND',
      );
      expect(await code(m.call(Registry.deleteModel, { id: 'doomed' }))).toBe(
        'MODEL_NOT_FOUND',
      );
      const ds = app.get(DataSource);
      const left: unknown[] = await ds.query(
        `SELECT 1 FROM model_versions WHERE model_id = 'doomed'
         UNION ALL SELECT 1 FROM model_aliases WHERE model_id = 'doomed'`,
      );
      expect(left).toEqual([]);
      // Its history stays in the audit log.
      const log = await m.call(Registry.listAudit, {
        limit: 10,
        model_id: 'doomed',
      });
      expect(log.entries[0]).toMatchObject({
        action: 'model.delete',
        actor: 'ops',
        details: { versions: [1, 2] },
      });
      await m.call(Registry.createModel, { id: 'doomed', format: 'onnx' });
      expect((await version(m, 'doomed', 403)).version.version).toBe(1);
    });
  });

  describe('API keys', () => {
    const hash = (n: number) => (0xa000 + n).toString(16).padStart(64, '0');

    it('creates a key from its hash, finds it by the hash, and lists it', async () => {
      const events: ApiKeyChangedEvent[] = [];
      const sub = m.on(ApiKeys.changed, (e) => {
        events.push(e);
      });
      const { key } = await m.call(ApiKeys.create, {
        name: 'ci',
        prefix: 'pf_abcd',
        key_sha256: hash(1),
        scopes: ['predict', 'read', 'predict'],
        rate_limit: { requests_per_second: 5, burst: 10 },
        created_by: 'bootstrap',
      });

      expect(key).toMatchObject({
        name: 'ci',
        prefix: 'pf_abcd',
        scopes: ['predict', 'read'],
        rate_limit: { requests_per_second: 5, burst: 10 },
        created_by: 'bootstrap',
        revoked_at: null,
      });
      expect(JSON.stringify(key)).not.toContain(hash(1));
      expect(
        (await m.call(ApiKeys.lookup, { key_sha256: hash(1) })).key,
      ).toEqual(key);
      expect(
        (await m.call(ApiKeys.lookup, { key_sha256: hash(2) })).key,
      ).toBeNull();
      expect((await m.call(ApiKeys.list, {})).keys).toContainEqual(key);
      await until('the created event', async () =>
        events.length ? true : null,
      );
      expect(events).toEqual([
        { id: key.id, key_sha256: hash(1), change: 'created' },
      ]);
      sub.unsubscribe();
    });

    it('revokes a key: lookups stop finding it, the listing keeps it with revoked_at', async () => {
      const { key } = await m.call(ApiKeys.create, {
        name: 'temp',
        prefix: 'pf_temp',
        key_sha256: hash(3),
        scopes: ['admin'],
      });

      const revoked = await m.call(ApiKeys.revoke, { id: key.id });
      const again = await m.call(ApiKeys.revoke, { id: key.id });

      expect(revoked.key.revoked_at).not.toBeNull();
      expect(again.key.revoked_at).toBe(revoked.key.revoked_at);
      expect(
        (await m.call(ApiKeys.lookup, { key_sha256: hash(3) })).key,
      ).toBeNull();
      expect(
        (await m.call(ApiKeys.list, {})).keys.find((k) => k.id === key.id)
          ?.revoked_at,
      ).toBe(revoked.key.revoked_at);
    });

    it('answers KEY_NOT_FOUND for an unknown id and refuses a hash already used, changing nothing', async () => {
      const before = (await m.call(ApiKeys.list, {})).keys;

      const unknown = await m
        .call(ApiKeys.revoke, { id: '00000000-0000-4000-8000-000000000000' })
        .catch((e: unknown) => e);
      const duplicate = await m
        .call(ApiKeys.create, {
          name: 'dup',
          prefix: 'pf_dup',
          key_sha256: hash(1),
          scopes: ['read'],
        })
        .catch((e: unknown) => e);

      expect(unknown).toBeInstanceOf(PortfolioError);
      expect((unknown as PortfolioError).code).toBe('KEY_NOT_FOUND');
      expect((duplicate as PortfolioError).code).toBe('INVALID_REQUEST');
      expect((await m.call(ApiKeys.list, {})).keys).toEqual(before);
    });

    it('logs key creations and revocations, and a second revocation not again', async () => {
      const log = await m.call(Registry.listAudit, { limit: 1000 });
      const keyEntries = log.entries.filter((e) => e.action.startsWith('key.'));
      const revoked = keyEntries.filter((e) => e.action === 'key.revoke');
      expect(keyEntries.some((e) => e.action === 'key.create')).toBe(true);
      expect(revoked.length).toBeGreaterThan(0);
      const ids = revoked.map((e) => e.details['key_id']);
      expect(new Set(ids).size).toBe(ids.length);
      for (const e of keyEntries) expect(e.model_id).toBeNull();
    });

    it('refuses a scope it does not know at the bus, before the database', async () => {
      const e = await m
        .call(ApiKeys.create, {
          name: 'bad',
          prefix: 'pf_bad',
          key_sha256: hash(4),
          scopes: ['root' as 'admin'],
        })
        .catch((err: unknown) => err);

      expect((e as PortfolioError).code).toBe('INVALID_REQUEST');
    });
  });

  it('keeps everything across a restart and migrates nothing twice', async () => {
    await app.close();
    ({ app, m } = await start(database));
    const got = await m.call(Registry.getModel, { id: 'race' });
    expect(got.versions).toHaveLength(5);
    const migrations = await app
      .get(DataSource)
      .query('SELECT name FROM migrations ORDER BY id');
    // Each once, in order.
    expect(migrations).toEqual(
      REGISTRY_MIGRATIONS.map((M) => ({ name: new M().name })),
    );
    expect(
      (await m.call(ApiKeys.lookup, { key_sha256: 'a001'.padStart(64, '0') }))
        .key?.name,
    ).toBe('ci');
    // Measurements outlive whatever reported them, and the registry itself.
    const dedupe = await m.call(Registry.resolveVersion, {
      model_id: 'dedupe',
      version: 2,
    });
    expect(dedupe.version.measured?.memory_bytes).toBe(700_000);
    expect(dedupe.model.memory_estimate_authoritative).toBe(false);
  });
});

/**
 * A database made by the first release (the initial schema, with models and versions
 * in it) is migrated when the registry starts: its data is kept, existing models are not
 * authoritative, and measurements can be recorded for its versions.
 */
describe.each(provisioners)(
  'upgrading a registry database on %s',
  (_kind, provision) => {
    let database: RegistryDatabase;
    let cleanup: () => Promise<void>;
    let app: INestApplicationContext | undefined;

    beforeAll(async () => {
      ({ database, cleanup } = await provision());
      const old = new DataSource({
        ...registryDataSourceOptions(database),
        entities: [],
        migrations: [InitialSchema1764201600000],
      });
      await old.initialize();
      await old.runMigrations({ transaction: 'each' });
      await old.query(
        `INSERT INTO models (id, format, memory_estimate_bytes, pinned, labels)
         VALUES ('old', 'onnx', 1234, true, '{"team": "old"}')`,
      );
      await old.query(
        `INSERT INTO model_versions (model_id, version, format, artifact_uri, sha256, size_bytes, signature, status)
       VALUES ('old', 1, 'onnx', $1, $2, 1001, $3, 'ready')`,
        [`local:old/${sha(1)}/model.onnx`, sha(1), JSON.stringify(signature)],
      );
      await old.destroy();
    });
    afterAll(async () => {
      await app?.close();
      await cleanup?.();
    });

    it('migrates, keeping the models and versions it holds', async () => {
      let m: Messaging;
      ({ app, m } = await start(database));
      const got = await m.call(Registry.getModel, { id: 'old' });
      expect(got.model).toMatchObject({
        memory_estimate_bytes: 1234,
        memory_estimate_authoritative: false,
        pinned: true,
      });
      expect(got.versions).toEqual([
        expect.objectContaining({
          version: 1,
          sha256: sha(1),
          size_bytes: 1001,
          signature,
          measured: null,
        }),
      ]);
      await expect(
        app.get(ModelRegistryService).recordMeasurement({
          model_id: 'old',
          version: 1,
          memory_bytes: 5000,
          load_ms: 2,
          node_id: 'runtime-1',
        }),
      ).resolves.toBe(true);
      await expect(
        m.call(Registry.createModel, {
          id: 'old',
          format: 'onnx',
          memory_estimate_authoritative: true,
          if_exists: 'update',
        }),
      ).resolves.toMatchObject({
        model: {
          memory_estimate_bytes: 1234,
          memory_estimate_authoritative: true,
        },
      });
      // Numbering goes on from the versions the old database held.
      expect(
        (
          await m.call(Registry.createVersion, {
            model_id: 'old',
            artifact_uri: `local:old/${sha(2)}/model.onnx`,
            sha256: sha(2),
            size_bytes: 1002,
            format: 'onnx',
            signature,
          })
        ).version.version,
      ).toBe(2);
      // The versions stay immutable: the trigger is the first release's, untouched.
      await expect(
        app
          .get(DataSource)
          .query(
            `UPDATE model_versions SET size_bytes = 1 WHERE model_id = 'old'`,
          ),
      ).rejects.toThrow(/immutable/);
    });

    it('finds models by label through an index, those it held too', async () => {
      if (!app) throw new Error('the registry did not start');
      await expect(
        app.get(ModelRegistryService).listModels({ labels: { team: 'old' } }),
      ).resolves.toMatchObject({ models: [{ id: 'old' }], next: null });
      // The label filter's own condition can be answered by models_labels (the planner
      // prefers a sequential scan on a table this small, so the other ways are off).
      const session = app.get(DataSource).createQueryRunner();
      try {
        await session.query('SET enable_seqscan = off');
        await session.query('SET enable_indexscan = off');
        const plan: Record<string, string>[] = await session.query(
          `EXPLAIN SELECT m.id FROM models m WHERE m.labels @> $1::jsonb`,
          ['{"team": "old"}'],
        );
        expect(plan.map((row) => Object.values(row).join()).join('\n')).toMatch(
          /Bitmap Index Scan on models_labels/,
        );
      } finally {
        await session.query('RESET enable_seqscan');
        await session.query('RESET enable_indexscan');
        await session.release();
      }
    });
  },
);

/**
 * Several registry instances starting together on an empty database take turns under
 * the advisory lock: every one of them starts, and each migration runs once.
 */
describe('migrating an empty PostgreSQL database from several instances at once', () => {
  const apps: INestApplicationContext[] = [];
  let cleanup: () => Promise<void>;

  afterAll(async () => {
    for (const a of apps) await a.close();
    await cleanup?.();
  });

  it('starts them all and migrates once', async () => {
    const db = await createTestDatabase('registry_race');
    cleanup = db.drop;
    const database: RegistryDatabase = { kind: 'postgres', url: db.url };
    const started = await Promise.all([1, 2, 3].map(() => start(database)));
    apps.push(...started.map((s) => s.app));
    const migrations = await started[0].app
      .get(DataSource)
      .query('SELECT name FROM migrations ORDER BY id');
    expect(migrations).toEqual(
      REGISTRY_MIGRATIONS.map((M) => ({ name: new M().name })),
    );
    for (const [i, { m }] of started.entries()) {
      await expect(
        m.call(Registry.createModel, {
          id: `m${i}`,
          format: 'onnx',
          memory_estimate_bytes: 1,
          memory_estimate_authoritative: true,
          if_exists: 'update',
        }),
      ).resolves.toMatchObject({
        model: { memory_estimate_authoritative: true },
      });
    }
  });

  it('gives 200 registrations of one model at once, through all of them, distinct and contiguous numbers', async () => {
    const registries = apps.map((a) => a.get(ModelRegistryService));
    await registries[0].createModel({ id: 'crowded', format: 'onnx' });

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        registries[i % registries.length].createVersion({
          model_id: 'crowded',
          artifact_uri: `local:crowded/${sha(i)}/model.onnx`,
          sha256: sha(i),
          size_bytes: 1000 + i,
          format: 'onnx',
          signature,
        }),
      ),
    );

    const numbers = results.map((r) => r.version.version);
    expect([...numbers].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    // Each number went with its own upload's artifact.
    const listed = await registries[1].getModel('crowded');
    const byNumber = new Map(listed.versions.map((v) => [v.version, v.sha256]));
    for (const r of results)
      expect(byNumber.get(r.version.version)).toBe(r.version.sha256);
  });
});
