import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { PortfolioError } from '@portfolio/contracts';
import { buildMixedTypesModel, buildMlpModel, makeTempDir, mlpReference, writeModel } from '@portfolio/testing';

import { expectClose, sampleInput, testWorkerScript } from '../runtime.testing';
import { WorkerPool } from './worker-pool';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
/** Big enough that one run at batch 8192 takes a noticeable time (hundreds of ms). */
const SLOW_MLP = { inputSize: 256, hidden: [1024, 1024], outputSize: 8, seed: 5 };

/** The pool's private worker slots, for tests that kill a worker. */
type PoolInternals = { slots: { index: number; worker: Worker; models: Set<string> }[] };
const internals = (pool: WorkerPool) => pool as unknown as PoolInternals;

describe(WorkerPool.name, () => {
  let dir: string;
  let mlpPath: string;
  let mixedPath: string;
  let slowPath: string;
  let sut: WorkerPool;
  let lost: { models: string[]; reason: string }[];
  /** Resolves at the first `onWorkerLost`. */
  let firstLoss: Promise<void>;

  beforeAll(() => {
    Logger.overrideLogger(false);
    dir = makeTempDir('worker-pool');
    mlpPath = writeModel(dir, 'mlp.onnx', buildMlpModel(MLP));
    mixedPath = writeModel(dir, 'mixed.onnx', buildMixedTypesModel());
    slowPath = writeModel(dir, 'slow.onnx', buildMlpModel(SLOW_MLP));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(() => {
    lost = [];
    let signal!: () => void;
    firstLoss = new Promise((resolve) => (signal = resolve));
    sut = new WorkerPool(testWorkerScript(), 2, (models, reason) => {
      lost.push({ models, reason });
      signal();
    });
  });
  afterEach(async () => {
    await sut.close();
  });

  it('loads an MLP and runs it to the reference numbers', async () => {
    const { signature } = await sut.load('mlp@1', 'onnx', mlpPath, 1);
    expect(signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });

    const x = sampleInput(5 * 4);
    const { outputs, computeMs } = await sut.run('mlp@1', { x: { datatype: 'FP32', shape: [5, 4], data: x } });

    expect(Object.keys(outputs)).toEqual(['y']);
    expect(outputs['y'].datatype).toBe('FP32');
    expect(outputs['y'].shape).toEqual([5, 3]);
    expect(outputs['y'].data).toBeInstanceOf(Float32Array);
    expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 5));
    expect(computeMs).toBeGreaterThanOrEqual(0);
  });

  it('reports the warm-up run of a freshly loaded model', async () => {
    const { warmupMs } = await sut.load('mlp@1', 'onnx', mlpPath, 1);

    expect(typeof warmupMs).toBe('number');
    expect(warmupMs).toBeGreaterThanOrEqual(0);
  });

  it('runs a model with FP32 and INT64 inputs and returns INT64 outputs as BigInt64Array', async () => {
    await sut.load('mixed@1', 'onnx', mixedPath, 1);

    const { outputs } = await sut.run('mixed@1', {
      a: { datatype: 'FP32', shape: [2, 3], data: Float32Array.from([0.5, 1.5, -2, 10, 0, 0.25]) },
      b: { datatype: 'INT64', shape: [2, 3], data: BigInt64Array.from([1n, -3n, 7n, -20n, 4n, 4n]) },
    });

    expect(outputs['sum']).toMatchObject({ datatype: 'FP32', shape: [2, 3] });
    expect(Array.from(outputs['sum'].data as Float32Array)).toEqual([1.5, -1.5, 5, -10, 4, 4.25]);
    expect(outputs['argmax']).toMatchObject({ datatype: 'INT64', shape: [2] });
    expect(outputs['argmax'].data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([2n, 2n]);
  });

  it('returns only the outputs asked for', async () => {
    await sut.load('mixed@1', 'onnx', mixedPath, 1);

    const { outputs } = await sut.run(
      'mixed@1',
      {
        a: { datatype: 'FP32', shape: [1, 3], data: Float32Array.from([3, 2, 1]) },
        b: { datatype: 'INT64', shape: [1, 3], data: BigInt64Array.from([0n, 0n, 5n]) },
      },
      ['argmax'],
    );

    expect(Object.keys(outputs)).toEqual(['argmax']);
    expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([2n]);
  });

  it('does not detach the caller\'s input buffers', async () => {
    await sut.load('mlp@1', 'onnx', mlpPath, 1);
    const x = sampleInput(2 * 4);

    await sut.run('mlp@1', { x: { datatype: 'FP32', shape: [2, 4], data: x } });

    expect(x.byteLength).toBe(2 * 4 * 4);
    expect(Array.from(x)).toEqual(Array.from(sampleInput(2 * 4)));
  });

  it('refuses to run a model after unloading it with MODEL_NOT_LOADED', async () => {
    await sut.load('mlp@1', 'onnx', mlpPath, 1);

    await sut.unload('mlp@1');
    const error = await sut.run('mlp@1', { x: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
  });

  it('treats unloading a model it does not hold as done', async () => {
    await expect(sut.unload('never@1')).resolves.toBeUndefined();
  });

  it('places two models on two different workers', async () => {
    await Promise.all([sut.load('a@1', 'onnx', mlpPath, 1), sut.load('b@1', 'onnx', mixedPath, 1)]);

    const placed = internals(sut).slots.map((s) => [...s.models]);
    expect(placed.map((m) => m.length)).toEqual([1, 1]);
    expect(placed.flat().sort()).toEqual(['a@1', 'b@1']);
    // Both answer while loaded side by side.
    const [a, b] = await Promise.all([
      sut.run('a@1', { x: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } }),
      sut.run('b@1', {
        a: { datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) },
        b: { datatype: 'INT64', shape: [1, 3], data: new BigInt64Array(3) },
      }),
    ]);
    expect(a.outputs['y'].shape).toEqual([1, 3]);
    expect(b.outputs['sum'].shape).toEqual([1, 3]);
  });

  it('fails a corrupt artifact with MODEL_LOAD_FAILED saying why, and keeps serving', async () => {
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, randomBytes(4096));

    const error = await sut.load('corrupt@1', 'onnx', corrupt, 1).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
    expect((error as Error).message).toMatch(/failed to load: .*protobuf parsing failed/i);
    expect(internals(sut).slots.every((s) => s.models.size === 0)).toBe(true);
    // The failed model is not placed; a good one still loads and runs.
    await expect(sut.run('corrupt@1', {})).rejects.toMatchObject({ code: 'MODEL_NOT_LOADED' });
    await sut.load('mlp@1', 'onnx', mlpPath, 1);
    await expect(sut.run('mlp@1', { x: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } })).resolves.toBeDefined();
    expect(lost).toEqual([]);
  });

  it('fails a missing file with MODEL_LOAD_FAILED', async () => {
    await expect(sut.load('missing@1', 'onnx', join(dir, 'missing.onnx'), 1)).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED' });
  });

  describe('when a worker dies', () => {
    it('fails the runs in flight on it, reports its models lost and serves new loads on a fresh worker', async () => {
      await Promise.all([sut.load('slow@1', 'onnx', slowPath, 1), sut.load('mlp@1', 'onnx', mlpPath, 1)]);
      const victim = internals(sut).slots.find((s) => s.models.has('slow@1'));
      if (!victim) throw new Error('slow@1 is on no worker');
      const oldWorker = victim.worker;

      const batch = 8192;
      const inFlight = sut
        .run('slow@1', { x: { datatype: 'FP32', shape: [batch, 256], data: sampleInput(batch * 256) } })
        .catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await oldWorker.terminate();

      const error = await inFlight;
      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await firstLoss;
      expect(lost).toEqual([{ models: ['slow@1'], reason: expect.stringMatching(/exited/) }]);

      // The next run finds the model gone; the model on the other worker is untouched.
      await expect(sut.run('slow@1', { x: { datatype: 'FP32', shape: [1, 256], data: new Float32Array(256) } })).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      await expect(sut.run('mlp@1', { x: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } })).resolves.toBeDefined();

      // A fresh worker took the slot and serves new loads.
      const replacement = internals(sut).slots[victim.index];
      expect(replacement.worker).not.toBe(oldWorker);
      expect(replacement.worker.threadId).not.toBe(oldWorker.threadId);
      await sut.load('again@1', 'onnx', mlpPath, 1);
      expect(replacement.models.has('again@1')).toBe(true);
      const x = sampleInput(4);
      const { outputs } = await sut.run('again@1', { x: { datatype: 'FP32', shape: [1, 4], data: x } });
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 1));
    });

    it('reports a worker with no models as lost with an empty list', async () => {
      await internals(sut).slots[1].worker.terminate();
      await firstLoss;

      expect(lost).toEqual([{ models: [], reason: expect.any(String) }]);
      await sut.load('mlp@1', 'onnx', mlpPath, 1);
      await expect(sut.run('mlp@1', { x: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } })).resolves.toBeDefined();
    });
  });

  it('stops its workers on close without reporting them lost', async () => {
    await sut.load('mlp@1', 'onnx', mlpPath, 1);
    const workers = internals(sut).slots.map((s) => s.worker);
    const exited = workers.map((w) => new Promise<number>((resolve) => w.once('exit', resolve)));

    await sut.close();

    await Promise.all(exited);
    expect(lost).toEqual([]);
  });
});
