/**
 * Churn: latency of hits on a small hot model while large models are loaded and
 * unloaded without pause on the same runtime, against the same hits with nothing else
 * going on. Target: p99 under churn at most 1.5x the p99 without.
 *
 *   npm run bench:churn                        # the table
 *   npm run bench:churn -- --json out.json     # also the figures as JSON
 *   npm run bench:churn -- --write             # also records them in docs/benchmarks.md
 *   npm run bench:churn -- --seconds 8 --rounds 6   # phase length and rounds (default 5 x 6 s)
 *
 * One runtime (ModelHostService in this process, on the inference worker the script
 * builds with the runtime app) with 2 compute slots. The hot model is an MLP 4-16-3 hit at batch 1 by
 * one caller in a loop. The churn: a loop that loads the next of four large models
 * (about 100 and 300 MB of MatMul weights, external data) and unloads the oldest once
 * two are loaded, so that one load or one unload is always under way. Quiet and churn
 * phases alternate, round after round, so that whatever else the machine does falls on
 * both alike; each kind's latencies are pooled over its rounds.
 */
import { Logger } from '@nestjs/common';
import { existsSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

import { ModelHostService } from '@portfolio/runtime-service';
import { LocalStorageDriver } from '@portfolio/storage';
import {
  buildLargeModel,
  buildMlpModel,
  makeTempDir,
  REPO_ROOT,
  writeModel,
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
const TARGET = 1.5;
const WORKER = join(REPO_ROOT, 'dist/apps/runtime/inference-worker.js');
/** The churning models: two sizes, each twice (distinct ids, same file). */
const LARGE = [
  { id: 'large-a', mb: 100 },
  { id: 'large-b', mb: 300 },
  { id: 'large-c', mb: 100 },
  { id: 'large-d', mb: 300 },
];

interface Phase {
  phase: 'quiet' | 'churn';
  hits: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  loads: number;
  unloads: number;
  /** The main thread's event loop delay (p99), as the hits see it. */
  loop_p99_ms: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const options = benchOptions();
  const loadBefore = loadavg()[0].toFixed(1);
  const seconds = Number(options.values.get('seconds') ?? 6);
  const rounds = Number(options.values.get('rounds') ?? 5);
  if (!existsSync(WORKER))
    throw new Error(`${WORKER} is missing: run nx build runtime first`);
  Logger.overrideLogger(false);
  // The runtime's workers and timers do not keep a process alive (a service's
  // connections do); this benchmark has nothing else.
  const keepAlive = setInterval(() => undefined, 60_000);
  const root = makeTempDir('bench-churn');
  writeModel(
    join(root, 'hot'),
    'model.onnx',
    buildMlpModel({ inputSize: 4, hidden: [16], outputSize: 3, seed: 1 }),
  );
  for (const mb of new Set(LARGE.map((m) => m.mb)))
    buildLargeModel({
      weightBytes: mb * MB,
      externalData: true,
      dir: join(root, `m${mb}`),
      name: 'model',
    });
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
  const request = (id: string, dir: string, mb: number) => ({
    model_id: id,
    version: 1,
    format: 'onnx' as const,
    artifact_uri: `local:${dir}/model.onnx`,
    sha256: '0'.repeat(64),
    size_bytes: 400,
    memory_estimate_bytes: mb * MB,
  });
  const phases: Phase[] = [];
  try {
    await host.load(request('hot', 'hot', 1));
    const input = {
      x: {
        datatype: 'FP32' as const,
        shape: [1, 4],
        data: Float32Array.from([5.1, 3.5, 1.4, 0.2]),
      },
    };
    for (let i = 0; i < 2000; i++) await host.infer('hot', 1, input);
    // The page cache holds the large files before anything is timed.
    for (const m of LARGE.slice(0, 2)) {
      await host.load(request(m.id, `m${m.mb}`, m.mb));
      await host.unload(m.id, 1);
    }

    const samples = { quiet: [] as number[], churn: [] as number[] };
    const counts = { loads: 0, unloads: 0 };
    const loopDelay = {
      quiet: monitorEventLoopDelay({ resolution: 1 }),
      churn: monitorEventLoopDelay({ resolution: 1 }),
    };
    const run = async (phase: 'quiet' | 'churn'): Promise<void> => {
      let stop = false;
      const churning = (async () => {
        if (phase === 'quiet') return;
        const loaded: string[] = [];
        for (let next = 0; !stop; next = (next + 1) % LARGE.length) {
          const m = LARGE[next];
          await host.load(request(m.id, `m${m.mb}`, m.mb));
          counts.loads++;
          loaded.push(m.id);
          if (loaded.length >= 2) {
            await host.unload(loaded.shift() as string, 1, 'capacity');
            counts.unloads++;
          }
        }
        for (const id of loaded) {
          await host.unload(id, 1);
          counts.unloads++;
        }
      })();
      const times = samples[phase];
      loopDelay[phase].enable();
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        const t0 = performance.now();
        await host.infer('hot', 1, input);
        times.push(performance.now() - t0);
      }
      loopDelay[phase].disable();
      stop = true;
      await churning;
    };
    for (let round = 0; round < rounds; round++) {
      await run('quiet');
      await run('churn');
      process.stderr.write(
        `round ${round + 1}/${rounds}: ${samples.quiet.length} quiet hits, ${samples.churn.length} under churn, ${counts.loads} loads\n`,
      );
    }
    for (const phase of ['quiet', 'churn'] as const) {
      const times = samples[phase].sort((a, b) => a - b);
      phases.push({
        phase,
        hits: times.length,
        p50_ms: percentile(times, 50),
        p99_ms: percentile(times, 99),
        p999_ms: percentile(times, 99.9),
        max_ms: times[times.length - 1],
        loads: phase === 'churn' ? counts.loads : 0,
        unloads: phase === 'churn' ? counts.unloads : 0,
        loop_p99_ms: loopDelay[phase].percentile(99) / 1e6,
      });
    }
  } finally {
    await host.onApplicationShutdown();
    rmSync(root, { recursive: true, force: true });
    clearInterval(keepAlive);
  }

  const [quiet, churn] = phases;
  const ratio = churn.p99_ms / quiet.p99_ms;
  const body = [
    `Hits on an MLP 4-16-3 at batch 1 (one caller in a loop) on a runtime ` +
      `(ModelHostService in process, built inference worker, 2 compute slots) while a loop loads and unloads ` +
      `models of 100 and 300 MB (MatMul, external data) without pause, one load or unload always under way; ` +
      `against the same hits with nothing else going on. ${rounds} rounds of ${seconds} s quiet then ${seconds} s of churn, ` +
      `each kind pooled. Latency: the host's infer() as the caller sees it, in the same process. ` +
      `Target: p99 under churn <= ${TARGET} x p99 when quiet. ${machineLine()}`,
    '',
    markdownTable(
      [
        'phase',
        'hits',
        'p50 (ms)',
        'p99 (ms)',
        'p99.9 (ms)',
        'max (ms)',
        'loads',
        'unloads',
        'event loop p99 (ms)',
      ],
      phases.map((p) => [
        p.phase,
        String(p.hits),
        p.p50_ms.toFixed(3),
        p.p99_ms.toFixed(3),
        p.p999_ms.toFixed(3),
        p.max_ms.toFixed(1),
        String(p.loads),
        String(p.unloads),
        p.loop_p99_ms.toFixed(2),
      ]),
    ),
    '',
    `p99 under churn / p99 when quiet: ${ratio.toFixed(2)} (target <= ${TARGET}: ${ratio <= TARGET ? 'met' : 'NOT met'}); ` +
      `p99.9: ${(churn.p999_ms / quiet.p999_ms).toFixed(2)}. When quiet, the cores sleep between hits and each hit ` +
      `pays their wake-up (the higher p50); under churn they stay awake. The loads compete for the two cores with ` +
      `whatever else the machine runs: its load average was ${loadBefore} before and ${loadavg()[0].toFixed(1)} after.`,
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  if (options.json) writeJson(options.json, { target: TARGET, ratio, phases });
  if (options.write) {
    const file = recordSection('churn', 'npm run bench:churn -- --write', body);
    process.stdout.write(`recorded in ${file}\n`);
  }
}

runMain(main);
