import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';

import {
  buildLargeModel,
  largeModelSide,
  makeTempDir,
  PortfolioCluster,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http, useKey } from './http.testing';
import { expectClose, runDirectly } from './prediction-flow.testing';

const ADMIN_KEY = 'e2e-admin-key-0123456789';
const MiB = 1024 * 1024;

interface Status {
  runtimes: {
    node_id: string;
    capacity_bytes: number;
    soft_limit_bytes: number;
    used_bytes: number;
    rss_bytes: number;
    memory: { base_bytes: number; loading_bytes: number };
  }[];
  models: {
    model_id: string;
    state: string;
    nodes: string[];
    loads: number;
    evictions: number;
    evictions_by_reason: Record<string, number>;
  }[];
}

/** A model of about `mib` MiB of weights (embedded), its input size and its outputs for one row. */
interface Built {
  id: string;
  path: string;
  side: number;
  row: number[];
  expected: Float32Array;
}

async function build(
  dir: string,
  id: string,
  mib: number,
  seed: number,
): Promise<Built> {
  const path = buildLargeModel({ weightBytes: mib * MiB, dir, name: id, seed });
  const side = largeModelSide(mib * MiB);
  const row = Array.from(
    { length: side },
    (_, i) => ((i * 7 + seed) % 11) / 10 - 0.5,
  );
  const out = await runDirectly(path, {
    x: new ort.Tensor('float32', Float32Array.from(row), [1, side]),
  });
  return { id, path, side, row, expected: out['y'].data as Float32Array };
}

function admin(url: string) {
  return {
    async register(
      m: Built,
      settings: Record<string, unknown> = {},
    ): Promise<void> {
      const created = await http(`${url}/admin/models`, {
        json: { id: m.id, format: 'onnx', ...settings },
        key: ADMIN_KEY,
      });
      expect(created.status).toBe(201);
      const version = await http(`${url}/admin/models/${m.id}/versions`, {
        body: readFileSync(m.path),
        key: ADMIN_KEY,
      });
      expect(version.status).toBe(201);
    },
  };
}

async function predict(url: string, m: Built): Promise<void> {
  const res = await http<{ outputs: { y: number[][] } }>(
    `${url}/v1/models/${m.id}/predict`,
    { json: { inputs: { x: [m.row] } } },
  );
  if (res.status !== 200)
    throw new Error(`${m.id}: ${res.status} ${JSON.stringify(res.body)}`);
  expectClose(res.body.outputs.y[0], m.expected, 1e-4);
}

/** `p`, or a failure after `ms` carrying what `describe` says (the cluster's logs). */
async function within<T>(
  ms: number,
  p: Promise<T>,
  describe: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ms} ms:\n${describe()}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const status = async (url: string): Promise<Status> =>
  (await http<Status>(`${url}/v1/models/status`)).body;

/**
 * The cache against real runtime processes: more models than memory, served anyway.
 * Every prediction is checked against ONNX Runtime run directly on the same file.
 */
