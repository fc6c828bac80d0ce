import { Logger } from '@nestjs/common';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { LocalStorageDriver } from '@portfolio/storage';
import {
  buildLargeModel,
  buildMlpModel,
  largeModelSide,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';

import { ModelHostService } from './model-host.service';
import {
  loadRequestFor,
  sampleInput,
  settleMemory,
  testRuntimeSettings,
} from './runtime.testing';
import { WorkerPool } from './worker/worker-pool';

const MiB = 1024 * 1024;
const WEIGHT_BYTES = 64 * MiB;
/**
 * Small weights, large activations: at SLOW_BATCH its arena dwarfs its weights. Each
 * hidden layer's activations (64 MiB) are above glibc's largest mmap threshold, so they
 * get fresh pages whatever memory the process (or a reused worker thread) freed before.
 */
const SLOW_MLP = {
  inputSize: 256,
  hidden: [1024, 1024],
  outputSize: 8,
  seed: 5,
};
const SLOW_BATCH = 16_384;

/**
 * The runtime's memory measurement (RSS delta around a serialized load plus its warm-up
 * run) on a model large enough to dominate the noise. The jest process does not set
 * MALLOC_MMAP_THRESHOLD_; the weights are one 64 MiB allocation, above glibc's largest
 * dynamic mmap threshold (32 MiB), so they always get fresh pages. (Smaller allocations
 * may reuse memory the process freed earlier without raising RSS: measured that way, a
 * 16 MiB external-data model came out at 2-7 MiB after other tests had run.) Each load
 * starts from a settled process (see settleMemory): the measurement is only as good as
 * the quiet around it.
 */
describe(`${ModelHostService.name} memory measurement`, () => {
  let root: string;
  let sut: ModelHostService;
  let weightBytes: number;

  beforeAll(() => {
    Logger.overrideLogger(false);
    root = makeTempDir('model-host-memory');
    buildLargeModel({
      weightBytes: WEIGHT_BYTES,
      externalData: true,
      dir: join(root, 'large'),
      name: 'model',
    });
    weightBytes = statSync(join(root, 'large', 'model.data')).size;
    writeModel(join(root, 'slow'), 'model.onnx', buildMlpModel(SLOW_MLP));
    sut = new ModelHostService(
      testRuntimeSettings({ capacityBytes: 4 * 1024 * MiB }),
      new LocalStorageDriver(root),
    );
  });
  afterAll(async () => {
    await (sut as unknown as { pool: WorkerPool }).pool
      .ready()
      .catch(() => undefined);
    await sut.onApplicationShutdown();
    rmSync(root, { recursive: true, force: true });
  });

  it('measures a 64 MiB external-data model within [0.9x, 1.6x] of its weights', async () => {
    expect(weightBytes).toBe(4 * largeModelSide(WEIGHT_BYTES) ** 2);
    const req = loadRequestFor(root, 'large/model.onnx', {
      model_id: 'large',
      memory_estimate_bytes: weightBytes,
    });
    // Only the graph is in the .onnx file: the floor (size_bytes) cannot hide a low measurement.
    expect(req.size_bytes).toBeLessThan(MiB);
    await settleMemory();

    const loaded = await sut.load(req);

    const ratio = loaded.memory_bytes / weightBytes;
    expect(ratio).toBeGreaterThanOrEqual(0.9);
    expect(ratio).toBeLessThanOrEqual(1.6);
    expect(sut.usedBytes()).toBe(loaded.memory_bytes);
    const n = largeModelSide(WEIGHT_BYTES);
    const { outputs } = await sut.infer('large', 1, {
      x: { datatype: 'FP32', shape: [1, n], data: sampleInput(n) },
    });
    expect(outputs['y'].shape).toEqual([1, n]);
  });

  it('measures a second copy as much again, and gets its memory back on unload', async () => {
    await settleMemory();
    const rssBefore = process.memoryUsage.rss();
    const loaded = await sut.load(
      loadRequestFor(root, 'large/model.onnx', {
        model_id: 'large',
        version: 2,
        memory_estimate_bytes: weightBytes,
      }),
    );
    expect(loaded.memory_bytes / weightBytes).toBeGreaterThanOrEqual(0.9);
    expect(loaded.memory_bytes / weightBytes).toBeLessThanOrEqual(1.6);
    await settleMemory();
    const rssLoaded = process.memoryUsage.rss();

    const unloaded = await sut.unload('large', 2);

    const returned = rssLoaded - process.memoryUsage.rss();
    expect(unloaded).toMatchObject({
      was_loaded: true,
      freed_bytes: loaded.memory_bytes,
    });
    expect(returned / weightBytes).toBeGreaterThanOrEqual(0.9);
    // What the runtime saw come back is what it had counted for the model, and the
    // process is back where it was before the load. The bounds are the noise a loaded
    // CI machine shows: a worker thread that ends with the copy is taken off at the
    // runtime's average thread cost (about 17 MiB, a quarter of these weights), which
    // the real thread's pages miss by several MiB (1.23 seen), and allocator caches and
    // the JS heap move by a few more. A kept copy of the weights would be off by 1.0.
    const reported = unloaded.returned_bytes ?? 0;
    expect(reported / loaded.memory_bytes).toBeGreaterThanOrEqual(0.85);
    expect(reported / loaded.memory_bytes).toBeLessThanOrEqual(1.35);
    // Back where it was, give or take a worker thread's pages and the allocator's
    // caches (0.50 seen once under CI, with the spare thread replaced meanwhile): a
    // copy of the weights kept by mistake would be off by 1.0 or more.
    await settleMemory();
    expect(
      Math.abs(process.memoryUsage.rss() - rssBefore) / weightBytes,
    ).toBeLessThanOrEqual(0.6);
  });

  it('measures a model warmed up at its largest batch with the arena that batch needs', async () => {
    await settleMemory();
    const small = await sut.load(
      loadRequestFor(root, 'slow/model.onnx', {
        model_id: 'batch-1',
        max_batch: 1,
      }),
    );
    await settleMemory();
    const large = await sut.load(
      loadRequestFor(root, 'slow/model.onnx', {
        model_id: 'batch-large',
        max_batch: SLOW_BATCH,
      }),
    );

    // Two hidden layers of 16384 x 1024 floats: 128 MiB of activations, at least half
    // of them held at once.
    expect(large.memory_bytes - small.memory_bytes).toBeGreaterThan(64 * MiB);
    expect(large.memory_bytes - small.memory_bytes).toBeLessThan(512 * MiB);
    await sut.unload('batch-1', 1);
    await sut.unload('batch-large', 1);
  });

  it('measures a model again when a batch larger than any before grows its arena, and reports it', async () => {
    await settleMemory();
    const loaded = await sut.load(
      loadRequestFor(root, 'slow/model.onnx', {
        model_id: 'grows',
        max_batch: 1,
      }),
    );
    const others = sut.usedBytes() - loaded.memory_bytes;
    const reported = () =>
      sut.report().find((m) => m.model_id === 'grows')?.memory_bytes ?? 0;
    let changes = 0;
    const off = sut.onChange(() => changes++);
    const versionBefore = sut.stateVersion;
    const input = {
      x: {
        datatype: 'FP32' as const,
        shape: [SLOW_BATCH, SLOW_MLP.inputSize],
        data: sampleInput(SLOW_BATCH * SLOW_MLP.inputSize),
      },
    };
    await settleMemory();

    await sut.infer('grows', 1, input);
    const grown = reported();
    await sut.infer('grows', 1, input);
    off();

    expect(grown - loaded.memory_bytes).toBeGreaterThan(64 * MiB);
    expect(grown - loaded.memory_bytes).toBeLessThan(512 * MiB);
    expect(sut.stateVersion).toBeGreaterThan(versionBefore);
    expect(changes).toBe(1);
    // The same batch again: nothing new to measure.
    expect(reported()).toBe(grown);
    expect(sut.usedBytes()).toBe(others + grown);
    await sut.unload('grows', 1);
  });
});
