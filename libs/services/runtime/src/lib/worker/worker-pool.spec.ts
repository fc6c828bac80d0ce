import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { PortfolioError } from '@portfolio/contracts';
import { Tensor } from '@portfolio/tensor';
import {
  buildMixedTypesModel,
  buildMlpModel,
  makeTempDir,
  mlpReference,
  writeModel,
} from '@portfolio/testing';

import { expectClose, sampleInput, testWorkerScript } from '../runtime.testing';
import { WorkerPool } from './worker-pool';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
/** What a run of MLP at batch 1 answers: one row of its outputs. */
const SERVED_ONE_ROW = { outputs: { y: { datatype: 'FP32', shape: [1, 3] } } };
/** At SLOW_BATCH, about 11 G multiply-adds a run: hundreds of ms, so two runs at once overlap by far. */
const SLOW_MLP = {
  inputSize: 256,
  hidden: [1024, 1024],
  outputSize: 8,
  seed: 5,
};
const SLOW_BATCH = 8192;

/** The pool's private worker slots, for tests that look at placement or kill a worker. */
type PoolInternals = {
  slots: { index: number; worker: Worker; models: Set<string> }[];
};
const internals = (pool: WorkerPool) => pool as unknown as PoolInternals;

const mlpInput = (
  batch = 1,
  data: Float32Array = new Float32Array(batch * 4),
): Record<string, Tensor> => ({
  x: { datatype: 'FP32', shape: [batch, 4], data },
});
const slowInput = (data: Float32Array): Record<string, Tensor> => ({
  x: {
    datatype: 'FP32',
    shape: [data.length / SLOW_MLP.inputSize, SLOW_MLP.inputSize],
    data,
  },
});
const mixedInput = (a: number[], b: bigint[]): Record<string, Tensor> => ({
  a: { datatype: 'FP32', shape: [a.length / 3, 3], data: Float32Array.from(a) },
  b: {
    datatype: 'INT64',
    shape: [b.length / 3, 3],
    data: BigInt64Array.from(b),
  },
});

/** A pool that records `onWorkerLost`; `firstLoss` resolves at the first report. */
function makePool(size: number) {
  const lost: { models: string[]; reason: string }[] = [];
  let signal!: () => void;
  const firstLoss = new Promise<void>((resolve) => (signal = resolve));
  const pool = new WorkerPool(testWorkerScript(), size, (models, reason) => {
    lost.push({ models, reason });
    signal();
  });
  return { pool, lost, firstLoss };
}

/**
 * Waits for the warm-up before terminating: onnxruntime-node aborts the whole process
 * when a worker thread is terminated while one of its native calls (session create or
 * run) is in flight, so tests only ever stop idle workers.
 */
async function closePool(pool: WorkerPool): Promise<void> {
  await pool.ready().catch(() => undefined);
  await pool.close();
}

