/**
 * Artifact upload throughput: a 200 MiB ONNX model registered as a version through
 * `POST /admin/models/{id}/versions`, as one file (`application/octet-stream`) and as a
 * form with the graph and its 200 MiB external data file (`multipart/form-data`, which
 * the storage service unpacks), on the standalone app and on the distributed topology
 * (gateway -> NATS in chunks -> storage). Each upload is timed from its first byte to
 * the 201, and the peak RSS of the processes that carry it is read from /proc (VmHWM):
 * an upload streams, so it should not grow with the artifact.
 *
 *   npm run bench:upload                   # the table
 *   npm run bench:upload -- --write        # also records it in docs/benchmarks.md
 *   npm run bench:upload -- --mib 200 --rounds 3
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import {
  buildLargeModel,
  buildMultipart,
  makeTempDir,
  PortfolioCluster,
  provisionServices,
  TestEnv,
} from '@portfolio/testing';

import {
  benchOptions,
  machineLine,
  markdownTable,
  report,
  runMain,
} from './bench-report';
import { startStandalone } from './portfolio-admin';

const ADMIN_KEY = 'bench-admin-key-0123456789';
const MiB = 1024 * 1024;

interface Point {
  mode: 'standalone' | 'distributed';
  body: 'file' | 'form';
  artifact_mib: number;
  /** Median over rounds, first byte sent to the 201. */
  seconds: number;
  mib_per_s: number;
  /** Peak RSS (VmHWM) of each process that carried the uploads, in MiB. */
  peak_rss_mib: Record<string, number>;
  /** The same before the mode's first upload (start-up, warm-up). */
  peak_rss_before_mib: Record<string, number>;
}

/** Peak resident memory of a process since it started, from /proc (Linux). */
function peakRssMib(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Math.round(Number(kb) / 1024) : NaN;
}

async function upload(
  url: string,
  modelId: string,
  body: Buffer,
  contentType: string,
): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/admin/models/${modelId}/versions`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${ADMIN_KEY}`,
      'Content-Type': contentType,
    },
    body,
  });
  const text = await res.text();
  if (res.status !== 201)
    throw new Error(`upload answered ${res.status}: ${text.slice(0, 300)}`);
  return (performance.now() - started) / 1000;
}

async function register(url: string, id: string): Promise<void> {
  const res = await fetch(`${url}/admin/models`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${ADMIN_KEY}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ id, format: 'onnx' }),
  });
  if (res.status !== 201) throw new Error(`register answered ${res.status}`);
}

async function measure(
  mode: Point['mode'],
  url: string,
  bodies: { body: Point['body']; data: Buffer; contentType: string }[],
  artifactMib: number,
  rounds: number,
  pids: Record<string, number | undefined>,
): Promise<Point[]> {
  const points: Point[] = [];
  const peaks = () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, peakRssMib(pid)]),
    );
  const before = peaks();
  for (const b of bodies) {
    const id = `upload-${b.body}`;
    await register(url, id);
    const times: number[] = [];
    for (let r = 0; r < rounds; r++)
      times.push(await upload(url, id, b.data, b.contentType));
    times.sort((x, y) => x - y);
    const seconds = times[Math.floor(times.length / 2)];
    points.push({
      mode,
      body: b.body,
      artifact_mib: artifactMib,
      seconds,
      mib_per_s: b.data.length / MiB / seconds,
      peak_rss_mib: peaks(),
      peak_rss_before_mib: before,
    });
    process.stdout.write(
      `${mode} ${b.body}: ${seconds.toFixed(2)} s, ${(b.data.length / MiB / seconds).toFixed(0)} MiB/s\n`,
    );
  }
  return points;
}

async function main(): Promise<void> {
  const options = benchOptions();
  const mib = Number(options.values.get('mib') ?? 200);
  const rounds = Number(options.values.get('rounds') ?? 3);
  const dir = makeTempDir('bench-upload');
  try {
    const single = readFileSync(
      buildLargeModel({ weightBytes: mib * MiB, dir, name: 'single' }),
    );
    const graphPath = buildLargeModel({
      weightBytes: mib * MiB,
      externalData: true,
      dir,
      name: 'external',
    });
    const external = buildMultipart([
      { name: 'external.onnx', data: readFileSync(graphPath) },
      { name: 'external.data', data: readFileSync(join(dir, 'external.data')) },
    ]);
    const artifactMib = statSync(join(dir, 'external.data')).size / MiB;
    const bodies = [
      {
        body: 'file' as const,
        data: single,
        contentType: 'application/octet-stream',
      },
      {
        body: 'form' as const,
        data: external.body,
        contentType: external.contentType,
      },
    ];
    const points: Point[] = [];

    const solo = await startStandalone(ADMIN_KEY);
    try {
      points.push(
        ...(await measure('standalone', solo.url, bodies, artifactMib, rounds, {
          portfolio: solo.app.pid,
        })),
      );
    } finally {
      await solo.app.stop();
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
      points.push(
        ...(await measure(
          'distributed',
          cluster.url,
          bodies,
          artifactMib,
          rounds,
          {
            gateway: cluster.service('gateway').pid,
            storage: cluster.service('storage').pid,
          },
        )),
      );
    } finally {
      await cluster.stop();
      await services.stop();
    }

    const table = markdownTable(
      [
        'mode',
        'body',
        'artifact',
        'median time',
        'throughput',
        'peak RSS: before the uploads -> after',
      ],
      points.map((p) => [
        p.mode,
        p.body === 'file'
          ? 'one file (octet-stream)'
          : 'graph + external data (multipart)',
        `${p.artifact_mib.toFixed(0)} MiB`,
        `${p.seconds.toFixed(2)} s`,
        `${p.mib_per_s.toFixed(0)} MiB/s`,
        Object.entries(p.peak_rss_mib)
          .map(
            ([name, v]) => `${name} ${p.peak_rss_before_mib[name]} -> ${v} MiB`,
          )
          .join(', '),
      ]),
      [false, false, true, true, true, false],
    );
    process.stdout.write(`\n${table}\n`);
    const body = [
      `A ${mib} MiB ONNX model uploaded as a new version, ${rounds} times per row (median), through the gateway to the storage service (local driver). Peak RSS is each process's high-water mark (VmHWM): before its mode's first upload (start-up and warm-up), and after the row (the rows of a mode run one after the other). An upload streams: the peak does not grow with the artifact. The client sends from memory on the same machine; the form is unpacked and its files stored one by one, a second pass over the bytes.`,
      '',
      table,
      '',
      machineLine(),
    ].join('\n');
    report(options, 'upload', 'npm run bench:upload', body, points);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
