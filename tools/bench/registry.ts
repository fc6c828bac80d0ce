/**
 * The model registry at scale: 10,000 registered models with 5 versions each, on
 * embedded PGlite (the standalone mode) and on a PostgreSQL server (the distributed
 * mode), and the latency of what the gateway and the cache-manager ask of it.
 *
 *   npm run bench:registry                        # the table
 *   npm run bench:registry -- --json FILE         # also the figures as JSON
 *   npm run bench:registry -- --write             # also records them in docs/benchmarks.md
 *   npm run bench:registry -- --models 2000 --backend pglite   # a smaller registry, one backend
 *
 * PostgreSQL: PORTFOLIO_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres;
 * the benchmark creates a database of its own there and drops it at the end. PGlite:
 * a data folder of its own under the system's temporary folder, removed at the end.
 *
 * The registry is the real one (ModelRegistryServiceModule, its migrations run at
 * start); the data goes in through its entities as bulk inserts, as 50,000 registrations
 * one by one would take long and measure nothing of interest. Each model has labels
 * (`team`: one of 20; `tier`: `gold` for 1 in 100), alias `staging` on its version 5
 * (ready but for 1 model in 10, whose version 5 failed), alias `production` on version 4
 * for every other model, a memory measurement of version 4, and the audit log holds
 * what registering all of it by the API would have written. The registry is then
 * started again on them, as after a restart (PostgreSQL analyzed first, as autovacuum
 * would soon after such a load; PGlite, which has no autovacuum, analyzed by the
 * registry as it starts). Every operation is timed at the service's methods, the ones
 * the bus handlers call, one at a time, on models drawn at random; the whole catalogue
 * is also timed through the registry's bus, the way the gateway and the cache-manager
 * receive it: the in-process bus for PGlite (the standalone mode), NATS for PostgreSQL
 * (the distributed mode: PORTFOLIO_NATS_URL, else nats://127.0.0.1:4222; the in-process
 * bus where no server answers there).
 */
import { INestApplicationContext } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DataSource, EntityManager } from 'typeorm';

import { mulberry32 } from '@portfolio/cache-sim';
import {
  LIST_ALL_PAGE_SIZE,
  listAllModels,
  MAX_PAGE_SIZE,
  ModelRecord,
  Registry,
  Signature,
} from '@portfolio/contracts';
import {
  createBusApp,
  InProcessBus,
  MessageBus,
  Messaging,
  MessagingModule,
  NatsBus,
} from '@portfolio/messaging';
import {
  ModelRegistryService,
  ModelRegistryServiceModule,
  RegistryDatabase,
} from '@portfolio/model-registry-service';
import { createTestDatabase, makeTempDir } from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  recordSection,
  runMain,
  writeJson,
} from './bench-report';

const VERSIONS = 5;
const TEAMS = 20;
/** The page size of GET /admin/models when the request names none. */
const ADMIN_PAGE = 100;
/** NATS' default max_payload: a reply larger than this does not cross the distributed bus. */
const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const SIGNATURE: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
};

const BACKEND_NAME = { pglite: 'PGlite', postgres: 'PostgreSQL' } as const;

const modelId = (i: number) => `model-${String(i).padStart(5, '0')}`;
const sha256 = (text: string) =>
  createHash('sha256').update(text).digest('hex');

interface Timing {
  readonly operation: string;
  /** What the gateway or cache-manager serves with it. */
  readonly used_by: string;
  readonly samples: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  /** Models (or versions, or entries) in one answer, on average. */
  readonly rows: number;
}