describe(WorkerPool.name, () => {
  let dir: string;
  let mlpPath: string;
  let mixedPath: string;
  let slowPath: string;

  beforeAll(() => {
    Logger.overrideLogger(false);
    dir = makeTempDir('worker-pool');
    mlpPath = writeModel(dir, 'mlp.onnx', buildMlpModel(MLP));
    mixedPath = writeModel(dir, 'mixed.onnx', buildMixedTypesModel());
    slowPath = writeModel(dir, 'slow.onnx', buildMlpModel(SLOW_MLP));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('serving models', () => {
    let sut: WorkerPool;
    let lost: { models: string[]; reason: string }[];

    beforeAll(() => ({ pool: sut, lost } = makePool(2)));
    afterAll(() => closePool(sut));

    it('loads an MLP and runs it to the reference numbers', async () => {
      const { signature } = await sut.load('mlp@1', 'onnx', mlpPath, 1);
      expect(signature).toEqual({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      });

      const x = sampleInput(5 * 4);
      const { outputs } = await sut.run('mlp@1', mlpInput(5, x));

      expect(Object.keys(outputs)).toEqual(['y']);
      expect(outputs['y'].datatype).toBe('FP32');
      expect(outputs['y'].shape).toEqual([5, 3]);
      expect(outputs['y'].data).toBeInstanceOf(Float32Array);
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 5));
    });

    it('times the warm-up run of a model it loads, and loads a model it holds only once', async () => {
      const first = await sut.load('warm@1', 'onnx', mlpPath, 1);
      const again = await sut.load('warm@1', 'onnx', mlpPath, 1);

      expect(first.warmupMs).toEqual(expect.any(Number));
      expect(first.warmupMs).toBeGreaterThan(0);
      // Already loaded in its worker: no new session, no warm-up.
      expect(again.warmupMs).toBeNull();
      expect(again.signature).toEqual(first.signature);
    });

    it('runs a model with FP32 and INT64 inputs and returns INT64 outputs as BigInt64Array', async () => {
      await sut.load('mixed@1', 'onnx', mixedPath, 1);

      const { outputs } = await sut.run(
        'mixed@1',
        mixedInput([0.5, 1.5, -2, 10, 0, 0.25], [1n, -3n, 7n, -20n, 4n, 4n]),
      );

      expect(outputs['sum']).toMatchObject({ datatype: 'FP32', shape: [2, 3] });
      expect(Array.from(outputs['sum'].data as Float32Array)).toEqual([
        1.5, -1.5, 5, -10, 4, 4.25,
      ]);
      expect(outputs['argmax']).toMatchObject({
        datatype: 'INT64',
        shape: [2],
      });
      expect(outputs['argmax'].data).toBeInstanceOf(BigInt64Array);
      expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([
        2n,
        2n,
      ]);
    });

    it('returns only the outputs asked for', async () => {
      await sut.load('mixed@2', 'onnx', mixedPath, 1);

      const { outputs } = await sut.run(
        'mixed@2',
        mixedInput([3, 2, 1], [0n, 0n, 5n]),
        ['argmax'],
      );

      expect(Object.keys(outputs)).toEqual(['argmax']);
      expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([2n]);
    });

    it("leaves the caller's input buffers intact", async () => {
      await sut.load('intact@1', 'onnx', mlpPath, 1);
      const x = sampleInput(2 * 4);

      await sut.run('intact@1', mlpInput(2, x));

      expect(x.byteLength).toBe(2 * 4 * 4);
      expect(Array.from(x)).toEqual(Array.from(sampleInput(2 * 4)));
    });

    it('refuses to run a model after unloading it with MODEL_NOT_LOADED', async () => {
      await sut.load('gone@1', 'onnx', mlpPath, 1);
      await expect(sut.run('gone@1', mlpInput())).resolves.toMatchObject(
        SERVED_ONE_ROW,
      );

      await sut.unload('gone@1');
      const error = await sut
        .run('gone@1', mlpInput())
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
    });

    it('refuses to run a model it never loaded with MODEL_NOT_LOADED', async () => {
      await expect(sut.run('never@1', mlpInput())).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
    });

    it('treats unloading a model it does not hold as done', async () => {
      await expect(sut.unload('never@1')).resolves.toBeUndefined();
    });

    it('fails a corrupt artifact with MODEL_LOAD_FAILED saying why, and keeps serving', async () => {
      const corrupt = join(dir, 'corrupt.onnx');
      writeFileSync(corrupt, randomBytes(4096));

      const error = await sut
        .load('corrupt@1', 'onnx', corrupt, 1)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toMatch(
        /failed to load: .*protobuf parsing failed/i,
      );
      // Not placed anywhere; the workers still serve.
      expect(internals(sut).slots.some((s) => s.models.has('corrupt@1'))).toBe(
        false,
      );
      await expect(sut.run('corrupt@1', {})).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      await sut.load('after-corrupt@1', 'onnx', mlpPath, 1);
      await expect(
        sut.run('after-corrupt@1', mlpInput()),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
      expect(lost).toEqual([]);
    });

    it('fails a missing file with MODEL_LOAD_FAILED naming it', async () => {
      const missing = join(dir, 'missing.onnx');

      const error = await sut
        .load('missing@1', 'onnx', missing, 1)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toContain('missing.onnx');
    });
  });

  describe('placement', () => {
    let sut: WorkerPool;

    beforeEach(() => ({ pool: sut } = makePool(2)));
    afterEach(() => closePool(sut));

    it('places two models on two different workers and runs them at the same time', async () => {
      await Promise.all([
        sut.load('a@1', 'onnx', slowPath, 1),
        sut.load('b@1', 'onnx', slowPath, 1),
      ]);

      const placed = internals(sut).slots.map((s) => [...s.models]);
      expect(placed.map((m) => m.length)).toEqual([1, 1]);
      expect(placed.flat().sort()).toEqual(['a@1', 'b@1']);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);
      const [a, b] = await Promise.all([
        sut.run('a@1', slowInput(x)),
        sut.run('b@1', slowInput(x)),
      ]);
      // Each worker reports when its run began and how long it took, on a clock the
      // threads share: run serially, one would start after the other ended.
      expect(a.startedAt).toBeLessThan(b.startedAt + b.computeMs);
      expect(b.startedAt).toBeLessThan(a.startedAt + a.computeMs);
      expect(a.outputs['y'].shape).toEqual([SLOW_BATCH, SLOW_MLP.outputSize]);
      expect(a.outputs['y'].data).toEqual(b.outputs['y'].data);
    });

    it('frees a worker slot on unload, so the next model goes there', async () => {
      await sut.load('a@1', 'onnx', mlpPath, 1);
      await sut.load('b@1', 'onnx', mlpPath, 1);
      const slotOfA = internals(sut).slots.findIndex((s) =>
        s.models.has('a@1'),
      );

      await sut.unload('a@1');
      await sut.load('c@1', 'onnx', mlpPath, 1);

      expect(internals(sut).slots[slotOfA].models).toEqual(new Set(['c@1']));
    });
  });

  describe('when a worker dies', () => {
    let sut: WorkerPool;
    let lost: { models: string[]; reason: string }[];
    let firstLoss: Promise<void>;

    beforeEach(() => ({ pool: sut, lost, firstLoss } = makePool(2)));
    afterEach(() => closePool(sut));

    it('fails the calls pending on it, reports its models lost and serves new loads on a fresh worker', async () => {
      await Promise.all([
        sut.load('a@1', 'onnx', mlpPath, 1),
        sut.load('b@1', 'onnx', mixedPath, 1),
      ]);
      const victim = internals(sut).slots.find((s) => s.models.has('a@1'));
      if (!victim) throw new Error('a@1 is on no worker');
      const oldWorker = victim.worker;

      // The run is posted after terminate() began: the worker never gets to it.
      const pending = sut.run('a@1', mlpInput()).catch((e: unknown) => e);
      const terminated = oldWorker.terminate();

      const error = await pending;
      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await terminated;
      await firstLoss;
      expect(lost).toEqual([
        { models: ['a@1'], reason: expect.stringMatching(/worker \d exited/) },
      ]);

      // The next run finds the model gone; the model on the other worker is untouched.
      await expect(sut.run('a@1', mlpInput())).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      const other = await sut.run('b@1', mixedInput([1, 2, 3], [0n, 0n, 0n]));
      expect(Array.from(other.outputs['sum'].data as Float32Array)).toEqual([
        1, 2, 3,
      ]);

      // A fresh worker took the slot and serves new loads.
      const replacement = internals(sut).slots[victim.index];
      expect(replacement.worker).not.toBe(oldWorker);
      expect(replacement.worker.threadId).not.toBe(oldWorker.threadId);
      await sut.load('again@1', 'onnx', mlpPath, 1);
      expect(replacement.models.has('again@1')).toBe(true);
      const x = sampleInput(4);
      const { outputs } = await sut.run('again@1', mlpInput(1, x));
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 1));
    });

    it('fails a load waiting for a worker that dies before it is ready', async () => {
      // Terminated at once, long before the worker gets to warming up its backends.
      const terminated = internals(sut).slots[0].worker.terminate();

      const error = await sut
        .load('mlp@1', 'onnx', mlpPath, 1)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await terminated;
      await firstLoss;
      // The model was placed on the dead worker while it loaded.
      expect(lost).toEqual([
        { models: ['mlp@1'], reason: expect.stringMatching(/worker 0 exited/) },
      ]);
      await sut.load('mlp@1', 'onnx', mlpPath, 1);
      await expect(sut.run('mlp@1', mlpInput())).resolves.toMatchObject(
        SERVED_ONE_ROW,
      );
    });
  });

  it('stops its workers on close without reporting them lost', async () => {
    const { pool: sut, lost } = makePool(2);
    await sut.load('mlp@1', 'onnx', mlpPath, 1);
    await sut.ready();
    const exited = internals(sut).slots.map(
      (s) => new Promise<number>((resolve) => s.worker.once('exit', resolve)),
    );

    await sut.close();

    await Promise.all(exited);
    expect(lost).toEqual([]);
    expect(sut.size).toBe(2);
  });
});
