import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { PortfolioError } from '@portfolio/contracts';
import { Tensor } from '@portfolio/tensor';
import {
  buildLargeModel,
  buildMixedTypesModel,
  buildMlpModel,
  largeModelSide,
  makeTempDir,
  mlpReference,
  writeModel,
} from '@portfolio/testing';

import { expectClose, sampleInput, testWorkerScript } from '../runtime.testing';
import { CopyLoss, WorkerPool, WorkerPoolOptions } from './worker-pool';

const MiB = 1024 * 1024;
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
/** Big enough that its load takes a while (tens of ms): many tiny runs fit in it. */
const BIG_WEIGHT_BYTES = 40 * MiB;

/** The pool's private threads, for tests that look at placement or kill a worker. */
type PoolInternals = {
  byId: Map<number, { key: string; host: { thread: { worker: Worker } } }>;
  spare: { thread: { worker: Worker } } | null;
};
const internals = (pool: WorkerPool) => pool as unknown as PoolInternals;
const workerOf = (pool: WorkerPool, copy: number): Worker => {
  const c = internals(pool).byId.get(copy);
  if (!c) throw new Error(`copy ${copy} is not in the pool`);
  return c.host.thread.worker;
};
const spareWorker = (pool: WorkerPool) => internals(pool).spare?.thread.worker;
/** The id of the (only) copy of `key`. */
const internalsCopy = (pool: WorkerPool, key: string): number => {
  for (const [id, c] of internals(pool).byId) if (c.key === key) return id;
  throw new Error(`no copy of ${key} in the pool`);
};
/** A thread of its own, as a large model gets. */
const OWN = { shared: false, bytes: 0 };
/** A small model's placement: it may share a thread. */
const SMALL = { shared: true, bytes: 1024 * 1024 };

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
/** The clock the workers stamp runs with (see RunResult.startedAt). */
const now = () => performance.timeOrigin + performance.now();

/** A pool that records `onCopyLost`; `firstLoss` resolves at the first report. */
function makePool(
  computeSlots: number,
  inline?: WorkerPoolOptions['inline'],
  batching?: WorkerPoolOptions['batching'],
) {
  const lost: CopyLoss[] = [];
  let signal!: () => void;
  const firstLoss = new Promise<void>((resolve) => (signal = resolve));
  const pool = new WorkerPool(testWorkerScript(), {
    computeSlots,
    sharedThreadBytes: 2 * SMALL.bytes,
    onCopyLost: (loss) => {
      lost.push(loss);
      signal();
    },
    ...(inline ? { inline } : {}),
    ...(batching ? { batching } : {}),
  });
  return { pool, lost, firstLoss };
}