describe('the model cache', () => {
  describe('one runtime of 40 MiB, eight models of 8 MiB', () => {
    const dir = makeTempDir('e2e-cache-small');
    const cluster = new PortfolioCluster({
      adminKey: ADMIN_KEY,
      runtimes: ['runtime-a'],
      runtimeMaxMemory: '40MiB',
      env: { PORTFOLIO_CACHE_TTL: '3s' },
    });
    const models: Built[] = [];
    let pinned: Built;
    let idle: Built;

    beforeAll(async () => {
      await cluster.start();
      useKey(cluster.url, ADMIN_KEY);
      await cluster.waitUntilHealthy(1);
      for (let i = 1; i <= 8; i++) models.push(await build(dir, `m${i}`, 8, i));
      pinned = await build(dir, 'pinned', 4, 42);
      idle = await build(dir, 'idle', 2, 43);
      for (const m of models)
        await admin(cluster.url).register(m, { ttl: '1h' });
    }, 180_000);

    afterAll(async () => {
      await cluster.stop();
    });

    it('answers every request for each model in turn, unloading others to make room', async () => {
      for (let round = 0; round < 2; round++)
        for (const m of models) await predict(cluster.url, m);

      const s = await status(cluster.url);
      const capacity = s.runtimes[0].capacity_bytes;
      expect(s.runtimes[0].used_bytes).toBeLessThanOrEqual(capacity);
      const evicted = s.models.reduce(
        (n, m) => n + (m.evictions_by_reason['capacity'] ?? 0),
        0,
      );
      expect(evicted).toBeGreaterThanOrEqual(8);
    }, 120_000);

    it('loads a model once for 1,000 concurrent misses', async () => {
      const target = models[0];
      const unloaded = await http(
        `${cluster.url}/admin/models/${target.id}/unload`,
        { json: {}, key: ADMIN_KEY },
      );
      expect(unloaded.status).toBe(200);
      const before = (await status(cluster.url)).models.find(
        (m) => m.model_id === target.id,
      );
      expect(before?.state).not.toBe('loaded');

      const results = await Promise.all(
        Array.from({ length: 1000 }, () =>
          predict(cluster.url, target).then(() => 'ok'),
        ),
      );

      expect(results.filter((r) => r === 'ok')).toHaveLength(1000);
      const after = (await status(cluster.url)).models.find(
        (m) => m.model_id === target.id,
      );
      expect((after?.loads ?? 0) - (before?.loads ?? 0)).toBe(1);
    }, 120_000);

    it('never unloads a pinned model', async () => {
      await admin(cluster.url).register(pinned, { pinned: true });
      await predict(cluster.url, pinned);
      for (const m of models) await predict(cluster.url, m);

      const s = await status(cluster.url);
      const p = s.models.find((m) => m.model_id === 'pinned');
      expect(p).toMatchObject({ state: 'loaded', evictions: 0 });
    }, 120_000);

    it('unloads a model idle past its ttl in the background', async () => {
      await admin(cluster.url).register(idle, { ttl: '2s' });
      await predict(cluster.url, idle);
      const gone = await eventually(
        'the idle model unloaded by its ttl',
        async () => {
          const m = (await status(cluster.url)).models.find(
            (x) => x.model_id === 'idle',
          );
          return m &&
            m.state !== 'loaded' &&
            (m.evictions_by_reason['ttl'] ?? 0) >= 1
            ? m
            : null;
        },
        20_000,
      );
      expect(gone.evictions_by_reason).toMatchObject({ ttl: 1 });
    }, 60_000);
  });

  describe('two runtimes under a skewed workload', () => {
    const dir = makeTempDir('e2e-cache-skewed');
    const cluster = new PortfolioCluster({
      adminKey: ADMIN_KEY,
      runtimes: ['runtime-a', 'runtime-b'],
      runtimeMaxMemory: '48MiB',
      env: { PORTFOLIO_CACHE_SOFT_LIMIT: '70%' },
    });
    const models: Built[] = [];
    const sizes = [2, 2, 3, 4, 4, 6, 6, 8, 8, 10, 12, 12];

    beforeAll(async () => {
      await cluster.start();
      useKey(cluster.url, ADMIN_KEY);
      await cluster.waitUntilHealthy(2);
      for (let i = 0; i < sizes.length; i++)
        models.push(await build(dir, `z${i}`, sizes[i], 100 + i));
      for (const m of models) await admin(cluster.url).register(m);
    }, 180_000);

    afterAll(async () => {
      await cluster.stop();
    });

    it('answers every request, keeps each runtime under its hard limit plus base, and unloads over the soft limit in the background', async () => {
      const samples: { node: string; rss: number; limit: number }[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const s = await status(cluster.url);
          for (const r of s.runtimes)
            samples.push({
              node: r.node_id,
              rss: r.rss_bytes,
              limit: r.capacity_bytes + r.memory.base_bytes,
            });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      // Zipf(1.0) over the models, 4 clients, 240 requests.
      let seed = 9;
      const random = () =>
        (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const weights = models.map((_, i) => 1 / (i + 1));
      const total = weights.reduce((a, b) => a + b, 0);
      const pick = () => {
        let u = random() * total;
        for (let i = 0; i < weights.length; i++)
          if ((u -= weights[i]) <= 0) return models[i];
        return models[models.length - 1];
      };
      const queue = Array.from({ length: 240 }, pick);
      const errors: string[] = [];
      let s: Awaited<ReturnType<typeof status>>;
      try {
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            for (let m = queue.shift(); m; m = queue.shift())
              await predict(cluster.url, m).catch((e: Error) =>
                errors.push(e.message),
              );
          }),
        );
        // Where the workload left both runtimes at or under their soft limits, nothing
        // is there to unload: having every model loaded at once (77 MB against two soft
        // limits of 33.6 MiB) puts one over for certain.
        const soft = (st: Status) =>
          st.models.some((m) => (m.evictions_by_reason['soft_limit'] ?? 0) > 0);
        if (!soft(await status(cluster.url)))
          for (const m of models)
            await http(`${cluster.url}/admin/models/${m.id}/load`, {
              json: {},
            });
        // Background unloading happens between requests: give it a moment to finish.
        s = await eventually(
          'a soft-limit unload',
          async () => {
            const st = await status(cluster.url);
            return soft(st) ? st : null;
          },
          15_000,
        );
      } finally {
        // Stopped whatever happened: left running, it would sample the next test's
        // cache-manager restart.
        sampling = false;
        await sampler;
      }

      expect(errors).toEqual([]);
      expect(samples.length).toBeGreaterThan(10);
      const over = samples.filter((x) => x.rss > x.limit);
      expect(over).toEqual([]);
      for (const r of s.runtimes)
        expect(r.used_bytes).toBeLessThanOrEqual(r.capacity_bytes);
      const peak = Math.max(...samples.map((x) => x.rss));
      process.stdout.write(
        `[cache e2e] ${samples.length} RSS samples, peak ${(peak / MiB).toFixed(1)} MiB, limits ${[...new Set(samples.map((x) => (x.limit / MiB).toFixed(1)))].join('/')} MiB\n`,
      );
    }, 180_000);

    /** Kills a runtime, and starts it again after `during` whatever happened. */
    async function withRuntimeKilled(
      nodeId: string,
      during: () => Promise<void>,
    ): Promise<void> {
      await cluster.service(nodeId).kill();
      try {
        await during();
      } finally {
        await cluster.service(nodeId).start();
        await cluster.waitUntilHealthy(2);
      }
    }

    it('keeps answering when the runtime serving a model is killed mid-request', async () => {
      const hot = models[0];
      await predict(cluster.url, hot);
      const holder = (await status(cluster.url)).models.find(
        (m) => m.model_id === hot.id,
      )?.nodes[0];
      expect(holder).toBeDefined();
      const inflight = Array.from({ length: 20 }, (_, i) =>
        new Promise((r) => setTimeout(r, i * 10)).then(() =>
          predict(cluster.url, hot),
        ),
      );
      await new Promise((r) => setTimeout(r, 50));

      await withRuntimeKilled(holder as string, () =>
        Promise.all(inflight).then(() => undefined),
      );
    }, 120_000);

    it('keeps answering when a runtime is killed during a load', async () => {
      // Its first load needs twice its size while it runs: 16 MiB fits a 48 MiB runtime.
      const big = await build(dir, 'big', 16, 500);
      await admin(cluster.url).register(big);
      const answer = predict(cluster.url, big);
      // The cache-manager reserves the memory of a load the moment it decides.
      let loading: string | undefined;
      for (let i = 0; i < 500 && !loading; i++) {
        const s = await status(cluster.url);
        loading = s.runtimes.find((r) => r.memory.loading_bytes > 0)?.node_id;
        if (!loading) await new Promise((r) => setTimeout(r, 10));
      }
      expect(loading).toBeDefined();

      await withRuntimeKilled(loading as string, () =>
        within(60_000, answer, () => cluster.logs()),
      );
    }, 120_000);

    it('unloads nothing when the cache-manager restarts', async () => {
      for (const m of models.slice(0, 4)) await predict(cluster.url, m);
      const held = (s: Status) =>
        s.models
          .filter((m) => m.state === 'loaded')
          .flatMap((m) => m.nodes.map((n) => `${m.model_id}@${n}`))
          .sort();
      // Settled first: a runtime left over its soft limit by these loads is unloaded in
      // the background by whichever cache-manager runs, restarted or not.
      const settled = await eventually(
        'every runtime at or under its soft limit',
        async () => {
          const st = await status(cluster.url);
          return st.runtimes.every((r) => r.used_bytes <= r.soft_limit_bytes)
            ? st
            : null;
        },
        15_000,
      );
      const before = held(settled);

      await cluster.service('cache-manager').stop();
      await cluster.service('cache-manager').start();
      await cluster.waitUntilHealthy(2);
      await new Promise((r) => setTimeout(r, 4_000));

      // Nothing it held is gone (the new cache-manager may add: a predictive preload).
      const after = held(await status(cluster.url));
      const lost = before.filter((x) => !after.includes(x));
      if (lost.length > 0)
        throw new Error(
          `unloaded across the restart: ${lost.join(', ')}\n${cluster.logs()}`,
        );
      for (const m of models.slice(0, 4)) await predict(cluster.url, m);
    }, 120_000);
  });
});
