/**
 * Dynamic batching: a compute-bound model (MLP 256-2048-2048-8, 18 MiB of weights) served by the standalone
 * app to 32 concurrent clients sending one row each, registered twice in one run: with
 * `max_batch_size: 32` (runs that wait together are merged into one) and with
 * `max_batch_size: 1` (every request runs alone). Same app, same model bytes, same
 * load generator (wrk); the target is at least 3x the throughput at no worse p99.
 *
 *   npm run bench:batching                  # the table
 *   npm run bench:batching -- --write       # also records it in docs/benchmarks.md
 *   npm run bench:batching -- --seconds 10 --delay 0
 */
import { loadavg } from 'node:os';

import { buildMlpModel, makeTempDir } from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  report,
  runMain,
} from './bench-report';
import { registerOnnxModel, startStandalone } from './portfolio-admin';
import { wrk, WrkPoint, wrkScript } from './wrk';

const ADMIN_KEY = 'bench-admin-key-0123456789';
const MODEL = { inputSize: 256, hidden: [2048, 2048], outputSize: 8, seed: 5 };
const CONNECTIONS = 32;
const TARGET_RATIO = 3;

interface Row extends WrkPoint {
  model: string;
  max_batch_size: number;
}

async function patch(
  url: string,
  id: string,
  settings: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(`${url}/admin/models/${id}`, {
    method: 'PATCH',
    headers: {
      Authorization: `Bearer ${ADMIN_KEY}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(settings),
  });
  if (res.status !== 200)
    throw new Error(`PATCH ${id}: ${res.status} ${await res.text()}`);
}

async function main(): Promise<void> {
  const options = benchOptions();
  const seconds = Number(options.values.get('seconds') ?? 10);
  const delay = options.values.get('delay') ?? '0';
  const dir = makeTempDir('bench-batching');
  const bytes = buildMlpModel(MODEL);
  const row = Array.from(
    { length: MODEL.inputSize },
    (_, i) => ((i % 17) - 8) / 8,
  );
  const body = JSON.stringify({ inputs: [row] });
  const load = [loadavg()[0]];
  const { url, app } = await startStandalone(ADMIN_KEY);
  const rows: Row[] = [];
  try {
    for (const [model, maxBatch] of [
      ['batched', 32],
      ['unbatched', 1],
    ] as const) {
      await registerOnnxModel(url, ADMIN_KEY, model, bytes);
      // Settings apply from the next load: set before the first request loads it.
      await patch(url, model, {
        max_batch_size: maxBatch,
        max_queue_delay: `${delay}ms`,
      });
      const target = `${url}/v1/models/${model}/predict`;
      const first = await fetch(target, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${ADMIN_KEY}`,
        },
        body,
      });
      if (first.status !== 200)
        throw new Error(`${model}: ${first.status} ${await first.text()}`);
      const script = wrkScript(dir, body, ADMIN_KEY, model);
      await wrk(target, script, CONNECTIONS, 2);
      const point = await wrk(target, script, CONNECTIONS, seconds);
      if (point.non2xx > 0 || point.errors > 0)
        throw new Error(
          `${model}: ${point.non2xx} non-2xx answers, ${point.errors} socket errors`,
        );
      rows.push({ model, max_batch_size: maxBatch, ...point });
      process.stdout.write(
        `${model}: ${point.rps.toFixed(0)} req/s, p50 ${point.p50_us} us, p99 ${point.p99_us} us\n`,
      );
    }
  } finally {
    await app.stop();
  }
  load.push(loadavg()[0]);
  const [batched, alone] = rows;
  const ratio = batched.rps / alone.rps;
  const table = markdownTable(
    ['model', 'max_batch_size', 'req/s', 'p50 (us)', 'p99 (us)', 'x unbatched'],
    rows.map((r) => [
      r.model,
      String(r.max_batch_size),
      r.rps.toFixed(0),
      String(r.p50_us),
      String(r.p99_us),
      (r.rps / alone.rps).toFixed(2),
    ]),
  );
  const verdict = `Throughput with batching ${ratio.toFixed(2)} x without (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}); p99 ${batched.p99_us} us against ${alone.p99_us} us (target: no worse: ${batched.p99_us <= alone.p99_us ? 'met' : 'NOT met'}).`;
  process.stdout.write(`\n${table}\n\n${verdict}\n`);
  const text = [
    `MLP ${MODEL.inputSize}-${MODEL.hidden.join('-')}-${MODEL.outputSize} (ONNX, FP32), one row per request, ${CONNECTIONS} connections (wrk, 1 thread, ${seconds} s after a 2 s warm-up), the standalone app with its defaults; the same model registered twice in one run, \`max_batch_size\` 32 and 1, \`max_queue_delay\` ${delay} ms. Load generator and server share the cores. ${machineLine()} Load average (1 min): ${load[0].toFixed(2)} before, ${load[1].toFixed(2)} after.`,
    '',
    table,
    '',
    `- ${verdict}`,
  ].join('\n');
  report(options, 'batching', 'npm run bench:batching', text, {
    rows,
    ratio,
  });
}

runMain(main);
