/**
 * Prediction latency and throughput through the gateway, against the floor: ONNX
 * Runtime called directly on the same model in this process.
 *
 *   npm run bench:predict                 # prints the table
 *   npm run bench:predict -- --write      # also records it in docs/benchmarks.md
 *
 * Runs the built apps (npm run build first): the standalone app, and the distributed
 * topology (gateway, registry, storage, cache-manager, one runtime) over NATS and
 * PostgreSQL (the ones named by PORTFOLIO_DATABASE_URL / PORTFOLIO_NATS_URL, or
 * throwaway servers). Client and servers share this machine's cores.
 */
import * as ort from 'onnxruntime-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  buildMlpModel,
  makeTempDir,
  PortfolioCluster,
  provisionServices,
  REPO_ROOT,
  TestEnv,
  writeModel,
} from '@portfolio/testing';

import {
  BENCH_MLP as MODEL,
  registerOnnxModel,
  startStandalone,
} from './portfolio-admin';
const ADMIN_KEY = 'bench-admin-key-0123456789';
const WARMUP = 300;
const SEQUENTIAL = 3000;
const CONCURRENT_CLIENTS = 8;
const CONCURRENT_SECONDS = 5;

interface Row {
  path: string;
  p50: number;
  p99: number;
  throughput: number | null;
}

function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

async function direct(modelPath: string): Promise<Row> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
  });
  const feeds = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from([5.1, 3.5, 1.4, 0.2]),
      [1, 4],
    ),
  };
  for (let i = 0; i < WARMUP; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  let count = 0;
  const end = performance.now() + CONCURRENT_SECONDS * 1000;
  while (performance.now() < end) {
    await session.run(feeds);
    count++;
  }
  await session.release();
  times.sort((a, b) => a - b);
  return {
    path: 'onnxruntime-node in process (floor)',
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    throughput: count / CONCURRENT_SECONDS,
  };
}

async function overHttp(label: string, url: string): Promise<Row> {
  const body = JSON.stringify({ inputs: { x: [[5.1, 3.5, 1.4, 0.2]] } });
  const predict = async () => {
    const res = await fetch(`${url}/v1/models/bench/predict`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    if (res.status !== 200)
      throw new Error(`predict answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  for (let i = 0; i < WARMUP; i++) await predict();
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    await predict();
    times.push(performance.now() - t0);
  }
  let count = 0;
  const end = performance.now() + CONCURRENT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENT_CLIENTS }, async () => {
      while (performance.now() < end) {
        await predict();
        count++;
      }
    }),
  );
  times.sort((a, b) => a - b);
  return {
    path: label,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    throughput: count / CONCURRENT_SECONDS,
  };
}

async function register(url: string, modelBytes: Uint8Array): Promise<number> {
  await registerOnnxModel(url, ADMIN_KEY, 'bench', modelBytes);
  // The first prediction is a miss: placement, load, warm-up.
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/models/bench/predict`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
  });
  if (res.status !== 200)
    throw new Error(`first predict: ${res.status} ${await res.text()}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const write = process.argv.includes('--write');
  const dir = makeTempDir('bench');
  const modelBytes = buildMlpModel(MODEL);
  const modelPath = writeModel(dir, 'mlp.onnx', modelBytes);
  const rows: Row[] = [await direct(modelPath)];
  const misses: string[] = [];

  const { url, app: standalone } = await startStandalone(ADMIN_KEY);
  try {
    misses.push(
      `standalone: ${(await register(url, modelBytes)).toFixed(1)} ms`,
    );
    rows.push(
      await overHttp(
        'standalone: HTTP -> in-process bus -> worker thread',
        url,
      ),
    );
  } finally {
    await standalone.stop();
  }

  const services = await provisionServices();
  process.env[TestEnv.testPgUrl] = services.pgUrl;
  process.env[TestEnv.testNatsUrl] = services.natsUrl;
  const cluster = new PortfolioCluster({
    adminKey: ADMIN_KEY,
    runtimes: ['bench-runtime'],
    env: { PORTFOLIO_LOG_LEVEL: 'warn' },
  });
  try {
    await cluster.start();
    await cluster.waitUntilHealthy(1);
    misses.push(
      `distributed: ${(await register(cluster.url, modelBytes)).toFixed(1)} ms`,
    );
    rows.push(
      await overHttp(
        'distributed: HTTP -> gateway -> NATS -> runtime -> worker thread',
        cluster.url,
      ),
    );
  } finally {
    await cluster.stop();
    await services.stop();
  }

  const table = [
    `Model: MLP ${MODEL.inputSize}-${MODEL.hidden.join('-')}-${MODEL.outputSize} (ONNX, FP32), batch 1. ` +
      `${SEQUENTIAL} sequential requests after ${WARMUP} warm-up ones for the latencies; ` +
      `${CONCURRENT_CLIENTS} concurrent clients for ${CONCURRENT_SECONDS} s for the throughput ` +
      `(the floor row: one caller in a loop). One runtime worker thread. Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; client and servers on the same cores.`,
    '',
    '| path | p50 latency (ms) | p99 latency (ms) | throughput (req/s) |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.path} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.throughput === null ? '' : r.throughput.toFixed(0)} |`,
    ),
    '',
    `First prediction after registration (a miss: placement, load, warm-up, inference): ${misses.join('; ')}.`,
  ].join('\n');
  process.stdout.write(`\n${table}\n`);

  if (write) {
    const file = join(REPO_ROOT, 'docs', 'benchmarks.md');
    const begin = '<!-- bench:predict-latency:begin -->';
    const end = '<!-- bench:predict-latency:end -->';
    const current = readFileSync(file, 'utf8');
    const section = `${begin}\n_Recorded ${new Date().toISOString().slice(0, 10)} by \`npm run bench:predict -- --write\`._\n\n${table}\n${end}`;
    const next = current.includes(begin)
      ? current.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section)
      : `${current.trimEnd()}\n\n${section}\n`;
    writeFileSync(file, next);
    process.stdout.write(`recorded in ${file}\n`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
