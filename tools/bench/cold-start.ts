/**
 * Cold start: from a model not loaded to its first answer, through a real runtime
 * (ModelHostService in this process, on the built inference worker: load on the spare
 * worker, measured, warm-up at the default batch, then the request), against
 * ONNX Runtime called directly on the same file in the same run (InferenceSession.create
 * and one run, with the runtime's session options). Target: at most 1.15x.
 *
 *   npm run bench:cold-start                       # the table
 *   npm run bench:cold-start -- --json out.json    # also the figures as JSON
 *   npm run bench:cold-start -- --write            # also records them in docs/benchmarks.md
 *   npm run bench:cold-start -- --reps 15          # repetitions per size (default 11)
 *   npm run bench:cold-start -- --sizes 1,100      # model sizes in MB (default 1,100,500)
 *   npm run bench:cold-start -- --max-batch 1      # the load requests' max_batch (default: none)
 *
 * The script builds the runtime app first, for its inference worker. Models: one MatMul
 * with its weights as ONNX external data (libs/testing buildLargeModel) of about 1, 100
 * and 500 MB, read from local disk (the page cache after the first repetition, which is
 * dropped). Each repetition runs both paths, alternating which goes first.
 */
import { Logger } from '@nestjs/common';
import * as ort from 'onnxruntime-node';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { ModelHostService } from '@portfolio/runtime-service';
import { LocalStorageDriver } from '@portfolio/storage';
import {
  buildLargeModel,
  largeModelSide,
  makeTempDir,
  REPO_ROOT,
} from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  recordSection,
  runMain,
  writeJson,
} from './bench-report';

const MB = 1_000_000;
const SIZES_MB = [1, 100, 500];
const TARGET = 1.15;
const WORKER = join(REPO_ROOT, 'dist/apps/runtime/inference-worker.js');
/**
 * Both paths start from a process idle this long, as a cold start does: a request
 * for an unloaded model reaching a quiet server. On this machine a core idle for
 * 100 ms or more runs the next few ms markedly slower (a 1 MB create: about 1.0 ms
 * right after other work, 2.0 ms after 100 ms idle, on the main thread and on a worker
 * alike), so a raw path measured right after the runtime's would be flattered.
 */
const IDLE_MS = 200;
const idle = () => new Promise((resolve) => setTimeout(resolve, IDLE_MS));

