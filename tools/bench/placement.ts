/**
 * Placement decision time: `placeModel` of @portfolio/placement on a large cluster, as
 * the cache-manager calls it on every miss.
 *
 *   npm run bench:placement                  # the table
 *   npm run bench:placement -- --json FILE   # also the figures as JSON
 *   npm run bench:placement -- --write       # also records them in docs/benchmarks.md
 *
 * The cluster: 100 runtimes, 100,000 registered models of 20 MB to 2 GB with usage
 * (Zipf 1.0 popularity), the runtimes filled with models up to their capacity (a tenth
 * of the catalogue's bytes in all). Two cases: as filled (what room is left over fits
 * some models: no eviction needed), and every runtime's last byte taken (every decision
 * weighs victims on all 100 runtimes). Each decision places a model loaded nowhere, at
 * a later time than the last (usage decays between decisions).
 */
import { performance } from 'node:perf_hooks';

import { mulberry32, syntheticModels, zipf } from '@portfolio/cache-sim';
import {
  DEFAULT_POLICY_PARAMS,
  ModelFacts,
  placeModel,
  rankForEviction,
  recordRequests,
  ResidentModel,
  RuntimeState,
  Usage,
} from '@portfolio/placement';

import {
  benchOptions,
  machineLine,
  markdownTable,
  recordSection,
  runMain,
  writeJson,
} from './bench-report';