interface BackendResult {
  readonly backend: 'pglite' | 'postgres';
  readonly models: number;
  readonly versions: number;
  readonly audit_entries: number;
  readonly seed_s: number;
  /** Starting the registry on them (on PGlite: with its ANALYZE). */
  readonly start_s: number;
  readonly timings: Timing[];
  /** The JSON size of `listModels {}`'s answer (the whole catalogue). */
  readonly all_models_reply_bytes: number;
  /** The JSON size of the largest page listAllModels reads. */
  readonly largest_page_bytes: number;
  /** The bus the registry served on. */
  readonly bus: string;
  /** What `listModels {}` through that bus came to. */
  readonly one_answer_over_bus: string;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Whether something answers at the host and port of `url` within a second. */
function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) || 4222 });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function startRegistry(
  database: RegistryDatabase,
  bus: MessageBus = new InProcessBus(),
): Promise<{ app: INestApplicationContext; messaging: Messaging }> {
  const app = await createBusApp(
    {
      module: class RegistryBenchApp {},
      imports: [
        MessagingModule.forRoot({
          bus,
          // Its own subjects on a NATS server that others may be using.
          prefix: `bench-registry-${process.pid}`,
          requestTimeoutMs: 60_000,
        }),
        ModelRegistryServiceModule.forRoot({ database }),
      ],
    },
    { logger: ['error'] },
  );
  return { app, messaging: app.get(Messaging) };
}

/**
 * What registering `models` models of 5 versions each by the API leaves in the
 * database, written in bulk through the registry's entities (the same tables, columns,
 * constraints and triggers).
 */
async function seed(
  manager: EntityManager,
  models: number,
  progress: (what: string) => void,
): Promise<number> {
  const CHUNK = 1000;
  for (let from = 0; from < models; from += CHUNK) {
    const ids = Array.from(
      { length: Math.min(CHUNK, models - from) },
      (_, k) => from + k,
    );
    await manager.transaction(async (tx) => {
      await tx
        .createQueryBuilder()
        .insert()
        .into('models')
        .values(
          ids.map((i) => ({
            id: modelId(i),
            format: 'onnx',
            description: `benchmark model ${i}`,
            memoryEstimateBytes: 4_000_000 + i,
            memoryEstimateAuthoritative: false,
            preload: i % 1000 === 0,
            pinned: false,
            ttlMs: null,
            labels: {
              team: `team-${i % TEAMS}`,
              tier: i % 100 === 0 ? 'gold' : 'standard',
            },
            // The numbers it has given out (where the registry counts them).
            lastVersion: VERSIONS,
          })),
        )
        .execute();
      const versions = ids.flatMap((i) =>
        Array.from({ length: VERSIONS }, (_, k) => {
          const v = k + 1;
          const hash = sha256(`${i}/${v}`);
          return {
            modelId: modelId(i),
            version: v,
            format: 'onnx',
            artifactUri: `local:${modelId(i)}/${hash}/model.onnx`,
            sha256: hash,
            sizeBytes: 3_000_000 + v,
            signature: SIGNATURE,
            status: (v === VERSIONS && i % 10 === 0 ? 'failed' : 'ready') as
              | 'ready'
              | 'failed',
          };
        }),
      );
      await tx
        .createQueryBuilder()
        .insert()
        .into('model_versions')
        .values(versions)
        .execute();
      await tx
        .createQueryBuilder()
        .insert()
        .into('version_measurements')
        .values(
          ids.map((i) => ({
            modelId: modelId(i),
            version: 4,
            memoryBytes: 5_000_000 + i,
            loadMs: 12.5,
            nodeId: 'runtime-1',
            measuredAt: new Date(),
          })),
        )
        .execute();
    });
    progress(`${Math.min(from + CHUNK, models)} models`);
  }
  // Aliases have no entity: the registry writes them in SQL (setAlias), and so does this.
  await manager.query(
    `INSERT INTO model_aliases (model_id, alias, version, updated_by)
     SELECT model_id, 'staging', version, 'bench' FROM model_versions
      WHERE version = $1 AND status = 'ready'`,
    [VERSIONS],
  );
  await manager.query(
    `INSERT INTO model_aliases (model_id, alias, version, updated_by)
     SELECT id, 'production', 4, 'bench' FROM models
      WHERE right(id, 1) IN ('0', '2', '4', '6', '8')`,
  );
  // The audit log as the API would have written it: a model, its versions, its aliases.
  await manager.query(
    `INSERT INTO audit_log (actor, action, model_id, version, details)
     SELECT 'bench', action, model_id, version, details FROM (
       SELECT 'model.create' AS action, id AS model_id, NULL::integer AS version,
              jsonb_build_object('format', format) AS details, 0 AS step, id AS ord
         FROM models
       UNION ALL
       SELECT 'version.create', model_id, version,
              jsonb_build_object('sha256', sha256, 'size_bytes', size_bytes), version, model_id
         FROM model_versions
       UNION ALL
       SELECT 'alias.set', model_id, version,
              jsonb_build_object('alias', alias, 'previous_version', NULL), 10, model_id
         FROM model_aliases
     ) AS changes ORDER BY ord, step`,
  );
  const [{ n }] = (await manager.query(
    `SELECT count(*)::int AS n FROM audit_log`,
  )) as { n: number }[];
  return n;
}