interface Row {
  size_mb: number;
  weight_bytes: number;
  raw_ms: number;
  /** The raw path again at once, on a machine busy a moment before. */
  raw_hot_ms: number;
  runtime_ms: number;
  ratio: number;
  /** The middle half of the repetitions' own ratios (each runtime / raw pair). */
  ratio_iqr: [number, number];
  runtime_load_ms: number;
  memory_bytes: number;
  peak_bytes: number;
  met: boolean;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const quartiles = (xs: number[]): [number, number] => {
  const s = [...xs].sort((a, b) => a - b);
  return [s[Math.floor(s.length / 4)], s[Math.floor((3 * s.length) / 4)]];
};

/** The runtime's session options (libs/model-formats OnnxBackend.load). */
async function raw(path: string, n: number): Promise<number> {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  await session.run({
    x: new ort.Tensor('float32', new Float32Array(n), [1, n]),
  });
  const ms = performance.now() - t0;
  await session.release();
  return ms;
}

/**
 * Resolves once the host has its spare worker warm (it starts one shortly after each
 * load) and nothing is loading or unloading: what "unloaded" means for a cold start.
 */
async function settled(host: ModelHostService): Promise<void> {
  const internals = host as unknown as {
    spareTimer: unknown;
    pool: { ready(): Promise<void> };
    memory: { run(section: () => Promise<void>): Promise<void> };
  };
  for (;;) {
    await internals.memory.run(async () => undefined);
    await internals.pool.ready();
    if (internals.spareTimer === null) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function main(): Promise<void> {
  const options = benchOptions();
  const reps = Number(options.values.get('reps') ?? 11);
  const maxBatch = options.values.has('max-batch')
    ? Number(options.values.get('max-batch'))
    : undefined;
  const sizes = (options.values.get('sizes') ?? SIZES_MB.join(','))
    .split(',')
    .map(Number);
  if (!existsSync(WORKER))
    throw new Error(`${WORKER} is missing: run nx build runtime first`);
  Logger.overrideLogger(false);
  // The runtime's workers and timers do not keep a process alive (a service's
  // connections do); this benchmark has nothing else.
  const keepAlive = setInterval(() => undefined, 60_000);
  const root = makeTempDir('bench-cold-start');
  const host = new ModelHostService(
    {
      nodeId: 'bench',
      capacityBytes: 4 * 1024 ** 3,
      softLimitBytes: 3 * 1024 ** 3,
      workers: 2,
      intraOpThreads: 1,
      heartbeatIntervalMs: 60_000,
      workerScript: { path: WORKER },
    },
    new LocalStorageDriver(root),
  );
  const rows: Row[] = [];
  try {
    for (const sizeMb of sizes) {
      const dir = join(root, `m${sizeMb}`);
      buildLargeModel({
        weightBytes: sizeMb * MB,
        externalData: true,
        dir,
        name: 'model',
      });
      const path = join(dir, 'model.onnx');
      const n = largeModelSide(sizeMb * MB);
      const rawMs: number[] = [];
      const runtimeMs: number[] = [];
      const hotMs: number[] = [];
      const loads: { load_ms: number; memory: number; peak: number }[] = [];
      for (let rep = 0; rep <= reps; rep++) {
        const viaRuntime = async () => {
          await settled(host);
          await idle();
          const t0 = performance.now();
          const res = await host.load({
            model_id: `cold-${sizeMb}`,
            version: 1,
            format: 'onnx',
            artifact_uri: `local:m${sizeMb}/model.onnx`,
            sha256: '0'.repeat(64),
            size_bytes: 400,
            memory_estimate_bytes: sizeMb * MB,
            max_batch: maxBatch,
          });
          await host.infer(`cold-${sizeMb}`, 1, {
            x: { datatype: 'FP32', shape: [1, n], data: new Float32Array(n) },
          });
          const ms = performance.now() - t0;
          await host.unload(`cold-${sizeMb}`, 1);
          return { ms, res };
        };
        const viaRaw = async () => {
          await idle();
          const ms = await raw(path, n);
          const hot = await raw(path, n);
          if (rep > 0) hotMs.push(hot);
          return ms;
        };
        const first = rep % 2 === 0;
        const a = first ? await viaRuntime() : null;
        const r = await viaRaw();
        const b = first ? null : await viaRuntime();
        const runtime = (a ?? b) as Awaited<ReturnType<typeof viaRuntime>>;
        if (rep === 0) continue; // the page cache's first read
        rawMs.push(r);
        runtimeMs.push(runtime.ms);
        loads.push({
          load_ms: runtime.res.load_ms,
          memory: runtime.res.memory_bytes,
          peak: runtime.res.peak_bytes ?? 0,
        });
      }
      rmSync(dir, { recursive: true, force: true });
      const rawMedian = median(rawMs);
      const runtimeMedian = median(runtimeMs);
      const row: Row = {
        size_mb: sizeMb,
        weight_bytes: 4 * n * n,
        raw_ms: rawMedian,
        raw_hot_ms: median(hotMs),
        runtime_ms: runtimeMedian,
        ratio: runtimeMedian / rawMedian,
        ratio_iqr: quartiles(runtimeMs.map((t, i) => t / rawMs[i])),
        runtime_load_ms: median(loads.map((l) => l.load_ms)),
        memory_bytes: median(loads.map((l) => l.memory)),
        peak_bytes: median(loads.map((l) => l.peak)),
        met: runtimeMedian / rawMedian <= TARGET,
      };
      rows.push(row);
      process.stderr.write(
        `${sizeMb} MB: raw ${rawMedian.toFixed(1)} ms, runtime ${runtimeMedian.toFixed(1)} ms (${row.ratio.toFixed(3)}x)\n`,
      );
    }
  } finally {
    await host.onApplicationShutdown();
    rmSync(root, { recursive: true, force: true });
    clearInterval(keepAlive);
  }

  const MiB = 1024 * 1024;
  const body = [
    `Unloaded to first answer (batch 1), median of ${reps} repetitions after one dropped; model files in the page cache; ` +
      `each path starts from the process idle for ${IDLE_MS} ms (a request reaching a quiet server). ` +
      `Raw: \`InferenceSession.create\` on the file and one run, in this process (raw, hot: the same at once again, for reference). Runtime: \`ModelHostService.load\` ` +
      `(queue, RSS checks, load on the warm spare worker with its peak sampled, warm-up at ` +
      `${maxBatch === undefined ? 'batch 1: the default when the request names no max_batch' : `the request's max_batch, ${maxBatch}`}) and \`infer\`, ` +
      `on the built inference worker. Target: runtime <= ${TARGET} x raw. ${machineLine()}`,
    '',
    markdownTable(
      [
        'model (weights)',
        'raw create + run (ms)',
        'raw, hot (ms)',
        'runtime load + first answer (ms)',
        'ratio',
        'ratio, middle half of pairs',
        'of which load (ms)',
        'measured (MiB)',
        'peak while loading (MiB)',
        'target',
      ],
      rows.map((r) => [
        `${r.size_mb} MB MatMul (${(r.weight_bytes / MiB).toFixed(1)} MiB)`,
        r.raw_ms.toFixed(1),
        r.raw_hot_ms.toFixed(1),
        r.runtime_ms.toFixed(1),
        r.ratio.toFixed(3),
        `${r.ratio_iqr[0].toFixed(2)}-${r.ratio_iqr[1].toFixed(2)}`,
        r.runtime_load_ms.toFixed(1),
        (r.memory_bytes / MiB).toFixed(1),
        (r.peak_bytes / MiB).toFixed(1),
        r.met ? 'met' : 'NOT met',
      ]),
    ),
    '',
    'Where the runtime costs more than the raw path (profiled on this machine, 2026-12-03, with ' +
      'timestamps through ModelHostService and a bare worker thread for comparison): a fixed ' +
      'cost of about 1.5 ms per load, which only a model that loads in about 2 ms notices. For ' +
      'the 1 MB model: the load on the worker thread (create, the warm-up run the runtime needs ' +
      'to measure the model and to fail a broken one before a client does, 0.2-0.3 ms, and two ' +
      'thread hops) 2.7-2.9 ms, the first request (two more hops and the run) 0.4 ms, the ' +
      "runtime's bookkeeping (queue, memory lock, RSS reads, the artifact's stat) about 0.3 ms. " +
      'A bare worker thread doing only create, warm-up and run measured 1.7 + 0.2 ms against ' +
      '1.2 ms on the main thread, both hot: the thread that keeps loads off the event loop ' +
      'costs 0.5 ms a cold start on its own. On large models the warm-up run is most of the ' +
      'difference (it grows with the batch: run with --max-batch 8 to see it).',
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  if (options.json) writeJson(options.json, { target: TARGET, rows });
  if (options.write) {
    const file = recordSection(
      'cold-start',
      'npm run bench:cold-start -- --write',
      body,
    );
    process.stdout.write(`recorded in ${file}\n`);
  }
}

runMain(main);
