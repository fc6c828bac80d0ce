/**
 * The server's overhead on the prediction hot path, against two references, in one run
 * on one model and one load generator:
 *   (a) onnxruntime-node's session.run called directly, in this process (the floor);
 *   (b) a plain Fastify + onnxruntime-node server (tools/bench/plain-server.ts, its own
 *       process: what any Node server must pay for HTTP and JSON);
 *   (c) Portfolio standalone (dist/apps/portfolio, one process, in-process bus);
 *   (d) Portfolio distributed (gateway, model-registry, storage, cache-manager, one
 *       runtime as processes over NATS and PostgreSQL).
 * (b)-(d) are loaded by wrk (/usr/bin/wrk) at 1 and at 32 connections; its latency
 * distribution is read by a Lua `done` hook (microseconds).
 *
 *   npm run bench:overhead                       # the table
 *   npm run bench:overhead -- --json out.json    # also the figures as JSON
 *   npm run bench:overhead -- --write            # also records them in docs/benchmarks.md
 *   npm run bench:overhead -- --seconds 10       # wrk's duration per point (default 6)
 *   npm run bench:overhead -- --only standalone  # one path (plain, standalone, distributed)
 *   npm run bench:overhead -- --profile DIR      # the servers write --cpu-prof files to DIR
 *
 * Targets (issue 7): standalone p50 at 1 connection <= raw + 150 us and throughput at
 * 32 connections >= 0.9 x the plain server's; distributed p50 <= raw + 600 us and
 * throughput >= 0.5 x. PostgreSQL and NATS: PORTFOLIO_DATABASE_URL /
 * PORTFOLIO_NATS_URL, or throwaway servers. Load generator and servers share this
 * machine's cores.
 */
import * as ort from 'onnxruntime-node';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  buildMlpModel,
  freePort,
  makeTempDir,
  PortfolioCluster,
  provisionServices,
  REPO_ROOT,
  TestEnv,
  writeModel,
} from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  report,
  runMain,
} from './bench-report';
import {
  CpuReport,
  cpuReport,
  cpuSnapshot,
  CpuTarget,
  pidsNamed,
} from './cpu-usage';
import {
  BENCH_MLP as MODEL,
  registerOnnxModel,
  startStandalone,
} from './portfolio-admin';
import { wrk, WrkPoint, wrkScript as scriptFor } from './wrk';
const ROW = [5.1, 3.5, 1.4, 0.2];
const ADMIN_KEY = 'bench-admin-key-0123456789';
const CONNECTIONS = [1, 32] as const;
const RAW_CALLS = 20_000;
/** Targets: p50 at 1 connection over raw (us), throughput at 32 connections x plain. */
const TARGETS = {
  standalone: { overheadUs: 150, throughput: 0.9 },
  distributed: { overheadUs: 600, throughput: 0.5 },
} as const;

type PathName = 'plain' | 'standalone' | 'distributed';

interface Point extends WrkPoint {
  /** At 32 connections: where the CPU went (see cpu-usage.ts). */
  cpu?: CpuReport;
}

interface PathResult {
  path: PathName;
  label: string;
  points: Point[];
}

interface Raw {
  p50_us: number;
  p99_us: number;
  calls_per_s: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** (a) session.run in a loop, one call at a time, in this process. */
async function raw(modelPath: string): Promise<Raw> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
  });
  const feeds = {
    x: new ort.Tensor('float32', Float32Array.from(ROW), [1, ROW.length]),
  };
  for (let i = 0; i < 2000; i++) await session.run(feeds);
  const times: number[] = [];
  const began = performance.now();
  for (let i = 0; i < RAW_CALLS; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push((performance.now() - t0) * 1000);
  }
  const seconds = (performance.now() - began) / 1000;
  await session.release();
  times.sort((a, b) => a - b);
  return {
    p50_us: percentile(times, 50),
    p99_us: percentile(times, 99),
    calls_per_s: RAW_CALLS / seconds,
  };
}

/** Processes (and main threads) whose CPU time the 32-connection point accounts for. */
function serverTargets(
  servers: readonly { label: string; pid: number | undefined }[],
): CpuTarget[] {
  const targets: CpuTarget[] = [];
  for (const { label, pid } of servers) {
    if (pid === undefined) continue;
    targets.push({ label, pids: () => [pid] });
    targets.push({
      label: `${label}: main thread`,
      pids: () => [pid],
      mainThread: true,
    });
  }
  return targets;
}

