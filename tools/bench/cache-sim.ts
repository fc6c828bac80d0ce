/**
 * The cache policy against plain LRU, GDSF and Belady's offline choice, on request
 * traces: synthetic ones (stationary Zipf at four skews; popularity that shifts) and
 * traces the product recorded (`runtime.request_log`, format in tools/cache-sim).
 *
 *   npm run bench:cache-sim                          # the table
 *   npm run bench:cache-sim -- --json out.json       # also the figures as JSON
 *   npm run bench:cache-sim -- --write               # also records them in docs/benchmarks.md
 *   npm run bench:cache-sim -- --trace requests.jsonl --capacity 40MiB
 *   npm run bench:cache-sim -- --export DIR          # writes the synthetic traces as JSON lines
 *
 * Every policy runs on the same cache (a tenth of the catalogue's bytes for the
 * synthetic traces) and never above it; Portfolio's row runs the very `chooseVictims`
 * the cache-manager uses.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  belady,
  bursts,
  dailyCycle,
  gdsf,
  lru,
  newHotModels,
  oracleRate,
  parseTrace,
  portfolio,
  simulate,
  SimResult,
  stationaryZipf,
  tenthOfCatalogue,
  toRecords,
  Trace,
} from '@portfolio/cache-sim';
import { parseSize } from '@portfolio/config';

import {
  benchOptions,
  machineLine,
  markdownTable,
  recordSection,
  runMain,
  writeJson,
} from './bench-report';

const POLICIES = { portfolio: portfolio(), lru, gdsf, belady } as const;
type PolicyName = keyof typeof POLICIES;

/** Targets of the cache issue: reload time of Portfolio's policy relative to the others. */
const TARGETS: Record<Trace['kind'], { belady?: number; lru: number }> = {
  stationary: { belady: 1.15, lru: 0.85 },
  shifting: { lru: 0.95 },
  recorded: { lru: 1 },
};

function syntheticTraces(): Trace[] {
  return [
    stationaryZipf({ seed: 1, skew: 0.6 }),
    stationaryZipf({ seed: 2, skew: 0.8 }),
    stationaryZipf({ seed: 3, skew: 1.0 }),
    stationaryZipf({ seed: 4, skew: 1.2 }),
    newHotModels(5),
    bursts(6),
    dailyCycle(7),
  ];
}

interface TraceReport {
  name: string;
  kind: Trace['kind'];
  models: number;
  requests: number;
  hours: number;
  results: Record<PolicyName, SimResult>;
  reference: { oracle_rate: SimResult };
}

