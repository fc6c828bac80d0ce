import { Logger } from '@nestjs/common';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { PortfolioError } from '@portfolio/contracts';
import { LocalStorageDriver } from '@portfolio/storage';
import { Tensor } from '@portfolio/tensor';
import {
  buildLargeModel,
  buildMlpModel,
  largeModelSide,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';

import { AsyncMutex } from './async-mutex';
import { ModelHostService } from './model-host.service';
import { RuntimeSettings } from './runtime.settings';
import {
  closeHost,
  hostIdle,
  loadRequestFor,
  sampleInput,
  testRuntimeSettings,
} from './runtime.testing';
import { WorkerPool } from './worker/worker-pool';

const MiB = 1024 * 1024;
const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
/** Runs of a few ms at batch 64: two callers keep one copy of it busy. */
const SLOW_MLP = {
  inputSize: 256,
  hidden: [1024, 1024],
  outputSize: 8,
  seed: 5,
};
/** Its load takes tens of ms: many tiny runs fit in it. */
const BIG_WEIGHT_BYTES = 40 * MiB;
const BIG_SIDE = largeModelSide(BIG_WEIGHT_BYTES);

type HostInternals = {
  pool: Pick<WorkerPool, 'threads'> & {
    policies: Map<string, { maxBatch: number; maxQueueDelayMs: number }>;
    byId: Map<number, { key: string; host: { thread: { worker: Worker } } }>;
  };
  memory: AsyncMutex;
};
const internals = (host: ModelHostService) => host as unknown as HostInternals;
const workersOf = (host: ModelHostService, key: string): Worker[] =>
  [...internals(host).pool.byId.values()]
    .filter((c) => c.key === key)
    .map((c) => c.host.thread.worker);
/** Resolves at the first change after which `ready` holds. */
const changedUntil = (host: ModelHostService, ready: () => boolean) =>
  new Promise<void>((resolve) => {
    if (ready()) return resolve();
    const off = host.onChange(() => {
      if (!ready()) return;
      off();
      resolve();
    });
  });
/** The clock workers stamp runs with (RunResult.startedAt). */
const now = () => performance.timeOrigin + performance.now();

const mlpInput = (): Record<string, Tensor> => ({
  x: { datatype: 'FP32', shape: [1, 4], data: sampleInput(4) },
});
const slowInput = (batch: number): Record<string, Tensor> => ({
  x: {
    datatype: 'FP32',
    shape: [batch, SLOW_MLP.inputSize],
    data: sampleInput(batch * SLOW_MLP.inputSize),
  },
});

/**
 * How the host maps models onto worker threads: a thread per copy of a large model,
 * small ones sharing, loads on a spare thread, so that loads, unloads and crashes touch
 * only their own thread's models.
 */
describe(`${ModelHostService.name} workers`, () => {
  let root: string;
  let storage: LocalStorageDriver;
  const hosts: ModelHostService[] = [];
  const makeHost = (overrides: Partial<RuntimeSettings> = {}) => {
    const host = new ModelHostService(
      testRuntimeSettings({ workers: 2, ...overrides }),
      storage,
    );
    hosts.push(host);
    return host;
  };
  const mlp = (model_id: string) =>
    loadRequestFor(root, 'mlp/model.onnx', { model_id });
  const big = (model_id: string, over: { max_batch?: number } = {}) =>
    loadRequestFor(root, 'big/model.onnx', {
      model_id,
      memory_estimate_bytes: BIG_WEIGHT_BYTES,
      ...over,
    });

  beforeAll(() => {
    Logger.overrideLogger(false);
    root = makeTempDir('model-host-workers');
    storage = new LocalStorageDriver(root);
    writeModel(join(root, 'mlp'), 'model.onnx', buildMlpModel(MLP));
    writeModel(join(root, 'slow'), 'model.onnx', buildMlpModel(SLOW_MLP));
    buildLargeModel({
      weightBytes: BIG_WEIGHT_BYTES,
      externalData: true,
      dir: join(root, 'big'),
      name: 'model',
    });
  });
  // Each test's hosts end with it: measurements read the process's RSS, which a
  // host left running (its spare thread ending, a copy dropped) would move.
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map(closeHost));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("merges a model's runs by its own batching settings when its load names them, else by the runtime's", async () => {
    const sut = makeHost({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    await sut.load({ ...mlp('own'), max_batch: 4, max_queue_delay_ms: 4 });
    await sut.load({ ...mlp('alone'), max_batch: 1 });
    await sut.load(mlp('runtime'));

    const policies = internals(sut).pool.policies;
    expect(policies.get('own@1')).toEqual({ maxBatch: 4, maxQueueDelayMs: 4 });
    expect(policies.get('runtime@1')).toEqual({
      maxBatch: 16,
      maxQueueDelayMs: 1,
    });
    // A batch of 1 is no policy at all: its runs are never merged.
    expect(policies.has('alone@1')).toBe(false);
    // Never merged at 1: every run answers alone, even when many wait together.
    const runs = await Promise.all(
      Array.from({ length: 6 }, () => sut.infer('alone', 1, mlpInput())),
    );
    expect(runs.map((r) => r.merged)).toEqual(Array(6).fill(undefined));
  });

  it('answers hits on a small model while a big model loads, and while it unloads', async () => {
    const sut = makeHost();
    await sut.load(mlp('small'));
    await hostIdle(sut);
    const served: { sent: number; startedAt: number; answered: number }[] = [];
    const hitUntil = async (done: () => boolean) => {
      while (!done()) {
        const sent = now();
        const r = await sut.infer('small', 1, mlpInput());
        served.push({ sent, startedAt: r.startedAt, answered: now() });
      }
    };
    const within = (from: number, to: number) =>
      served.filter((h) => h.startedAt > from && h.answered < to);

    let loaded = false;
    const load = sut.load(big('big')).finally(() => (loaded = true));
    await hitUntil(() => loaded);
    const loadEnded = now();
    const { load_ms } = await load;
    const duringLoad = within(loadEnded - load_ms, loadEnded).length;

    const unloadStarted = now();
    let unloaded = false;
    const unload = sut.unload('big', 1).finally(() => (unloaded = true));
    await hitUntil(() => unloaded);
    const duringUnload = within(unloadStarted, now()).length;
    await unload;

    // Hits began and were answered inside the load and the unload: neither held them up.
    expect(duringLoad).toBeGreaterThanOrEqual(3);
    expect(duringUnload).toBeGreaterThanOrEqual(1);
    expect(workersOf(sut, 'small@1')).toHaveLength(1);
    expect(workersOf(sut, 'big@1')).toEqual([]);
  });

  it('takes its base before its first load, even one asked for before its first worker is ready', async () => {
    const sut = makeHost();

    await sut.load(big('first-thing'));
    await hostIdle(sut);

    // The model is not in the base (its thread is: a worker's cost a thread in use).
    const base = sut.baseBytes();
    expect(process.memoryUsage.rss() - base).toBeGreaterThan(
      0.9 * BIG_WEIGHT_BYTES,
    );
    await sut.unload('first-thing', 1);
    // Its thread ended with it.
    expect(sut.baseBytes()).toBeLessThan(base);
  });

  it("counts what the main thread's heap and buffers grew by in its base, not in its models", async () => {
    const sut = makeHost();
    await hostIdle(sut);
    const before = sut.baseBytes();

    // The service's own memory: a burst of requests held in buffers, say.
    const held = Buffer.alloc(64 * MiB, 1);

    // Less a few MiB: `before` may count a high-water mark of the heap above where it
    // stands now (garbage of earlier tests in this process, not yet collected).
    expect(sut.baseBytes() - before).toBeGreaterThanOrEqual(48 * MiB);
    expect(sut.usedBytes()).toBe(0);
    expect(held.length).toBe(64 * MiB);
  });

  it('loses only the model of a worker that dies, reports it, and loads it again on demand', async () => {
    // Every model on a thread of its own (small ones would share one).
    const sut = makeHost({ sharedThreadModelBytes: 0 });
    await sut.load(mlp('victim'));
    const survivor = await sut.load(mlp('survivor'));
    const reported = changedUntil(
      sut,
      () =>
        sut.report().find((m) => m.model_id === 'victim')?.state === 'failed',
    );

    // Idle: safe to terminate (a thread terminated in a native call aborts the process).
    await workersOf(sut, 'victim@1')[0].terminate();
    await reported;

    expect(sut.report()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          model_id: 'victim',
          state: 'failed',
          memory_bytes: 0,
          copies: 0,
          reason: expect.stringMatching(/worker \d+ exited/),
        }),
        expect.objectContaining({ model_id: 'survivor', state: 'loaded' }),
      ]),
    );
    expect(sut.usedBytes()).toBe(survivor.memory_bytes);
    await expect(sut.infer('victim', 1, mlpInput())).rejects.toMatchObject({
      code: 'MODEL_NOT_LOADED',
    });
    await expect(sut.infer('survivor', 1, mlpInput())).resolves.toMatchObject({
      outputs: { y: { shape: [1, 3] } },
    });
    await expect(sut.load(mlp('victim'))).resolves.toMatchObject({
      loaded_now: true,
    });
    await expect(sut.infer('victim', 1, mlpInput())).resolves.toMatchObject({
      outputs: { y: { shape: [1, 3] } },
    });
  });

  it('gives a busy model a second copy on another worker, runs it on both, and drops the copy once it cools down', async () => {
    const sut = makeHost({
      copyPolicy: { intervalMs: 100, coolDownMs: 300 },
    });
    await sut.load(
      loadRequestFor(root, 'slow/model.onnx', {
        model_id: 'hot',
        max_batch: 1,
      }),
    );
    const copies = () =>
      sut.report().find((m) => m.model_id === 'hot')?.copies ?? 0;
    const twoCopies = changedUntil(sut, () => copies() === 2);
    let busy = true;
    void twoCopies.then(() => (busy = false));

    // Two callers at once: the second always waits for the only copy.
    await Promise.all(
      [1, 2].map(async () => {
        for (let i = 0; busy && i < 2000; i++)
          await sut.infer('hot', 1, slowInput(64));
      }),
    );
    await twoCopies;
    const [a, b] = await Promise.all([
      sut.infer('hot', 1, slowInput(2048)),
      sut.infer('hot', 1, slowInput(2048)),
    ]);

    expect(workersOf(sut, 'hot@1').map((w) => w.threadId)).toHaveLength(2);
    expect(a.copy).not.toBe(b.copy);
    expect(a.startedAt).toBeLessThan(b.startedAt + b.computeMs);
    expect(b.startedAt).toBeLessThan(a.startedAt + a.computeMs);
    // Both copies count; the model's own size stays one copy's.
    const one = sut.report().find((m) => m.model_id === 'hot')?.memory_bytes;
    expect(sut.usedBytes()).toBeGreaterThan(one ?? 0);

    // Reported with one copy at once; its memory counted until its worker is gone.
    await changedUntil(sut, () => workersOf(sut, 'hot@1').length === 1);
    expect(copies()).toBe(1);
    expect(sut.usedBytes()).toBe(
      sut.report().find((m) => m.model_id === 'hot')?.memory_bytes,
    );
  });

  it('counts loads queued at their estimate and keeps room for the largest peak among them', async () => {
    const sut = makeHost({ capacityBytes: 150 * MiB });
    await hostIdle(sut);

    const first = sut.load(big('first', {}));
    const second = sut.load({
      ...mlp('second'),
      memory_estimate_bytes: 40 * MiB,
    });
    const usedQueued = sut.usedBytes();
    // 40 + 40 MiB once loaded, and up to 40 MiB more while either loads (peak 2x): 120
    // of 150. 40 MiB more fits once loaded (120) but not at the worst moment (160).
    const third = await sut
      .load({ ...mlp('third'), memory_estimate_bytes: 40 * MiB })
      .catch((e: unknown) => e);

    expect(usedQueued).toBe(80 * MiB);
    expect(third).toBeInstanceOf(PortfolioError);
    expect(third).toMatchObject({
      code: 'INSUFFICIENT_MEMORY',
      details: { needed_bytes: 40 * MiB, peak_bytes: 80 * MiB },
    });
    const [a, b] = await Promise.all([first, second]);
    expect(sut.usedBytes()).toBe(a.memory_bytes + b.memory_bytes);
    // Measured: at least the weights, and its peak above its steady size.
    expect(a.memory_bytes).toBeGreaterThan(BIG_SIDE * BIG_SIDE * 4);
    expect(a.peak_bytes).toBeGreaterThanOrEqual(a.memory_bytes);
  });

  it("starts a load's timeout when the load starts, not while it waits behind others", async () => {
    const sut = makeHost({ loadTimeoutMs: 300 });
    await hostIdle(sut);
    // Something else holds the memory lock three times as long as the timeout.
    const held = internals(sut).memory.run(
      () => new Promise<void>((resolve) => setTimeout(resolve, 900)),
    );

    const res = await sut.load(mlp('patient'));

    await held;
    expect(res).toMatchObject({ loaded_now: true });
    expect(res.queued_ms).toBeGreaterThan(300);
  });

  it('fails a load that runs past its timeout with TIMEOUT, and counts its memory until its worker is gone', async () => {
    const sut = makeHost({ loadTimeoutMs: 300 });
    await hostIdle(sut);
    const threadsBefore = internals(sut).pool.threads;

    // A warm-up at batch 4096 of a 3238 x 3238 MatMul: about 86 G floating-point
    // operations, a second or more on one thread, not 0.3 s.
    const error = await sut
      .load(big('sluggish', { max_batch: 4096 }))
      .catch((e: unknown) => e);
    const usedRightAfter = sut.usedBytes();

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toMatch(
      /sluggish@1 did not load within 0.3 s .*runtime.load_timeout/,
    );
    expect(sut.report()).toEqual([
      expect.objectContaining({
        model_id: 'sluggish',
        state: 'failed',
        memory_bytes: 0,
        reason: expect.stringMatching(/did not load within/),
      }),
    ]);
    // Its peak stays counted while its worker still loads it.
    expect(usedRightAfter).toBeGreaterThanOrEqual(BIG_WEIGHT_BYTES);
    await changedUntil(sut, () => sut.usedBytes() === 0);
    await hostIdle(sut);
    expect(internals(sut).pool.threads).toBe(threadsBefore);
    await expect(sut.infer('sluggish', 1, mlpInput())).rejects.toMatchObject({
      code: 'MODEL_NOT_LOADED',
    });
  });
});