/** A first request (a miss for Portfolio), a short warm-up at 32 connections, then each point. */
async function measure(
  path: PathName,
  label: string,
  url: string,
  script: string,
  seconds: number,
  cpuTargets: readonly CpuTarget[],
): Promise<PathResult> {
  const first = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${ADMIN_KEY}`,
    },
    body: JSON.stringify({ inputs: [ROW] }),
  });
  if (first.status !== 200)
    throw new Error(`${label}: ${first.status} ${await first.text()}`);
  await wrk(url, script, 32, 2);
  const points: Point[] = [];
  for (const c of CONNECTIONS) {
    const before = c === 32 ? cpuSnapshot(cpuTargets) : null;
    const point: Point = await wrk(url, script, c, seconds);
    if (before)
      point.cpu = cpuReport(
        cpuTargets,
        before,
        cpuSnapshot(cpuTargets),
        point.rps * seconds,
        seconds,
      );
    if (point.non2xx > 0 || point.errors > 0)
      throw new Error(
        `${label} at ${c} connections: ${point.non2xx} non-2xx answers, ${point.errors} socket errors`,
      );
    points.push(point);
  }
  return { path, label, points };
}

async function plainServer(
  modelPath: string,
  profile: string | null,
): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...profileArgs(profile),
      '-r',
      '@swc-node/register',
      resolve(__dirname, 'plain-server.ts'),
      modelPath,
      String(port),
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: process.env },
  );
  await new Promise<void>((ready, fail) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('plain server ready')) ready();
    });
    child.once('exit', (code) =>
      fail(new Error(`plain server exited with ${code}`)),
    );
  });
  return {
    url: `http://127.0.0.1:${port}/predict`,
    pid: child.pid,
    stop: async () => {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * `--profile DIR`: every server process (the plain one and Portfolio's) writes a CPU
 * profile there when it stops.
 */
function profileArgs(dir: string | null): string[] {
  if (dir === null) return [];
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(dir)}`];
}

async function standalone(
  modelBytes: Uint8Array,
  script: string,
  seconds: number,
  profile: string | null,
): Promise<PathResult> {
  const { url, app } = await startStandalone(
    ADMIN_KEY,
    {},
    profileArgs(profile),
  );
  try {
    await registerOnnxModel(url, ADMIN_KEY, 'bench', modelBytes);
    return await measure(
      'standalone',
      'Portfolio standalone',
      `${url}/v1/models/bench/predict`,
      script,
      seconds,
      serverTargets([{ label: 'standalone app', pid: app.pid }]),
    );
  } finally {
    await app.stop();
  }
}

async function distributed(
  modelBytes: Uint8Array,
  script: string,
  seconds: number,
  profile: string | null,
): Promise<PathResult> {
  const services = await provisionServices();
  process.env[TestEnv.testPgUrl] = services.pgUrl;
  process.env[TestEnv.testNatsUrl] = services.natsUrl;
  const cluster = new PortfolioCluster({
    adminKey: ADMIN_KEY,
    runtimes: ['bench-runtime'],
    env: { PORTFOLIO_LOG_LEVEL: 'warn' },
    nodeArgs: profileArgs(profile),
  });
  try {
    await cluster.start();
    await cluster.waitUntilHealthy(1);
    await registerOnnxModel(cluster.url, ADMIN_KEY, 'bench', modelBytes);
    return await measure(
      'distributed',
      'Portfolio distributed',
      `${cluster.url}/v1/models/bench/predict`,
      script,
      seconds,
      [
        ...serverTargets([
          { label: 'gateway', pid: cluster.service('gateway').pid },
          { label: 'runtime', pid: cluster.service('bench-runtime').pid },
        ]),
        { label: 'nats-server', pids: () => pidsNamed('nats-server') },
        {
          label: 'model-registry, storage, cache-manager',
          pids: () =>
            ['model-registry', 'storage', 'cache-manager'].flatMap((name) => {
              const pid = cluster.service(name).pid;
              return pid === undefined ? [] : [pid];
            }),
        },
      ],
    );
  } finally {
    await cluster.stop();
    await services.stop();
  }
}

async function main(): Promise<void> {
  const options = benchOptions();
  const seconds = Number(options.values.get('seconds') ?? 6);
  const only = options.values.get('only') ?? null;
  const profile = options.values.get('profile') ?? null;
  const loadBefore = loadavg()[0];
  const dir = makeTempDir('bench-overhead');
  const modelBytes = buildMlpModel(MODEL);
  const modelPath = writeModel(dir, 'mlp.onnx', modelBytes);
  const script = scriptFor(dir, JSON.stringify({ inputs: [ROW] }), ADMIN_KEY);

  const floor = await raw(modelPath);
  const results: PathResult[] = [];
  if (only === null || only === 'plain') {
    const plain = await plainServer(modelPath, profile);
    try {
      results.push(
        await measure(
          'plain',
          'plain Fastify + onnxruntime-node',
          plain.url,
          script,
          seconds,
          serverTargets([{ label: 'plain server', pid: plain.pid }]),
        ),
      );
    } finally {
      await plain.stop();
    }
  }
  if (only === null || only === 'standalone')
    results.push(await standalone(modelBytes, script, seconds, profile));
  if (only === null || only === 'distributed')
    results.push(await distributed(modelBytes, script, seconds, profile));
  const loadAfter = loadavg()[0];

  const plain = results.find((r) => r.path === 'plain');
  const at = (r: PathResult | undefined, c: number) =>
    r?.points.find((p) => p.connections === c);
  const verdicts = results
    .filter((r) => r.path !== 'plain')
    .map((r) => {
      const target = TARGETS[r.path as 'standalone' | 'distributed'];
      const overheadUs = (at(r, 1)?.p50_us ?? NaN) - floor.p50_us;
      const plainRps = at(plain, 32)?.rps;
      const ratio =
        plainRps === undefined ? null : (at(r, 32)?.rps ?? NaN) / plainRps;
      return {
        path: r.path,
        overhead_us: overheadUs,
        overhead_target_us: target.overheadUs,
        overhead_met: overheadUs <= target.overheadUs,
        throughput_ratio: ratio,
        throughput_target: target.throughput,
        throughput_met: ratio === null ? null : ratio >= target.throughput,
      };
    });

  const rows: string[][] = [
    [
      'session.run in process (raw)',
      '-',
      floor.p50_us.toFixed(0),
      floor.p99_us.toFixed(0),
      floor.calls_per_s.toFixed(0),
      '1.00',
      '',
      '',
    ],
  ];
  for (const r of results)
    for (const p of r.points) {
      const plainPoint = at(plain, p.connections);
      rows.push([
        r.label,
        String(p.connections),
        p.p50_us.toFixed(0),
        p.p99_us.toFixed(0),
        p.rps.toFixed(0),
        (p.p50_us / floor.p50_us).toFixed(1),
        `+${(p.p50_us - floor.p50_us).toFixed(0)}`,
        plainPoint ? (p.rps / plainPoint.rps).toFixed(2) : '',
      ]);
    }
  const cpuRows: string[][] = [];
  for (const r of results) {
    const cpu = at(r, 32)?.cpu;
    if (!cpu) continue;
    let listed = 0;
    for (const share of cpu.shares) {
      if (!share.label.endsWith(': main thread')) listed += share.cores;
      cpuRows.push([
        r.label,
        share.label,
        share.us_per_request.toFixed(0),
        share.cores.toFixed(2),
      ]);
    }
    const busyCores = cpu.machine_busy * cpu.machine_cores;
    cpuRows.push([
      r.label,
      'everything else (wrk, kernel, other processes)',
      '',
      Math.max(0, busyCores - listed).toFixed(2),
    ]);
    cpuRows.push([
      r.label,
      `machine busy (of ${cpu.machine_cores} cores)`,
      '',
      `${busyCores.toFixed(2)} (${(cpu.machine_busy * 100).toFixed(0)}%)`,
    ]);
  }
  const yes = (met: boolean | null) =>
    met === null ? 'not measured' : met ? 'met' : 'NOT met';
  const body = [
    `MLP ${MODEL.inputSize}-${MODEL.hidden.join('-')}-${MODEL.outputSize} (ONNX, FP32), one row per request ` +
      `(\`{"inputs": [[${ROW.join(', ')}]]}\`). wrk (1 thread, ${seconds} s per point after a 2 s warm-up) at 1 and ` +
      `32 connections; the raw row is ${RAW_CALLS} session.run calls in a loop in the benchmark's process. ` +
      `Portfolio: one runtime worker thread in the distributed mode, the standalone app's defaults. ` +
      `Load generator and servers share the cores. ${machineLine()} Load average (1 min): ` +
      `${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`,
    '',
    markdownTable(
      [
        'path',
        'connections',
        'p50 (us)',
        'p99 (us)',
        'req/s',
        'p50 x raw',
        'p50 - raw (us)',
        'req/s x plain',
      ],
      rows,
    ),
    '',
    'Where the CPU went at 32 connections (CPU time from /proc over the same interval; a main thread near 1.00 core is what bounds throughput):',
    '',
    markdownTable(
      ['path', 'process', 'CPU per request (us)', 'cores busy'],
      cpuRows,
    ),
    '',
    ...verdicts.map(
      (v) =>
        `- ${v.path}: p50 at 1 connection raw + ${v.overhead_us.toFixed(0)} us (target <= + ${v.overhead_target_us} us: ` +
        `${yes(v.overhead_met)}); req/s at 32 connections ${v.throughput_ratio === null ? '-' : v.throughput_ratio.toFixed(2)} x ` +
        `the plain server (target >= ${v.throughput_target}: ${yes(v.throughput_met)}).`,
    ),
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  report(options, 'overhead', 'npm run bench:overhead -- --write', body, {
    load_average: { before: loadBefore, after: loadAfter },
    raw: floor,
    paths: results,
    targets: verdicts,
  });
}

runMain(main);