function run(trace: Trace, capacity: number): TraceReport {
  const results = {} as Record<PolicyName, SimResult>;
  for (const [name, factory] of Object.entries(POLICIES) as [
    PolicyName,
    (typeof POLICIES)[PolicyName],
  ][])
    results[name] = simulate(trace, capacity, factory);
  const { timeMs } = trace.requests;
  return {
    name: trace.name,
    kind: trace.kind,
    models: trace.models.length,
    requests: timeMs.length,
    hours: (timeMs[timeMs.length - 1] - timeMs[0]) / 3_600_000,
    results,
    reference: { oracle_rate: simulate(trace, capacity, oracleRate) },
  };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
const gb = (bytes: number) => (bytes / 1e9).toFixed(2);

function traceTable(r: TraceReport): string {
  const bel = r.results.belady.reload_seconds;
  const base = r.results.lru.reload_seconds;
  const rows = [...Object.values(r.results), r.reference.oracle_rate].map(
    (x) => [
      x.policy === 'oracle-rate'
        ? 'oracle-rate (reference, not online)'
        : x.policy,
      x.hit_ratio.toFixed(3),
      x.byte_miss_ratio.toFixed(3),
      x.reload_seconds.toFixed(0),
      ratio(x.reload_seconds, bel).toFixed(3),
      ratio(x.reload_seconds, base).toFixed(3),
      `${gb(x.peak_bytes)} / ${gb(x.capacity_bytes)}`,
    ],
  );
  return [
    `**${r.name}** (${r.kind}; ${r.models} models, ${r.requests} requests over ${r.hours.toFixed(1)} h; first loads: ${r.results.lru.cold_reload_seconds.toFixed(0)} s of every policy's total)`,
    '',
    markdownTable(
      [
        'policy',
        'hit ratio',
        'byte miss ratio',
        'reload time (s)',
        'x Belady',
        'x LRU',
        'peak / capacity (GB)',
      ],
      rows,
    ),
  ].join('\n');
}

/**
 * The same stationary traces with every model of one size and one load time. Requests
 * are independent draws from fixed popularities, and for equal sizes keeping the most
 * popular models (what oracle-rate does with their true rates) is the best any online
 * policy can do (Aho, Denning and Ullman, 1971); its distance to Belady is the price of
 * not knowing the future, which no online policy can close.
 */
function boundsTable(traces: readonly Trace[]): string {
  const rows = traces
    .filter((t) => t.kind === 'stationary')
    .map((t) => {
      const uniform: Trace = {
        ...t,
        models: t.models.map((m) => ({
          ...m,
          bytes: 400_000_000,
          loadMs: 1_000,
        })),
      };
      const capacity = tenthOfCatalogue(uniform);
      const best = simulate(uniform, capacity, oracleRate).reload_seconds;
      const bel = simulate(uniform, capacity, belady).reload_seconds;
      const ours = simulate(
        uniform,
        capacity,
        POLICIES.portfolio,
      ).reload_seconds;
      return [t.name, ratio(best, bel).toFixed(3), ratio(ours, bel).toFixed(3)];
    });
  return markdownTable(
    [
      'trace, every model 400 MB / 1 s',
      'best online x Belady',
      'Portfolio x Belady',
    ],
    rows,
  );
}

function summaryTable(reports: readonly TraceReport[]): string {
  const rows = reports.map((r) => {
    const t = TARGETS[r.kind];
    const p = r.results.portfolio.reload_seconds;
    const vsBel = ratio(p, r.results.belady.reload_seconds);
    const vsLru = ratio(p, r.results.lru.reload_seconds);
    const gdsfBel = ratio(
      r.results.gdsf.reload_seconds,
      r.results.belady.reload_seconds,
    );
    const met = (t.belady === undefined || vsBel <= t.belady) && vsLru <= t.lru;
    return [
      r.name,
      vsBel.toFixed(3),
      vsLru.toFixed(3),
      gdsfBel.toFixed(3),
      ratio(
        r.reference.oracle_rate.reload_seconds,
        r.results.belady.reload_seconds,
      ).toFixed(3),
      `${t.belady === undefined ? '' : `<= ${t.belady} x Belady, `}<= ${t.lru} x LRU`,
      met ? 'met' : 'NOT met',
    ];
  });
  return markdownTable(
    [
      'trace',
      'Portfolio x Belady',
      'Portfolio x LRU',
      'GDSF x Belady',
      'oracle-rate x Belady',
      'target',
      '',
    ],
    rows,
  );
}

async function main(): Promise<void> {
  const options = benchOptions();
  const traceFile = options.values.get('trace');
  const exportDir = options.values.get('export');
  let traces: Trace[];
  let capacityOf: (t: Trace) => number;
  if (traceFile) {
    const capacity = options.values.get('capacity');
    if (!capacity)
      throw new Error(
        '--trace needs --capacity (bytes or e.g. 40MiB): the cache to replay it on',
      );
    traces = [parseTrace(readFileSync(traceFile, 'utf8'), traceFile)];
    const bytes = parseSize(capacity, '--capacity');
    capacityOf = () => bytes;
  } else {
    traces = syntheticTraces();
    capacityOf = tenthOfCatalogue;
  }
  if (exportDir) {
    mkdirSync(exportDir, { recursive: true });
    for (const t of traces) {
      const lines: string[] = [];
      for (const r of toRecords(t)) lines.push(JSON.stringify(r));
      writeFileSync(
        join(exportDir, `${t.name}.jsonl`),
        `${lines.join('\n')}\n`,
      );
    }
    process.stdout.write(`wrote ${traces.length} traces to ${exportDir}\n`);
  }

  const reports: TraceReport[] = [];
  for (const t of traces) {
    const started = Date.now();
    const report = run(t, capacityOf(t));
    reports.push(report);
    process.stdout.write(
      `\n${traceTable(report)}\n(simulated in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
    );
  }
  const summary = summaryTable(reports);
  process.stdout.write(`\n${summary}\n`);
  const bounds = traceFile ? '' : boundsTable(traces);
  if (bounds) process.stdout.write(`\n${bounds}\n`);

  if (options.json) {
    writeJson(options.json, {
      traces: reports.map((r) => ({
        name: r.name,
        kind: r.kind,
        results: r.results,
        reference: r.reference,
      })),
    });
    process.stdout.write(`figures written to ${options.json}\n`);
  }
  if (options.write) {
    if (traceFile)
      throw new Error('--write records the synthetic experiments only');
    const body = [
      `Cache of a tenth of the catalogue's bytes, eviction only (no soft limit, no preloading); reload time is the sum of the load times of every miss. ${machineLine()}`,
      '',
      summary,
      '',
      'The same stationary traces with every model of one size and load time, where keeping the most popular models (oracle-rate) is provably the best online policy:',
      '',
      bounds,
      '',
      ...reports.map((r) => `${traceTable(r)}\n`),
    ].join('\n');
    process.stdout.write(
      `recorded in ${recordSection('cache-sim', 'npm run bench:cache-sim -- --write', body)}\n`,
    );
  }
}

runMain(main);
