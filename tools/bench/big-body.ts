/**
 * What one large JSON prediction costs everyone else: the standalone app serves a batch
 * of 250,000 rows (1,000,000 numbers, the default gateway.max_json_elements) as JSON on
 * /v1 and on /v2 while a second client asks /v1/health every 2 ms; the health answers'
 * latency during the big request is what any other request would have waited. With
 * gateway.json_offload on (the default: large bodies parsed, large answers written on a
 * thread of their own) and off (everything on the event loop), in one run.
 *
 *   npm run bench:big-body                     # the table
 *   npm run bench:big-body -- --write          # also records it in docs/benchmarks.md
 *   npm run bench:big-body -- --rounds 10      # big requests per point (default 5)
 */
import { loadavg } from 'node:os';

import { buildMlpModel } from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  report,
  runMain,
} from './bench-report';
import {
  BENCH_MLP as MODEL,
  registerOnnxModel,
  startStandalone,
} from './portfolio-admin';
const ROWS = 250_000;
const ADMIN_KEY = 'bench-admin-key-0123456789';
const HEALTH_EVERY_MS = 2;

interface Point {
  offload: boolean;
  api: 'v1' | 'v2';
  body_mb: number;
  /** The big request, start to last byte, median over rounds. */
  request_ms: number;
  /** Health answers during the big requests, all rounds pooled. */
  health_answers: number;
  health_p50_ms: number;
  health_p99_ms: number;
  health_max_ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

async function measure(
  url: string,
  api: 'v1' | 'v2',
  body: string,
  rounds: number,
  offload: boolean,
): Promise<Point> {
  const path =
    api === 'v1' ? '/v1/models/bench/predict' : '/v2/models/bench/infer';
  const headers = {
    Authorization: `Bearer ${ADMIN_KEY}`,
    'Content-Type': 'application/json',
  };
  const health: number[] = [];
  const requests: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let done = false;
    const started = performance.now();
    const big = fetch(`${url}${path}`, { method: 'POST', headers, body }).then(
      async (res) => {
        const text = await res.text();
        done = true;
        if (res.status !== 200)
          throw new Error(`${api}: ${res.status} ${text.slice(0, 200)}`);
        return performance.now() - started;
      },
    );
    while (!done) {
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/health`);
      await res.text();
      health.push(performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, HEALTH_EVERY_MS));
    }
    requests.push(await big);
  }
  health.sort((a, b) => a - b);
  requests.sort((a, b) => a - b);
  return {
    offload,
    api,
    body_mb: body.length / 1e6,
    request_ms: percentile(requests, 50),
    health_answers: health.length,
    health_p50_ms: percentile(health, 50),
    health_p99_ms: percentile(health, 99),
    health_max_ms: health[health.length - 1],
  };
}

async function serve(
  offload: boolean,
  modelBytes: Uint8Array,
  bodies: Record<'v1' | 'v2', string>,
  rounds: number,
): Promise<Point[]> {
  const { url, app } = await startStandalone(ADMIN_KEY, {
    PORTFOLIO_GATEWAY_JSON_OFFLOAD: String(offload),
  });
  try {
    await registerOnnxModel(url, ADMIN_KEY, 'bench', modelBytes);
    // The model loaded and every code path warm before anything is measured.
    await measure(url, 'v1', bodies.v1, 1, offload);
    await measure(url, 'v2', bodies.v2, 1, offload);
    return [
      await measure(url, 'v1', bodies.v1, rounds, offload),
      await measure(url, 'v2', bodies.v2, rounds, offload),
    ];
  } finally {
    await app.stop();
  }
}

async function main(): Promise<void> {
  const options = benchOptions();
  const rounds = Number(options.values.get('rounds') ?? 5);
  const loadBefore = loadavg()[0];
  const rows = Array.from({ length: ROWS }, (_, i) => [
    5.1 + (i % 7) * 0.1,
    3.5,
    1.4,
    0.2,
  ]);
  const bodies = {
    v1: JSON.stringify({ inputs: rows }),
    v2: JSON.stringify({
      inputs: [
        { name: 'x', shape: [ROWS, 4], datatype: 'FP32', data: rows.flat() },
      ],
    }),
  };
  const modelBytes = buildMlpModel(MODEL);
  const points = [
    ...(await serve(false, modelBytes, bodies, rounds)),
    ...(await serve(true, modelBytes, bodies, rounds)),
  ];
  const loadAfter = loadavg()[0];

  const body = [
    `The standalone app (defaults) serving MLP ${MODEL.inputSize}-${MODEL.hidden.join('-')}-${MODEL.outputSize} ` +
      `with softmax; ${rounds} requests of ${ROWS} rows (${ROWS * MODEL.inputSize} numbers in, ${ROWS * MODEL.outputSize} out) ` +
      `as JSON, one at a time, while another client asks GET /v1/health every ${HEALTH_EVERY_MS} ms; the health ` +
      `latency is what any other request waited while the big one was served. gateway.json_offload off, then on, ` +
      `in one run. ${machineLine()} Load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`,
    '',
    markdownTable(
      [
        'json_offload',
        'API',
        'body (MB)',
        'big request p50 (ms)',
        'health answers',
        'health p50 (ms)',
        'health p99 (ms)',
        'health max (ms)',
      ],
      points.map((p) => [
        p.offload ? 'on' : 'off',
        p.api === 'v1' ? '/v1 predict' : '/v2 infer',
        p.body_mb.toFixed(1),
        p.request_ms.toFixed(0),
        String(p.health_answers),
        p.health_p50_ms.toFixed(1),
        p.health_p99_ms.toFixed(1),
        p.health_max_ms.toFixed(1),
      ]),
    ),
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  report(options, 'big-body', 'npm run bench:big-body -- --write', body, {
    load_average: { before: loadBefore, after: loadAfter },
    points,
  });
}

runMain(main);