async function measureBackend(
  backend: 'pglite' | 'postgres',
  database: RegistryDatabase,
  natsUrl: string | null,
  models: number,
  samples: number,
  log: (line: string) => void,
): Promise<BackendResult> {
  const seeding = await startRegistry(database);
  const seedStart = performance.now();
  let auditEntries: number;
  try {
    const dataSource = seeding.app.get(DataSource);
    auditEntries = await seed(dataSource.manager, models, (what) =>
      log(`  ${backend}: seeded ${what}`),
    );
    // The planner's statistics, as autovacuum gathers them on PostgreSQL soon after a
    // load like this one (PGlite has none: the registry gathers them when it starts).
    if (backend === 'postgres') await dataSource.query('ANALYZE');
  } finally {
    await seeding.app.close();
  }
  const seedS = (performance.now() - seedStart) / 1000;
  log(
    `  ${backend}: ${models} models, ${models * VERSIONS} versions, ${auditEntries} audit entries in ${seedS.toFixed(1)} s`,
  );
  // Measured as a registry finds them after a restart.
  // Its bus: NATS for PostgreSQL where a server answers (the distributed mode), else the
  // in-process bus (the standalone mode).
  const nats = natsUrl
    ? await NatsBus.connect({ url: natsUrl, name: 'bench-registry' })
    : null;
  const startStart = performance.now();
  const { app, messaging } = await startRegistry(
    database,
    nats ?? new InProcessBus(),
  );
  const startS = (performance.now() - startStart) / 1000;
  log(`  ${backend}: registry started in ${startS.toFixed(2)} s`);
  try {
    const registry = app.get(ModelRegistryService);
    const dataSource = app.get(DataSource);

    const random = mulberry32(7);
    const any = () => Math.floor(random() * models);
    const pick = (accept: (i: number) => boolean) => {
      for (;;) {
        const i = any();
        if (accept(i)) return i;
      }
    };
    const timings: Timing[] = [];
    const time = async (
      operation: string,
      usedBy: string,
      n: number,
      run: () => Promise<number>,
    ) => {
      const warmup = Math.max(3, Math.round(n / 10));
      const times: number[] = [];
      let rows = 0;
      for (let k = 0; k < warmup + n; k++) {
        const t0 = performance.now();
        const count = await run();
        const t1 = performance.now();
        if (k >= warmup) {
          times.push(t1 - t0);
          rows += count;
        }
      }
      times.sort((a, b) => a - b);
      const t: Timing = {
        operation,
        used_by: usedBy,
        samples: n,
        p50_ms: quantile(times, 0.5),
        p99_ms: quantile(times, 0.99),
        max_ms: times[times.length - 1],
        rows: rows / n,
      };
      timings.push(t);
      log(
        `  ${backend}: ${operation}: p50 ${t.p50_ms.toFixed(3)} ms, p99 ${t.p99_ms.toFixed(3)} ms (${n})`,
      );
    };

    const point = samples;
    const page = Math.max(20, Math.round(samples / 2));
    const whole = Math.max(5, Math.round(samples / 25));

    // Resolve: every prediction the gateway's catalog has not cached, every load.
    const predict = 'predict (catalog miss), load, preload';
    await time(
      'resolve: default, `production` set',
      predict,
      point,
      async () => {
        await registry.resolveVersion({
          model_id: modelId(pick((i) => i % 2 === 0)),
        });
        return 1;
      },
    );
    await time(
      'resolve: default, highest ready version',
      predict,
      point,
      async () => {
        await registry.resolveVersion({
          model_id: modelId(pick((i) => i % 2 === 1)),
        });
        return 1;
      },
    );
    await time(
      'resolve: alias `staging`',
      'predict `?alias=`',
      point,
      async () => {
        await registry.resolveVersion({
          model_id: modelId(pick((i) => i % 10 !== 0)),
          alias: 'staging',
        });
        return 1;
      },
    );
    await time(
      'resolve: explicit version',
      'predict `?version=`, GET /admin/models/{id}/versions/{v}',
      point,
      async () => {
        await registry.resolveVersion({
          model_id: modelId(any()),
          version: 1 + Math.floor(random() * VERSIONS),
        });
        return 1;
      },
    );
    // A model with its versions and aliases: metadata and the admin reads.
    await time(
      'get model (versions, aliases, measurements)',
      'GET /v1/models/{id}/metadata, /v2/models/{name}, GET /admin/models/{id}[/versions]',
      point,
      async () => (await registry.getModel(modelId(any()))).versions.length,
    );

    // Listings: the admin API's pages.
    const listPage = 'GET /admin/models';
    await time(
      `list models: first page of ${ADMIN_PAGE}`,
      listPage,
      page,
      async () =>
        (await registry.listModels({ limit: ADMIN_PAGE })).models.length,
    );
    await time(
      `list models: page of ${ADMIN_PAGE} after a random id`,
      `${listPage}?after=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            after: modelId(any()),
          })
        ).models.length,
    );
    await time(
      `list models: page of ${MAX_PAGE_SIZE} after a random id`,
      `${listPage}?limit=${MAX_PAGE_SIZE}&after=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: MAX_PAGE_SIZE,
            after: modelId(any()),
          })
        ).models.length,
    );
    await time(
      `list models: label \`team\` (1 in ${TEAMS}), first page of ${ADMIN_PAGE}`,
      `${listPage}?label=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            labels: { team: `team-${Math.floor(random() * TEAMS)}` },
          })
        ).models.length,
    );
    await time(
      `list models: label \`team\`, page of ${ADMIN_PAGE} after a random id`,
      `${listPage}?label=&after=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            after: modelId(any()),
            labels: { team: `team-${Math.floor(random() * TEAMS)}` },
          })
        ).models.length,
    );
    await time(
      `list models: label \`tier: gold\` (1 in 100), first page of ${ADMIN_PAGE}`,
      `${listPage}?label=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            labels: { tier: 'gold' },
          })
        ).models.length,
    );
    await time(
      `list models: label \`tier: standard\` (99 in 100), page of ${ADMIN_PAGE} after a random id`,
      `${listPage}?label=&after=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            after: modelId(any()),
            labels: { tier: 'standard' },
          })
        ).models.length,
    );
    await time(
      `list models: a label no model has, first page of ${ADMIN_PAGE}`,
      `${listPage}?label=`,
      page,
      async () =>
        (
          await registry.listModels({
            limit: ADMIN_PAGE,
            labels: { team: 'nobody' },
          })
        ).models.length,
    );

    // The whole catalogue: what the gateway's /v1/models/status and the cache-manager's
    // model directory and preload read, a page at a time (listAllModels); in one answer
    // (`listModels {}`) as they asked for it before, for comparison.
    const everyModel =
      'GET /v1/models/status, cache-manager directory and preload';
    await time(
      `list models: all, in pages of ${LIST_ALL_PAGE_SIZE}`,
      everyModel,
      whole,
      async () =>
        (await listAllModels((req) => registry.listModels(req))).length,
    );
    await time(
      `list models: all, in pages of ${LIST_ALL_PAGE_SIZE}, through the bus`,
      everyModel,
      whole,
      async () =>
        (await listAllModels((req) => messaging.call(Registry.listModels, req)))
          .length,
    );
    let allModels: ModelRecord[] = [];
    await time(
      'list models: all, one answer',
      'none (what the services asked before paging)',
      whole,
      async () => {
        allModels = (await registry.listModels({})).models;
        return allModels.length;
      },
    );
    // What asking for them all in one answer does on this bus (once: on NATS it waits
    // for the call's deadline).
    let oneAnswerOverBus: string;
    const asked = performance.now();
    try {
      const { models: got } = await messaging.call(
        Registry.listModels,
        {},
        { timeoutMs: 10_000 },
      );
      oneAnswerOverBus = `${got.length} models in ${Math.round(performance.now() - asked)} ms`;
    } catch (e) {
      oneAnswerOverBus = `failed after ${Math.round(performance.now() - asked)} ms: ${e instanceof Error ? e.message : String(e)}`;
    }
    log(`  ${backend}: all in one answer over the bus: ${oneAnswerOverBus}`);
    const allModelsReplyBytes = Buffer.byteLength(
      JSON.stringify({ models: allModels, next: null }),
    );
    // The largest page listAllModels asks for, as it crosses the bus.
    let largestPageBytes = 0;
    for (let from = 0; from < allModels.length; from += LIST_ALL_PAGE_SIZE) {
      const models = allModels.slice(from, from + LIST_ALL_PAGE_SIZE);
      largestPageBytes = Math.max(
        largestPageBytes,
        Buffer.byteLength(
          JSON.stringify({ models, next: models[models.length - 1].id }),
        ),
      );
    }

    // The audit log: GET /admin/audit.
    const [{ max }] = (await dataSource.query(
      `SELECT max(id)::int AS max FROM audit_log`,
    )) as { max: number }[];
    await time(
      `audit log: newest ${ADMIN_PAGE}`,
      'GET /admin/audit',
      page,
      async () =>
        (await registry.listAudit({ limit: ADMIN_PAGE })).entries.length,
    );
    await time(
      `audit log: ${ADMIN_PAGE} before a random entry`,
      'GET /admin/audit?before=',
      page,
      async () =>
        (
          await registry.listAudit({
            limit: ADMIN_PAGE,
            before: 1 + Math.floor(random() * max),
          })
        ).entries.length,
    );
    await time(
      `audit log: one model's, newest ${ADMIN_PAGE}`,
      'GET /admin/audit?model_id=',
      page,
      async () =>
        (
          await registry.listAudit({
            limit: ADMIN_PAGE,
            model_id: modelId(any()),
          })
        ).entries.length,
    );

    // Admin writes at this size (each under its model's row lock, with its audit entry).
    await time(
      'set alias `production` (move)',
      'PUT /admin/models/{id}/aliases/{alias}',
      page,
      async () => {
        await registry.setAlias({
          model_id: modelId(any()),
          alias: 'production',
          version: 1 + Math.floor(random() * 4),
          actor: 'bench',
        });
        return 1;
      },
    );
    let registered = 0;
    await time(
      'register a version',
      'POST /admin/models/{id}/versions (its registry part)',
      page,
      async () => {
        const id = modelId(any());
        const hash = sha256(`extra/${registered++}`);
        await registry.createVersion({
          model_id: id,
          artifact_uri: `local:${id}/${hash}/model.onnx`,
          sha256: hash,
          size_bytes: 3_000_000,
          format: 'onnx',
          signature: SIGNATURE,
          actor: 'bench',
        });
        return 1;
      },
    );
    return {
      backend,
      models,
      versions: models * VERSIONS,
      audit_entries: auditEntries,
      seed_s: seedS,
      start_s: startS,
      timings,
      all_models_reply_bytes: allModelsReplyBytes,
      largest_page_bytes: largestPageBytes,
      bus: nats ? 'NATS' : 'the in-process bus',
      one_answer_over_bus: oneAnswerOverBus,
    };
  } finally {
    await app.close();
    await nats?.close();
  }
}