/** How the host loads: a spare first, then the load on it, then the copy serves. */
async function loadCopy(
  pool: WorkerPool,
  key: string,
  path: string,
  warmupBatch = 1,
  placement = OWN,
) {
  await pool.ensureSpare();
  const { copy, done } = pool.load(
    key,
    'onnx',
    path,
    1,
    warmupBatch,
    placement,
  );
  const result = await done;
  pool.activate(copy);
  return { copy, ...result };
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
  let bigPath: string;

  beforeAll(() => {
    Logger.overrideLogger(false);
    dir = makeTempDir('worker-pool');
    mlpPath = writeModel(dir, 'mlp.onnx', buildMlpModel(MLP));
    mixedPath = writeModel(dir, 'mixed.onnx', buildMixedTypesModel());
    slowPath = writeModel(dir, 'slow.onnx', buildMlpModel(SLOW_MLP));
    bigPath = buildLargeModel({
      weightBytes: BIG_WEIGHT_BYTES,
      externalData: true,
      dir: join(dir, 'big'),
      name: 'model',
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('serving models', () => {
    let sut: WorkerPool;
    let lost: CopyLoss[];

    beforeAll(() => ({ pool: sut, lost } = makePool(2)));
    afterAll(() => closePool(sut));

    it('loads an MLP on the spare worker and runs it to the reference numbers', async () => {
      const { signature } = await loadCopy(sut, 'mlp@1', mlpPath);
      expect(signature).toEqual({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      });

      const x = sampleInput(5 * 4);
      const { outputs } = await sut.run('mlp@1', mlpInput(5, x), undefined, 5);

      expect(Object.keys(outputs)).toEqual(['y']);
      expect(outputs['y'].datatype).toBe('FP32');
      expect(outputs['y'].shape).toEqual([5, 3]);
      expect(outputs['y'].data).toBeInstanceOf(Float32Array);
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 5));
      expect(sut.serving('mlp@1')).toBe(1);
    });

    it('warms a model up at the batch asked for and says so', async () => {
      const first = await loadCopy(sut, 'warm@1', mlpPath, 16);

      expect(first.warmupMs).toEqual(expect.any(Number));
      expect(first.warmupMs).toBeGreaterThan(0);
      expect(first.warmupBatch).toBe(16);
    });

    it('refuses to load when no spare worker is ready', () => {
      // The spare went to the last load; nobody asked for a new one.
      expect(() => sut.load('no-spare@1', 'onnx', mlpPath, 1, 1, OWN)).toThrow(
        /no worker thread is ready/,
      );
    });

    it('runs a model with FP32 and INT64 inputs and returns INT64 outputs as BigInt64Array', async () => {
      await loadCopy(sut, 'mixed@1', mixedPath);

      const { outputs } = await sut.run(
        'mixed@1',
        mixedInput([0.5, 1.5, -2, 10, 0, 0.25], [1n, -3n, 7n, -20n, 4n, 4n]),
        undefined,
        2,
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
      await loadCopy(sut, 'mixed@2', mixedPath);

      const { outputs } = await sut.run(
        'mixed@2',
        mixedInput([3, 2, 1], [0n, 0n, 5n]),
        ['argmax'],
        1,
      );

      expect(Object.keys(outputs)).toEqual(['argmax']);
      expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([2n]);
    });

    it("leaves the caller's input buffers intact", async () => {
      await loadCopy(sut, 'intact@1', mlpPath);
      const x = sampleInput(2 * 4);

      await sut.run('intact@1', mlpInput(2, x), undefined, 2);

      expect(x.byteLength).toBe(2 * 4 * 4);
      expect(Array.from(x)).toEqual(Array.from(sampleInput(2 * 4)));
    });

    it('refuses to run a model after releasing its copy with MODEL_NOT_LOADED, and ends its worker when a spare is there', async () => {
      const { copy } = await loadCopy(sut, 'gone@1', mlpPath);
      await expect(
        sut.run('gone@1', mlpInput(), undefined, 1),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
      const worker = workerOf(sut, copy);
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await sut.ensureSpare();

      await sut.release(copy);
      const error = await sut
        .run('gone@1', mlpInput(), undefined, 1)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await exited;
      expect(lost).toEqual([]);
    });

    it('keeps the worker of a released copy as its spare when it has none', async () => {
      const { copy } = await loadCopy(sut, 'reused@1', mlpPath);
      const worker = workerOf(sut, copy);
      const threads = sut.threads;

      await sut.release(copy);

      expect(spareWorker(sut)).toBe(worker);
      expect(sut.threads).toBe(threads);
      await expect(sut.ensureSpare()).resolves.toBe(false);
      const again = await loadCopy(sut, 'reused@2', mlpPath);
      expect(workerOf(sut, again.copy)).toBe(worker);
      await expect(
        sut.run('reused@2', mlpInput(), undefined, 1),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
    });

    it('refuses to run a model it never loaded with MODEL_NOT_LOADED', async () => {
      await expect(
        sut.run('never@1', mlpInput(), undefined, 1),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
    });

    it('treats releasing a copy it does not hold as done', async () => {
      await expect(sut.release(9999)).resolves.toBeUndefined();
    });

    it('fails a corrupt artifact with MODEL_LOAD_FAILED saying why, keeps the worker as its spare, and keeps serving', async () => {
      const corrupt = join(dir, 'corrupt.onnx');
      writeFileSync(corrupt, randomBytes(4096));
      await sut.ensureSpare();
      const spare = spareWorker(sut);

      const error = await sut
        .load('corrupt@1', 'onnx', corrupt, 1, 1, OWN)
        .done.catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toMatch(
        /failed to load: .*protobuf parsing failed/i,
      );
      expect(sut.serving('corrupt@1')).toBe(0);
      await expect(
        sut.run('corrupt@1', {}, undefined, 1),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      expect(spareWorker(sut)).toBe(spare);
      await expect(sut.ensureSpare()).resolves.toBe(false);
      await loadCopy(sut, 'after-corrupt@1', mlpPath);
      await expect(
        sut.run('after-corrupt@1', mlpInput(), undefined, 1),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
      expect(lost).toEqual([]);
    });

    it('fails a missing file with MODEL_LOAD_FAILED naming it', async () => {
      await sut.ensureSpare();

      const error = await sut
        .load('missing@1', 'onnx', join(dir, 'missing.onnx'), 1, 1, OWN)
        .done.catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toContain('missing.onnx');
    });

    it('tells how much the RSS grew across the first run at a batch larger than any before, and only then', async () => {
      const { copy } = await loadCopy(sut, 'arena@1', slowPath, 1);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);

      const larger = await sut.run(
        'arena@1',
        slowInput(x),
        undefined,
        SLOW_BATCH,
      );
      const again = await sut.run(
        'arena@1',
        slowInput(x),
        undefined,
        SLOW_BATCH,
      );

      // Two hidden layers of 8192 x 1024 floats: 32 MiB of activations at least.
      expect(larger.copy).toBe(copy);
      expect(larger.arena?.batch).toBe(SLOW_BATCH);
      expect(larger.arena?.grewBytes).toBeGreaterThan(16 * MiB);
      expect(again.arena).toBeUndefined();
    });
  });

  describe('placement', () => {
    let sut: WorkerPool;

    afterEach(() => closePool(sut));

    it('gives each model its own worker and runs two models at the same time', async () => {
      ({ pool: sut } = makePool(2));
      const a = await loadCopy(sut, 'a@1', slowPath);
      const b = await loadCopy(sut, 'b@1', slowPath);

      expect(workerOf(sut, a.copy)).not.toBe(workerOf(sut, b.copy));
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);
      const [ra, rb] = await Promise.all([
        sut.run('a@1', slowInput(x), undefined, SLOW_BATCH),
        sut.run('b@1', slowInput(x), undefined, SLOW_BATCH),
      ]);
      // Each worker reports when its run began and how long it took, on a clock the
      // threads share: run serially, one would start after the other ended.
      expect(ra.startedAt).toBeLessThan(rb.startedAt + rb.computeMs);
      expect(rb.startedAt).toBeLessThan(ra.startedAt + ra.computeMs);
      expect(ra.outputs['y'].shape).toEqual([SLOW_BATCH, SLOW_MLP.outputSize]);
      expect(ra.outputs['y'].data).toEqual(rb.outputs['y'].data);
    });

    it('runs one model on two copies at the same time', async () => {
      ({ pool: sut } = makePool(2));
      const first = await loadCopy(sut, 'hot@1', slowPath);
      const second = await loadCopy(sut, 'hot@1', slowPath);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);

      const [r1, r2] = await Promise.all([
        sut.run('hot@1', slowInput(x), undefined, SLOW_BATCH),
        sut.run('hot@1', slowInput(x), undefined, SLOW_BATCH),
      ]);

      expect(sut.serving('hot@1')).toBe(2);
      expect(new Set([r1.copy, r2.copy])).toEqual(
        new Set([first.copy, second.copy]),
      );
      expect(r1.startedAt).toBeLessThan(r2.startedAt + r2.computeMs);
      expect(r2.startedAt).toBeLessThan(r1.startedAt + r1.computeMs);
    });

    it('runs no more at once than its compute slots, and counts the wait for a copy', async () => {
      ({ pool: sut } = makePool(1));
      await loadCopy(sut, 'a@1', slowPath);
      await loadCopy(sut, 'b@1', slowPath);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);

      const [ra, rb] = await Promise.all([
        sut.run('a@1', slowInput(x), undefined, SLOW_BATCH),
        sut.run('b@1', slowInput(x), undefined, SLOW_BATCH),
      ]);
      const [first, second] = ra.startedAt < rb.startedAt ? [ra, rb] : [rb, ra];

      expect(second.startedAt).toBeGreaterThanOrEqual(
        first.startedAt + first.computeMs,
      );
      // b waited for the slot, not for a copy of its own.
      expect(sut.statsOf('b@1').copyWaitMs).toBe(0);
    });

    it('counts the time runs of a model waited for a copy of it while a slot was free', async () => {
      ({ pool: sut } = makePool(2));
      await loadCopy(sut, 'one@1', slowPath);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);

      await Promise.all([
        sut.run('one@1', slowInput(x), undefined, SLOW_BATCH),
        sut.run('one@1', slowInput(x), undefined, SLOW_BATCH),
      ]);

      const stats = sut.statsOf('one@1');
      expect(stats.copyWaitMs).toBeGreaterThan(0);
      expect(stats.busyMs).toBeGreaterThan(stats.copyWaitMs);
    });

    it('keeps running a model while another model loads on the spare worker', async () => {
      ({ pool: sut } = makePool(2));
      await loadCopy(sut, 'small@1', mlpPath);
      await sut.ensureSpare();
      const served: { startedAt: number; answeredAt: number }[] = [];

      const loadStarted = now();
      const big = sut.load('big@1', 'onnx', bigPath, 1, 1, OWN);
      let loadEnded: number | null = null;
      void big.done.then(() => (loadEnded = now()));
      while (loadEnded === null) {
        const r = await sut.run('small@1', mlpInput(), undefined, 1);
        served.push({ startedAt: r.startedAt, answeredAt: now() });
      }
      await big.done;
      sut.activate(big.copy);

      // Runs of the small model began and were answered while the big one loaded.
      const during = served.filter(
        (r) => r.startedAt > loadStarted && r.answeredAt < (loadEnded ?? 0),
      );
      expect(during.length).toBeGreaterThanOrEqual(3);
      const n = largeModelSide(BIG_WEIGHT_BYTES);
      await expect(
        sut.run(
          'big@1',
          { x: { datatype: 'FP32', shape: [1, n], data: new Float32Array(n) } },
          undefined,
          1,
        ),
      ).resolves.toMatchObject({ outputs: { y: { shape: [1, n] } } });
    });
  });

  describe('small models', () => {
    let sut: WorkerPool;
    let lost: CopyLoss[];
    let firstLoss: Promise<void>;

    beforeEach(() => ({ pool: sut, lost, firstLoss } = makePool(2)));
    afterEach(() => closePool(sut));

    it('share a thread until it is full; large ones get a thread each', async () => {
      const a = await loadCopy(sut, 'a@1', mlpPath, 1, SMALL);
      const b = await loadCopy(sut, 'b@1', mlpPath, 1, SMALL);
      const c = await loadCopy(sut, 'c@1', mlpPath, 1, SMALL);
      const big = await loadCopy(sut, 'big@1', mlpPath, 1, OWN);

      // Two small models fill a shared thread (sharedThreadBytes: 2 of them).
      expect(workerOf(sut, b.copy)).toBe(workerOf(sut, a.copy));
      expect(workerOf(sut, c.copy)).not.toBe(workerOf(sut, a.copy));
      expect(workerOf(sut, big.copy)).not.toBe(workerOf(sut, c.copy));
      expect(sut.threadsInUse).toBe(3);
      // A shared thread with room is not the spare: such a load takes no new thread.
      await sut.ensureSpare();
      expect(sut.takesSpare('d@1', SMALL)).toBe(false);
      expect(sut.takesSpare('d@1', OWN)).toBe(true);
    });

    it('never run at the same time when they share a thread', async () => {
      const a = await loadCopy(sut, 'a@1', slowPath, 1, SMALL);
      const b = await loadCopy(sut, 'b@1', slowPath, 1, SMALL);
      const x = sampleInput(SLOW_BATCH * SLOW_MLP.inputSize);

      const [ra, rb] = await Promise.all([
        sut.run('a@1', slowInput(x), undefined, SLOW_BATCH),
        sut.run('b@1', slowInput(x), undefined, SLOW_BATCH),
      ]);
      const [first, second] = ra.startedAt < rb.startedAt ? [ra, rb] : [rb, ra];

      expect(workerOf(sut, a.copy)).toBe(workerOf(sut, b.copy));
      expect(second.startedAt).toBeGreaterThanOrEqual(
        first.startedAt + first.computeMs,
      );
    });

    it('keep their thread while one of them is left, and end it with the last', async () => {
      const a = await loadCopy(sut, 'a@1', mlpPath, 1, SMALL);
      const b = await loadCopy(sut, 'b@1', mlpPath, 1, SMALL);
      const worker = workerOf(sut, a.copy);
      let exited = false;
      worker.once('exit', () => (exited = true));

      await sut.release(a.copy);
      const stillServing = await sut.run('b@1', mlpInput(), undefined, 1);
      const exitedBefore = exited;
      await sut.release(b.copy);

      expect(stillServing).toMatchObject(SERVED_ONE_ROW);
      expect(exitedBefore).toBe(false);
      expect(exited).toBe(true);
      expect(sut.threadsInUse).toBe(0);
    });

    it('are all lost with their thread when it dies, each reported', async () => {
      const a = await loadCopy(sut, 'a@1', mlpPath, 1, SMALL);
      const b = await loadCopy(sut, 'b@1', mlpPath, 1, SMALL);
      const other = await loadCopy(sut, 'other@1', mlpPath, 1, OWN);

      await workerOf(sut, a.copy).terminate();
      await firstLoss;

      expect(lost).toEqual([
        expect.objectContaining({ key: 'a@1', copy: a.copy, remaining: 0 }),
        expect.objectContaining({ key: 'b@1', copy: b.copy, remaining: 0 }),
      ]);
      expect(workerOf(sut, other.copy)).toBeDefined();
      await expect(
        sut.run('other@1', mlpInput(), undefined, 1),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
    });
  });

  describe('when a worker dies', () => {
    let sut: WorkerPool;
    let lost: CopyLoss[];
    let firstLoss: Promise<void>;

    beforeEach(() => ({ pool: sut, lost, firstLoss } = makePool(2)));
    afterEach(() => closePool(sut));

    it('loses only the copy it held, fails the run posted to it, and keeps serving the rest', async () => {
      const a = await loadCopy(sut, 'a@1', mlpPath);
      await loadCopy(sut, 'b@1', mixedPath);
      const victim = workerOf(sut, a.copy);

      // The run is posted after terminate() began: the worker never gets to it.
      const pending = sut
        .run('a@1', mlpInput(), undefined, 1)
        .catch((e: unknown) => e);
      const terminated = victim.terminate();

      const error = await pending;
      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await terminated;
      await firstLoss;
      expect(lost).toEqual([
        {
          key: 'a@1',
          copy: a.copy,
          remaining: 0,
          reason: expect.stringMatching(/worker \d+ exited/),
        },
      ]);

      await expect(
        sut.run('a@1', mlpInput(), undefined, 1),
      ).rejects.toMatchObject({ code: 'MODEL_NOT_LOADED' });
      const other = await sut.run(
        'b@1',
        mixedInput([1, 2, 3], [0n, 0n, 0n]),
        undefined,
        1,
      );
      expect(Array.from(other.outputs['sum'].data as Float32Array)).toEqual([
        1, 2, 3,
      ]);
      // It can load again, on a fresh worker.
      const again = await loadCopy(sut, 'a@1', mlpPath);
      expect(workerOf(sut, again.copy).threadId).not.toBe(victim.threadId);
      const x = sampleInput(4);
      const { outputs } = await sut.run('a@1', mlpInput(1, x), undefined, 1);
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 1));
    });

    it('retries the run of a copy that died on another copy of the model', async () => {
      const first = await loadCopy(sut, 'a@1', mlpPath);
      const second = await loadCopy(sut, 'a@1', mlpPath);
      // The least recently used copy takes the next run: the first, which never ran.
      const victim = workerOf(sut, first.copy);

      const pending = sut.run('a@1', mlpInput(), undefined, 1);
      const terminated = victim.terminate();

      const result = await pending;
      await terminated;
      await firstLoss;
      expect(result).toMatchObject({ ...SERVED_ONE_ROW, copy: second.copy });
      expect(lost).toEqual([
        expect.objectContaining({ key: 'a@1', copy: first.copy, remaining: 1 }),
      ]);
      expect(sut.serving('a@1')).toBe(1);
    });

    it('fails a load on a worker that dies before it is ready, and reports nothing served lost', async () => {
      // Terminated at once, long before the worker gets to warming up its backends.
      const terminated = spareWorker(sut)?.terminate();

      const error = await sut
        .load('mlp@1', 'onnx', mlpPath, 1, 1, OWN)
        .done.catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_NOT_LOADED' });
      await terminated;
      expect(lost).toEqual([]);
      await loadCopy(sut, 'mlp@1', mlpPath);
      await expect(
        sut.run('mlp@1', mlpInput(), undefined, 1),
      ).resolves.toMatchObject(SERVED_ONE_ROW);
    });
  });

  describe('merging runs', () => {
    let sut: WorkerPool;

    beforeAll(
      () =>
        ({ pool: sut } = makePool(1, undefined, {
          maxBatch: 8,
          maxQueueDelayMs: 0,
        })),
    );
    afterAll(() => closePool(sut));

    it('runs the runs waiting for a busy copy as one batch, each answered with its own rows', async () => {
      await loadCopy(sut, 'mlp@1', mlpPath);
      const rows = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1];
      const inputs = rows.map((n) => sampleInput(n * 4));

      const runs = await Promise.all(
        inputs.map((x, i) =>
          sut.run('mlp@1', mlpInput(rows[i], x), undefined, rows[i]),
        ),
      );

      runs.forEach((r, i) => {
        expect(r.outputs['y'].shape).toEqual([rows[i], 3]);
        expectClose(
          r.outputs['y'].data as Float32Array,
          mlpReference(MLP, inputs[i], rows[i]),
        );
      });
      // The first found the copy free and ran alone; the rest waited and were merged,
      // never past 8 rows.
      expect(runs[0].merged).toBeUndefined();
      const merged = runs.filter((r) => r.merged);
      expect(merged.length).toBeGreaterThanOrEqual(2);
      for (const r of merged) expect(r.merged?.rows).toBeLessThanOrEqual(8);
      expect(new Set(merged.map((r) => r.merged?.runs)).has(1)).toBe(false);
    });

    it('does not merge runs that ask for different outputs or differ past the batch dimension', async () => {
      await loadCopy(sut, 'mixed@1', mixedPath);
      const runs = await Promise.all([
        sut.run('mixed@1', mixedInput([1, 2, 3], [0n, 0n, 1n]), undefined, 1),
        sut.run('mixed@1', mixedInput([3, 2, 1], [0n, 0n, 2n]), ['argmax'], 1),
        sut.run('mixed@1', mixedInput([1, 3, 2], [0n, 0n, 3n]), ['argmax'], 1),
        sut.run('mixed@1', mixedInput([2, 1, 3], [0n, 0n, 4n]), undefined, 1),
      ]);

      expect(Object.keys(runs[1].outputs)).toEqual(['argmax']);
      expect(runs[1].merged).toEqual({
        runs: 2,
        rows: 2,
        computeMs: expect.any(Number),
      });
      expect(runs[2].merged).toEqual({
        runs: 2,
        rows: 2,
        computeMs: expect.any(Number),
      });
      // One at a time, nothing waits: what each answers on its own.
      const alone = [
        await sut.run(
          'mixed@1',
          mixedInput([3, 2, 1], [0n, 0n, 2n]),
          ['argmax'],
          1,
        ),
        await sut.run(
          'mixed@1',
          mixedInput([1, 3, 2], [0n, 0n, 3n]),
          ['argmax'],
          1,
        ),
      ];
      expect(alone.map((r) => r.merged)).toEqual([undefined, undefined]);
      for (const i of [0, 1])
        expect(runs[i + 1].outputs['argmax'].data).toEqual(
          alone[i].outputs['argmax'].data,
        );
      expect(runs[3].merged).toBeUndefined();
      expect(Object.keys(runs[3].outputs).sort()).toEqual(
        Object.keys(runs[0].outputs).sort(),
      );
    });

    it('holds the oldest run back up to the queue delay for others to join it', async () => {
      const { pool } = makePool(1, undefined, {
        maxBatch: 4,
        maxQueueDelayMs: 50,
      });
      try {
        await loadCopy(pool, 'mlp@1', mlpPath);
        const inputs = [0, 1, 2].map(() => sampleInput(4));
        const first = pool.run('mlp@1', mlpInput(1, inputs[0]), undefined, 1);
        await new Promise((resolve) => setTimeout(resolve, 10));
        const rest = inputs
          .slice(1)
          .map((x) => pool.run('mlp@1', mlpInput(1, x), undefined, 1));

        const runs = await Promise.all([first, ...rest]);

        for (const r of runs)
          expect(r.merged).toEqual({
            runs: 3,
            rows: 3,
            computeMs: expect.any(Number),
          });
        // Each has its share of the one run's time, and its own wait before it.
        expect(runs.reduce((n, r) => n + r.computeMs, 0)).toBeCloseTo(
          runs[0].merged?.computeMs ?? NaN,
        );
        for (const r of runs) expect(r.queueMs).toBeGreaterThanOrEqual(0);
        runs.forEach((r, i) =>
          expectClose(
            r.outputs['y'].data as Float32Array,
            mlpReference(MLP, inputs[i], 1),
          ),
        );
      } finally {
        await closePool(pool);
      }
    });
  });

  describe('deadlines', () => {
    let sut: WorkerPool;

    beforeAll(() => ({ pool: sut } = makePool(1)));
    afterAll(() => closePool(sut));

    it('drops a run whose deadline passes while it waits for a copy, with TIMEOUT, and runs the rest', async () => {
      await loadCopy(sut, 'mlp@1', mlpPath);
      // Two hundred runs ahead of it on one thread: it waits far longer than 1 ms.
      const ahead = Array.from({ length: 200 }, () =>
        sut.run('mlp@1', mlpInput(), undefined, 1, 60_000),
      );
      const late = sut
        .run('mlp@1', mlpInput(), undefined, 1, 1)
        .catch((e: unknown) => e);
      const patient = sut.run('mlp@1', mlpInput(), undefined, 1, 60_000);

      const error = await late;
      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'TIMEOUT' });
      expect((error as Error).message).toMatch(
        /mlp@1 was not run: it waited \d+ ms for a copy, past its deadline/,
      );
      await expect(Promise.all(ahead)).resolves.toHaveLength(200);
      await expect(patient).resolves.toMatchObject(SERVED_ONE_ROW);
    });
  });

  describe('inline twins', () => {
    /**
     * Generous for a 4-16-3 MLP (a few us a run), far too little for SLOW_MLP; however
     * busy the test's own event loop was (one test below sets the bound).
     */
    const INLINE = { maxBytes: 2 * MiB, maxRunMs: 5, maxLoopUtilization: 1 };
    let sut: WorkerPool;
    let firstLoss: Promise<void>;

    beforeAll(() => ({ pool: sut, firstLoss } = makePool(2, INLINE)));
    afterAll(() => closePool(sut));

    it('run a small fast model on the main thread, to the same numbers as its worker copy', async () => {
      await loadCopy(sut, 'tiny@1', mlpPath, 1, SMALL);
      const x = sampleInput(4);

      const inline = await sut.run('tiny@1', mlpInput(1, x), undefined, 1);
      // Above the warm-up's batch: what the twin may hold the event loop for is unknown.
      const x3 = sampleInput(3 * 4);
      const larger = await sut.run('tiny@1', mlpInput(3, x3), undefined, 3);

      expect(inline.inline).toBe(true);
      expectClose(
        inline.outputs['y'].data as Float32Array,
        mlpReference(MLP, x, 1),
      );
      expect(larger.inline).toBeUndefined();
      expectClose(
        larger.outputs['y'].data as Float32Array,
        mlpReference(MLP, x3, 3),
      );
      expect(sut.statsOf('tiny@1').busyMs).toBeGreaterThan(0);
    });

    it('send the runs that find the twin busy to the worker copy', async () => {
      const inputs = [1, 2, 3, 4].map(() => sampleInput(4));

      const runs = await Promise.all(
        inputs.map((x) => sut.run('tiny@1', mlpInput(1, x), undefined, 1)),
      );

      expect(runs[0].inline).toBe(true);
      expect(runs.filter((r) => r.inline === undefined).length).toBeGreaterThan(
        0,
      );
      runs.forEach((r, i) =>
        expectClose(
          r.outputs['y'].data as Float32Array,
          mlpReference(MLP, inputs[i], 1),
        ),
      );
    });

    it('leave runs to the worker copies while the event loop has been busy', async () => {
      const { pool } = makePool(2, { ...INLINE, maxLoopUtilization: 0.5 });
      try {
        await loadCopy(pool, 'tiny@1', mlpPath, 1, SMALL);
        await new Promise((resolve) => setTimeout(resolve, 40));
        const idle = await pool.run('tiny@1', mlpInput(), undefined, 1);
        const spinUntil = performance.now() + 60;
        while (performance.now() < spinUntil);
        const busy = await pool.run('tiny@1', mlpInput(), undefined, 1);

        expect(idle.inline).toBe(true);
        expect(busy.inline).toBeUndefined();
      } finally {
        await closePool(pool);
      }
    });

    it('answer an input the engine refuses as the worker does, with INVALID_INPUT', async () => {
      // The host checks shapes against the signature first; the pool passes what it gets.
      const wrong = {
        x: { datatype: 'FP32', shape: [1, 5], data: new Float32Array(5) },
      } as Record<string, Tensor>;

      await expect(
        sut.run('tiny@1', wrong, undefined, 1),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('tiny@1 refused the input'),
      });
      await expect(
        sut.run('tiny@1', wrong, undefined, 2),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    });

    it('are not made for models above the size or slower than the run time allowed', async () => {
      await loadCopy(sut, 'large@1', mlpPath, 1, {
        shared: true,
        bytes: 3 * MiB,
      });
      await loadCopy(sut, 'slow@1', slowPath, 512, OWN);

      const large = await sut.run('large@1', mlpInput(), undefined, 1);
      const slow = await sut.run(
        'slow@1',
        slowInput(sampleInput(SLOW_MLP.inputSize)),
        undefined,
        1,
      );

      expect(large.inline).toBeUndefined();
      expect(slow.inline).toBeUndefined();
      await sut.release(internalsCopy(sut, 'large@1'));
      await sut.release(internalsCopy(sut, 'slow@1'));
    });

    it('go with their copy: released, the model is not served on the main thread either', async () => {
      await loadCopy(sut, 'brief@1', mlpPath, 1, SMALL);
      expect((await sut.run('brief@1', mlpInput(), undefined, 1)).inline).toBe(
        true,
      );

      await sut.release(internalsCopy(sut, 'brief@1'));

      await expect(
        sut.run('brief@1', mlpInput(), undefined, 1),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
    });

    it('go with their copy when its worker dies', async () => {
      const { copy } = await loadCopy(sut, 'doomed@1', mlpPath, 1, OWN);
      expect((await sut.run('doomed@1', mlpInput(), undefined, 1)).inline).toBe(
        true,
      );

      await workerOf(sut, copy).terminate();
      await firstLoss;

      await expect(
        sut.run('doomed@1', mlpInput(), undefined, 1),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      // The other models' twins are untouched.
      expect((await sut.run('tiny@1', mlpInput(), undefined, 1)).inline).toBe(
        true,
      );
    });
  });

  it('ends the worker of an abandoned load once the load is over', async () => {
    const { pool: sut, lost } = makePool(1);
    await sut.ensureSpare();
    const { copy, done } = sut.load('slow-load@1', 'onnx', bigPath, 1, 1, OWN);
    const worker = workerOf(sut, copy);
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await sut.ensureSpare();

    await sut.abandon(copy, done);

    await exited;
    await expect(done).resolves.toMatchObject({ warmupBatch: 1 });
    expect(sut.serving('slow-load@1')).toBe(0);
    expect(sut.threads).toBe(1);
    expect(sut.threadsInUse).toBe(0);
    expect(lost).toEqual([]);
    await closePool(sut);
  });

  it('stops its workers on close without reporting them lost', async () => {
    const { pool: sut, lost } = makePool(2);
    const { copy } = await loadCopy(sut, 'mlp@1', mlpPath);
    await sut.ensureSpare();
    const workers = [workerOf(sut, copy), spareWorker(sut)];
    const exited = workers.map(
      (w) => new Promise<number>((resolve) => w?.once('exit', resolve)),
    );

    await sut.close();

    await Promise.all(exited);
    expect(lost).toEqual([]);
  });
});