const RUNTIMES = 100;
const MODELS = 100_000;
const DECISIONS = 2_000;
const WARMUP = 200;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const options = benchOptions();
  const random = mulberry32(42);
  const models = syntheticModels(MODELS, random);
  const draw = zipf(MODELS, 1.0, random);
  const now = 24 * 3_600_000;
  // Usage: one million requests over the last day, Zipf 1.0.
  const usage = new Map<string, Usage>();
  for (let i = 0; i < 1_000_000; i++) {
    const m = models[draw()];
    usage.set(
      m.key,
      recordRequests(
        usage.get(m.key),
        now - random() * 86_400_000,
        DEFAULT_POLICY_PARAMS,
      ),
    );
  }
  const facts = (key: string): ModelFacts | undefined => {
    const i = Number(key.slice(1, key.indexOf('@')));
    const m = models[i];
    return m
      ? { usage: usage.get(key), loadMs: m.loadMs, bytes: m.bytes }
      : undefined;
  };

  // Fill each runtime to its capacity with models in a random order.
  const total = models.reduce((n, m) => n + m.bytes, 0);
  const capacity = Math.floor(total / 10 / RUNTIMES);
  const order = models.map((_, i) => i).sort(() => random() - 0.5);
  const runtimes: RuntimeState[] = [];
  const loaded = new Set<number>();
  let next = 0;
  for (let r = 0; r < RUNTIMES; r++) {
    const resident: ResidentModel[] = [];
    let used = 0;
    while (
      next < order.length &&
      used + models[order[next]].bytes <= capacity
    ) {
      const m = models[order[next]];
      resident.push({
        key: m.key,
        modelId: m.key.slice(0, m.key.indexOf('@')),
        state: 'loaded',
        bytes: m.bytes,
        pinned: random() < 0.02,
        preload: false,
        inFlight: random() < 0.05 ? 1 : 0,
        loadedAtMs: now - 3_600_000,
        lastUsedMs: usage.get(m.key)?.lastUsedMs ?? null,
        ttlMs: null,
        group: null,
      });
      loaded.add(order[next]);
      used += m.bytes;
      next++;
    }
    runtimes.push({
      nodeId: `runtime-${String(r).padStart(3, '0')}`,
      capacityBytes: capacity,
      softLimitBytes: Math.floor(capacity * 0.9),
      usedBytes: used,
      models: resident,
      loadsInFlight: 0,
      requestsInFlight: 0,
    });
  }
  const unloaded = models.map((_, i) => i).filter((i) => !loaded.has(i));
  const resident = runtimes.reduce((n, r) => n + r.models.length, 0);

  const measure = (states: readonly RuntimeState[]) => {
    const times: number[] = [];
    let evicting = 0;
    for (let i = 0; i < WARMUP + DECISIONS; i++) {
      const m = models[unloaded[Math.floor(random() * unloaded.length)]];
      const ctx = {
        nowMs: now + i * 1000,
        params: DEFAULT_POLICY_PARAMS,
        facts,
      };
      const t0 = performance.now();
      const d = placeModel(states, { key: m.key, bytes: m.bytes }, ctx);
      const t1 = performance.now();
      if (i >= WARMUP) {
        times.push(t1 - t0);
        if (d.kind === 'place' && d.victims.length > 0) evicting++;
      }
    }
    times.sort((a, b) => a - b);
    return {
      decisions: DECISIONS,
      decisions_with_eviction: evicting,
      p50_ms: quantile(times, 0.5),
      p99_ms: quantile(times, 0.99),
      max_ms: times[times.length - 1],
    };
  };
  // The cache-manager keeps each runtime's ranking until the runtime changes or a
  // second passes (see rankForEviction); ranking one runtime is timed on its own.
  const rankTimes: number[] = [];
  const ranked = runtimes.map((r) => {
    const t0 = performance.now();
    const order = rankForEviction(r, {
      nowMs: now,
      params: DEFAULT_POLICY_PARAMS,
      facts,
    });
    rankTimes.push(performance.now() - t0);
    return { ...r, ranked: order };
  });
  rankTimes.sort((a, b) => a - b);
  const full = (r: RuntimeState): RuntimeState => ({
    ...r,
    usedBytes: r.capacityBytes,
  });
  const cases = {
    as_filled: measure(ranked),
    all_full: measure(ranked.map(full)),
    all_full_unranked: measure(runtimes.map(full)),
  };
  const ranking = {
    p50_ms: quantile(rankTimes, 0.5),
    p99_ms: quantile(rankTimes, 0.99),
  };
  const labels: Record<keyof typeof cases, string> = {
    as_filled: 'runtimes filled, room left over',
    all_full: 'every runtime full',
    all_full_unranked: 'every runtime full, rankings made in the decision',
  };
  const figures = {
    runtimes: RUNTIMES,
    models_registered: MODELS,
    models_resident: resident,
    cases,
    ranking_one_runtime: ranking,
  };
  const table = markdownTable(
    [
      'cluster (100 runtimes, 100,000 models, ' + resident + ' loaded)',
      'decisions (evicting)',
      'p50 (ms)',
      'p99 (ms)',
      'max (ms)',
      'target p99',
    ],
    (Object.keys(cases) as (keyof typeof cases)[]).map((name) => [
      labels[name],
      `${cases[name].decisions} (${cases[name].decisions_with_eviction})`,
      cases[name].p50_ms.toFixed(3),
      cases[name].p99_ms.toFixed(3),
      cases[name].max_ms.toFixed(3),
      '<= 1 ms',
    ]),
    [false, true, true, true, true, false],
  );
  const rankLine = `Ranking one runtime's ${Math.round(resident / RUNTIMES)} models for eviction (done when it reports, at most once a second, not per decision): p50 ${ranking.p50_ms.toFixed(3)} ms, p99 ${ranking.p99_ms.toFixed(3)} ms.`;
  process.stdout.write(`\n${table}\n\n${rankLine}\n`);
  if (options.json) writeJson(options.json, figures);
  if (options.write) {
    const body = `\`placeModel\` on ${RUNTIMES} runtimes holding ${resident} of ${MODELS} registered models; ${DECISIONS} decisions per case after ${WARMUP} warm-up ones. ${machineLine()}\n\n${table}\n\n${rankLine}`;
    process.stdout.write(
      `recorded in ${recordSection('placement', 'npm run bench:placement -- --write', body)}\n`,
    );
  }
}

runMain(main);