async function main(): Promise<void> {
  const options = benchOptions();
  const models = Number(options.values.get('models') ?? 10_000);
  const samples = Number(options.values.get('samples') ?? 500);
  const only = options.values.get('backend');
  if (!Number.isInteger(models) || models < 100)
    throw new Error('--models: an integer of at least 100');
  if (!Number.isInteger(samples) || samples < 10)
    throw new Error('--samples: an integer of at least 10');
  if (only !== undefined && only !== 'pglite' && only !== 'postgres')
    throw new Error('--backend: pglite or postgres');
  const serverUrl =
    process.env['PORTFOLIO_DATABASE_URL'] ||
    'postgres://postgres@127.0.0.1:5432/postgres';
  const natsUrl = process.env['PORTFOLIO_NATS_URL'] || 'nats://127.0.0.1:4222';
  const natsUp = await reachable(natsUrl);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (!natsUp && only !== 'pglite')
    log(
      `no NATS server at ${natsUrl}: PostgreSQL's registry serves on the in-process bus`,
    );
  const loadBefore = loadavg()[0];

  const results: BackendResult[] = [];
  if (only !== 'postgres') {
    const dataDir = makeTempDir('bench-registry-pglite');
    try {
      results.push(
        await measureBackend(
          'pglite',
          { kind: 'pglite', dataDir },
          null,
          models,
          samples,
          log,
        ),
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  if (only !== 'pglite') {
    const db = await createTestDatabase('bench_registry', serverUrl);
    try {
      results.push(
        await measureBackend(
          'postgres',
          { kind: 'postgres', url: db.url },
          natsUp ? natsUrl : null,
          models,
          samples,
          log,
        ),
      );
    } finally {
      await db.drop();
    }
  }
  const loadAfter = loadavg()[0];

  const [first] = results;
  const header = [
    'operation',
    'used by',
    ...results.flatMap((r) => [
      `${BACKEND_NAME[r.backend]} p50 (ms)`,
      `${BACKEND_NAME[r.backend]} p99 (ms)`,
    ]),
    'rows (mean)',
  ];
  const table = markdownTable(
    header,
    first.timings.map((t, k) => [
      t.operation,
      t.used_by,
      ...results.flatMap((r) => [
        r.timings[k].p50_ms.toFixed(3),
        r.timings[k].p99_ms.toFixed(3),
      ]),
      String(Math.round(t.rows)),
    ]),
    header.map((_, i) => i > 1),
  );
  const byBackend = (f: (r: BackendResult) => string) =>
    results.map((r) => `${BACKEND_NAME[r.backend]}: ${f(r)}`).join('; ');
  const sizes = `${models} models with ${VERSIONS} versions each (${first.versions} versions, ${first.audit_entries} audit log entries), written in bulk through the registry's entities (${byBackend((r) => `${r.seed_s.toFixed(1)} s`)}); the registry then started again on them (${byBackend((r) => `${r.start_s.toFixed(2)} s`)}; PGlite with its ANALYZE of the models, PostgreSQL analyzed beforehand as autovacuum would)`;
  const reply = first.all_models_reply_bytes;
  const replyLine = `The whole catalogue in one answer is ${(reply / 1024 / 1024).toFixed(2)} MiB of JSON (${reply > NATS_DEFAULT_MAX_PAYLOAD ? 'over' : 'under'} NATS' default max_payload of 1 MiB); a page of ${LIST_ALL_PAGE_SIZE}, as listAllModels reads it, at most ${Math.round(first.largest_page_bytes / 1024)} KiB. Asked for in one answer through the bus: ${byBackend((r) => `(${r.bus}) ${r.one_answer_over_bus}`)}.`;
  process.stdout.write(`\n${sizes}\n\n${table}\n\n${replyLine}\n`);
  const figures = {
    models,
    versions_per_model: VERSIONS,
    samples,
    load_average_before: loadBefore,
    load_average_after: loadAfter,
    results,
  };
  if (options.json) writeJson(options.json, figures);
  if (options.write) {
    const body = `${sizes}. Each operation timed at the registry service's methods (what the bus handlers call), one at a time, on models drawn at random: ${samples} samples for point reads, ${Math.max(20, Math.round(samples / 2))} for pages and writes, ${Math.max(5, Math.round(samples / 25))} for the whole catalogue, after a tenth as many warm-up ones. The row "through the bus" goes through the registry's bus: ${byBackend((r) => r.bus)}. ${machineLine()} Load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.\n\n${table}\n\n${replyLine}`;
    process.stdout.write(
      `recorded in ${recordSection('registry', 'npm run bench:registry -- --write', body)}\n`,
    );
  }
}

runMain(main);
