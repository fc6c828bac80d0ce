import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

import {
  buildLargeModel,
  largeModelSide,
  makeTempDir,
  metricFamilyOf,
  parsePrometheusText,
  PortfolioCluster,
  promqlMetricNames,
  REPO_ROOT,
  Sample,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http, useKey } from './http.testing';

const ADMIN_KEY = 'e2e-admin-key-0123456789';
const MiB = 1024 * 1024;
const RUNTIMES = ['runtime-a', 'runtime-b'];
/** Each runtime holds about two of these: six make it unload some to load others. */
const MODELS = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
/** Made by Prometheus for every target, not by a service. */
const PROMETHEUS_SERIES = new Set(['up']);
/** Every process exports these of its own: prom-client's process metrics, the bus's. */
const PER_PROCESS = /^portfolio_(process_|nodejs_|bus_)/;

interface Scrape {
  readonly types: Map<string, string>;
  readonly samples: Sample[];
}

/** The sum of the samples of `name` whose labels include `labels`. */
function sum(
  scrape: Scrape,
  name: string,
  labels: Record<string, string> = {},
): number {
  return scrape.samples
    .filter(
      (s) =>
        s.name === name &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    )
    .reduce((n, s) => n + s.value, 0);
}

/** Every PromQL expression of a Grafana dashboard: its panels' and its variables'. */
function dashboardExpressions(dashboard: {
  panels?: { targets?: { expr?: string }[]; panels?: unknown[] }[];
  templating?: { list?: { query?: string | { query?: string } }[] };
}): string[] {
  const exprs: string[] = [];
  const visit = (panels: unknown[] = []) => {
    for (const p of panels as {
      targets?: { expr?: string }[];
      panels?: unknown[];
    }[]) {
      for (const t of p.targets ?? []) if (t.expr) exprs.push(t.expr);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const query = typeof v.query === 'string' ? v.query : v.query?.query;
    if (!query) continue;
    // label_values(<selector>, <label>): the selector is PromQL, the label is not.
    const m = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(
      query.trim(),
    );
    exprs.push(m ? m[1] : query);
  }
  return exprs;
}

/**
 * Every service's Prometheus metrics, scraped from a running distributed cluster after
 * real traffic (misses that load, hits, evictions for room and by hand, a failed
 * lookup); and every dashboard and alert rule under deploy/ read against what the
 * cluster exports.
 */
describe('metrics of the distributed topology', () => {
  const dir = makeTempDir('e2e-metrics');
  const cluster = new PortfolioCluster({
    adminKey: ADMIN_KEY,
    runtimes: RUNTIMES,
    runtimeMaxMemory: '32MiB',
  });
  const scrapes = new Map<string, Scrape>();
  let uploadedBytes = 0;

  async function scrape(service: string): Promise<Scrape> {
    const res = await fetch(cluster.metricsUrl(service), {
      headers:
        service === 'gateway' ? { Authorization: `Bearer ${ADMIN_KEY}` } : {},
    });
    expect([service, res.status]).toEqual([service, 200]);
    expect(res.headers.get('content-type')).toBe(
      'text/plain; version=0.0.4; charset=utf-8',
    );
    return parsePrometheusText(await res.text());
  }

  async function predict(id: string, side: number): Promise<void> {
    const res = await http(`${cluster.url}/v1/models/${id}/predict`, {
      json: { inputs: { x: [Array.from({ length: side }, () => 0.5)] } },
    });
    if (res.status !== 200)
      throw new Error(
        `${id}: ${res.status} ${JSON.stringify(res.body)}\n${cluster.logs()}`,
      );
  }

  beforeAll(async () => {
    await cluster.start();
    useKey(cluster.url, ADMIN_KEY);
    await cluster.waitUntilHealthy(RUNTIMES.length);
    const side = largeModelSide(8 * MiB);
    for (const [i, id] of MODELS.entries()) {
      const path = buildLargeModel({
        weightBytes: 8 * MiB,
        dir,
        name: id,
        seed: i + 1,
      });
      const body = readFileSync(path);
      uploadedBytes += body.byteLength;
      expect(
        (
          await http(`${cluster.url}/admin/models`, {
            json: { id, format: 'onnx' },
          })
        ).status,
      ).toBe(201);
      expect(
        (await http(`${cluster.url}/admin/models/${id}/versions`, { body }))
          .status,
      ).toBe(201);
    }
    // Each a miss that loads; together more than the runtimes hold.
    for (const id of MODELS) await predict(id, side);
    // Loaded now: two hits.
    await predict(MODELS[MODELS.length - 1], side);
    await predict(MODELS[MODELS.length - 1], side);
    // An eviction by hand, and a lookup the registry refuses.
    expect(
      (
        await http(
          `${cluster.url}/admin/models/${MODELS[MODELS.length - 1]}/unload`,
          {
            json: {},
          },
        )
      ).status,
    ).toBe(200);
    expect((await http(`${cluster.url}/v1/models/nope/metadata`)).status).toBe(
      404,
    );

    for (const name of [
      'gateway',
      'model-registry',
      'storage',
      'cache-manager',
      ...RUNTIMES,
    ])
      scrapes.set(name, await scrape(name));
  }, 240_000);

  afterAll(() => cluster.stop());

  const get = (service: string): Scrape => {
    const s = scrapes.get(service);
    if (!s) throw new Error(`${service} was not scraped`);
    return s;
  };

  it('names every metric portfolio_*, and each is exported by one service only (bar the per-process ones)', () => {
    const owners = new Map<string, string[]>();
    for (const [service, s] of scrapes)
      for (const family of s.types.keys()) {
        expect([service, family]).toEqual([
          service,
          expect.stringMatching(/^portfolio_/),
        ]);
        const app = RUNTIMES.includes(service) ? 'runtime' : service;
        const list = owners.get(family) ?? [];
        if (!list.includes(app)) list.push(app);
        owners.set(family, list);
      }

    const shared = [...owners].filter(
      ([family, apps]) => apps.length > 1 && !PER_PROCESS.test(family),
    );
    expect(shared).toEqual([]);
  });

  it("has the gateway's traffic: requests by route and status with latency, hits and misses", () => {
    const g = get('gateway');
    const predictRoute = {
      method: 'POST',
      route: '/v1/models/:modelId/predict',
      status: '200',
    };

    expect(sum(g, 'portfolio_http_requests_total', predictRoute)).toBe(
      MODELS.length + 2,
    );
    expect(
      sum(g, 'portfolio_http_request_duration_seconds_count', predictRoute),
    ).toBe(MODELS.length + 2);
    expect(sum(g, 'portfolio_cache_misses_total')).toBeGreaterThanOrEqual(
      MODELS.length,
    );
    expect(sum(g, 'portfolio_cache_hits_total')).toBeGreaterThanOrEqual(2);
    expect(g.types.get('portfolio_grpc_requests_total')).toBe('counter');
    expect(g.types.get('portfolio_grpc_request_duration_seconds')).toBe(
      'histogram',
    );
    expect(
      sum(g, 'portfolio_bus_request_errors_total', {
        kind: 'reply',
        code: 'MODEL_NOT_FOUND',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("has the cache-manager's loads and evictions by reason, placement time, and the cluster", () => {
    const cm = get('cache-manager');

    expect(
      sum(cm, 'portfolio_model_loads_total', { reason: 'miss' }),
    ).toBeGreaterThanOrEqual(MODELS.length);
    expect(
      sum(cm, 'portfolio_model_evictions_total', { reason: 'capacity' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sum(cm, 'portfolio_model_evictions_total', {
        model: MODELS[MODELS.length - 1],
        reason: 'admin',
      }),
    ).toBe(1);
    expect(
      sum(cm, 'portfolio_placement_decision_duration_seconds_count', {
        result: 'place',
      }),
    ).toBeGreaterThanOrEqual(MODELS.length);
    expect(
      sum(cm, 'portfolio_cache_manager_lookups_total', { result: 'placed' }),
    ).toBeGreaterThanOrEqual(MODELS.length);
    for (const node of RUNTIMES)
      expect([node, sum(cm, 'portfolio_runtime_up', { node })]).toEqual([
        node,
        1,
      ]);
    expect(cm.types.get('portfolio_model_copies')).toBe('gauge');
    expect(cm.types.get('portfolio_model_load_failures_total')).toBe('counter');
  });

  it("has each runtime's memory against its limits, its models, loads, unloads and inference timing", () => {
    let inferences = 0;
    let runs = 0;
    let unloads = 0;
    for (const node of RUNTIMES) {
      const r = get(node);
      const memory = (kind: string) =>
        sum(r, 'portfolio_runtime_memory_bytes', { node, kind });
      expect([node, memory('capacity')]).toEqual([node, 32 * MiB]);
      expect(memory('soft_limit')).toBeGreaterThan(0);
      expect(memory('soft_limit')).toBeLessThanOrEqual(memory('capacity'));
      expect(memory('used')).toBeLessThanOrEqual(memory('capacity'));
      expect(memory('base')).toBeGreaterThan(0);
      expect(memory('rss')).toBeGreaterThan(memory('base') / 2);
      expect(
        r.samples.filter(
          (s) =>
            s.name === 'portfolio_runtime_models_loaded' &&
            s.labels['node'] === node,
        ),
      ).toHaveLength(1);
      inferences += sum(
        r,
        'portfolio_inference_compute_duration_seconds_count',
      );
      expect(sum(r, 'portfolio_inference_queue_duration_seconds_count')).toBe(
        sum(r, 'portfolio_inference_compute_duration_seconds_count'),
      );
      runs += sum(r, 'portfolio_inference_batch_rows_count');
      expect(sum(r, 'portfolio_runtime_load_duration_seconds_count')).toBe(
        sum(r, 'portfolio_runtime_loads_total', { result: 'loaded' }),
      );
      unloads += sum(r, 'portfolio_runtime_unloads_total');
    }

    expect(inferences).toBe(MODELS.length + 2);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(unloads).toBeGreaterThanOrEqual(2);
  });

  it('counts each load once on each side: what the cache-manager ordered is what the runtimes loaded', async () => {
    // Scraped again until both sides agree: a background load may fall between scrapes.
    await eventually('the same loads on both sides', async () => {
      const cm = await scrape('cache-manager');
      const runtimes = await Promise.all(RUNTIMES.map(scrape));
      const ordered = sum(cm, 'portfolio_model_loads_total');
      const loaded = runtimes.reduce(
        (n, r) =>
          n + sum(r, 'portfolio_runtime_loads_total', { result: 'loaded' }),
        0,
      );
      return ordered >= MODELS.length && ordered === loaded ? true : null;
    });
  });

  it("has the registry's latency per bus method and per database operation", () => {
    const reg = get('model-registry');

    expect(
      sum(reg, 'portfolio_registry_db_duration_seconds_count', {
        operation: 'create_version',
        result: 'ok',
      }),
    ).toBe(MODELS.length);
    expect(
      reg.samples.some(
        (s) =>
          s.name === 'portfolio_bus_handler_duration_seconds_count' &&
          /^registry\./.test(s.labels['name'] ?? '') &&
          s.labels['code'] === 'OK' &&
          s.value > 0,
      ),
    ).toBe(true);
  });

  it("has storage's upload bytes and times, and its trial loads", () => {
    const st = get('storage');

    expect(sum(st, 'portfolio_storage_upload_bytes_total')).toBe(uploadedBytes);
    expect(
      sum(st, 'portfolio_storage_upload_duration_seconds_count', {
        result: 'stored',
      }),
    ).toBe(MODELS.length);
    expect(
      sum(st, 'portfolio_storage_trial_loads_total', {
        format: 'onnx',
        result: 'loaded',
      }),
    ).toBe(MODELS.length);
    expect(st.types.get('portfolio_storage_download_bytes_total')).toBe(
      'counter',
    );
  });

  describe('deploy/ reads only metrics the cluster exports', () => {
    const families = () => {
      const all = new Map<string, string>();
      for (const s of scrapes.values())
        for (const [family, type] of s.types) all.set(family, type);
      return all;
    };
    const unknown = (exprs: string[]) => {
      const exported = families();
      return exprs.flatMap((expr) => {
        const names = promqlMetricNames(expr);
        if (names.length === 0) return [`${expr}: names no metric`];
        return names
          .filter(
            (n) =>
              !PROMETHEUS_SERIES.has(n) &&
              metricFamilyOf(n, exported) === undefined,
          )
          .map((n) => `${expr}: ${n}`);
      });
    };

    it('would catch a metric nobody exports', () => {
      expect(
        unknown(['rate(portfolio_not_exported_total[5m])', 'up == 0']),
      ).toEqual([
        'rate(portfolio_not_exported_total[5m]): portfolio_not_exported_total',
      ]);
    });

    const dashboards = join(REPO_ROOT, 'deploy/grafana/dashboards');
    it.each(readdirSync(dashboards).filter((f) => f.endsWith('.json')))(
      'dashboard %s',
      (file) => {
        const exprs = dashboardExpressions(
          JSON.parse(readFileSync(join(dashboards, file), 'utf8')),
        );

        expect(exprs.length).toBeGreaterThan(0);
        expect(unknown(exprs)).toEqual([]);
      },
    );

    it('alert rules', () => {
      const rules = parse(
        readFileSync(join(REPO_ROOT, 'deploy/prometheus/alerts.yml'), 'utf8'),
      ) as { groups: { rules: { expr: string }[] }[] };
      const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));

      expect(exprs.length).toBeGreaterThan(0);
      expect(unknown(exprs)).toEqual([]);
    });
  });
});
