import { Logger } from '@nestjs/common';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { LoadedModelReport, PortfolioError } from '@portfolio/contracts';
import { LocalStorageDriver } from '@portfolio/storage';
import { Tensor } from '@portfolio/tensor';
import {
  buildLargeModel,
  buildMixedTypesModel,
  buildMlpModel,
  makeTempDir,
  mlpReference,
  writeModel,
} from '@portfolio/testing';

import { ModelHostService } from './model-host.service';
import { RuntimeSettings } from './runtime.settings';
import {
  closeHost,
  expectClose,
  hostIdle,
  loadRequestFor,
  sampleInput,
  settleMemory,
  testRuntimeSettings,
} from './runtime.testing';
import { WorkerPool } from './worker/worker-pool';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
/** Big enough that a run at batch 4096 takes a while (tens to hundreds of ms). */
const SLOW_MLP = {
  inputSize: 256,
  hidden: [1024, 1024],
  outputSize: 8,
  seed: 5,
};
const MiB = 1024 * 1024;
/** What a run of MLP at batch 1 answers: one row of its outputs. */
const SERVED_ONE_ROW = { outputs: { y: { datatype: 'FP32', shape: [1, 3] } } };
const LARGE_WEIGHT_BYTES = 40 * MiB;

/** The host's private pool, for tests that kill a worker or check what it still holds. */
type HostInternals = {
  pool: Pick<WorkerPool, 'serving'> & {
    byId: Map<number, { key: string; host: { thread: { worker: Worker } } }>;
  };
};
const internals = (host: ModelHostService) => host as unknown as HostInternals;
/** The worker threads holding copies of `key`. */
const workersOf = (host: ModelHostService, key: string): Worker[] =>
  [...internals(host).pool.byId.values()]
    .filter((c) => c.key === key)
    .map((c) => c.host.thread.worker);

const mlpInput = (
  batch: number,
  data: Float32Array = sampleInput(batch * 4),
): Record<string, Tensor> => ({
  x: { datatype: 'FP32', shape: [batch, 4], data },
});

describe(ModelHostService.name, () => {
  let root: string;
  let storage: LocalStorageDriver;
  const hosts: ModelHostService[] = [];
  const makeHost = (overrides: Partial<RuntimeSettings> = {}) => {
    const host = new ModelHostService(testRuntimeSettings(overrides), storage);
    hosts.push(host);
    return host;
  };

  beforeAll(() => {
    Logger.overrideLogger(false);
    root = makeTempDir('model-host');
    storage = new LocalStorageDriver(root);
    writeModel(join(root, 'mlp'), 'model.onnx', buildMlpModel(MLP));
    writeModel(join(root, 'mixed'), 'model.onnx', buildMixedTypesModel());
    writeModel(join(root, 'slow'), 'model.onnx', buildMlpModel(SLOW_MLP));
    buildLargeModel({
      weightBytes: LARGE_WEIGHT_BYTES,
      externalData: true,
      dir: join(root, 'large'),
      name: 'model',
    });
  });
  afterAll(async () => {
    await Promise.all(hosts.map(closeHost));
    rmSync(root, { recursive: true, force: true });
  });

  describe('with room for everything', () => {
    let sut: ModelHostService;

    beforeAll(() => (sut = makeHost()));

    it('loads a model, counts it in its used memory, raises the state version and serves it', async () => {
      const req = loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' });
      const before = sut.stateVersion;

      const res = await sut.load(req);

      expect(res).toMatchObject({
        model_id: 'mlp',
        version: 1,
        loaded_now: true,
      });
      expect(res.load_ms).toBeGreaterThan(0);
      expect(res.state_version).toBeGreaterThan(before);
      expect(sut.stateVersion).toBeGreaterThanOrEqual(res.state_version);
      expect(sut.usedBytes()).toBe(res.memory_bytes);
      const x = sampleInput(3 * 4);
      const { outputs } = await sut.infer('mlp', 1, mlpInput(3, x));
      expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 3));
    });

    it('loads a model once when asked for it twice at the same time', async () => {
      const req = loadRequestFor(root, 'mlp/model.onnx', { model_id: 'twice' });

      const [first, second] = await Promise.all([sut.load(req), sut.load(req)]);
      const third = await sut.load(req);

      // The second request joined the load in progress.
      expect(second).toBe(first);
      expect(first.loaded_now).toBe(true);
      expect(third).toMatchObject({
        loaded_now: false,
        memory_bytes: first.memory_bytes,
      });
      expect(sut.report().filter((m) => m.model_id === 'twice')).toHaveLength(
        1,
      );
    });

    it('reports every field of a loaded model that served a request', async () => {
      const loaded = await sut.load(
        loadRequestFor(root, 'mlp/model.onnx', {
          model_id: 'reported',
          version: 3,
        }),
      );
      const entry = () => sut.report().find((m) => m.model_id === 'reported');
      expect(entry()).toMatchObject({
        state: 'loaded',
        requests: 0,
        last_used_at: null,
      });

      await sut.infer('reported', 3, mlpInput(1));

      const report = entry();
      expect(LoadedModelReport.safeParse(report).success).toBe(true);
      expect(report).toEqual({
        model_id: 'reported',
        version: 3,
        state: 'loaded',
        memory_bytes: loaded.memory_bytes,
        copies: 1,
        loaded_at: expect.any(String),
        last_used_at: expect.any(String),
        requests: 1,
        errors: 0,
        in_flight: 0,
        busy_ms: expect.any(Number),
        load_ms: loaded.load_ms,
        reason: null,
      });
      const loadedAt = Date.parse(report?.loaded_at ?? '');
      expect(loadedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(Date.parse(report?.last_used_at ?? '')).toBeGreaterThanOrEqual(
        loadedAt,
      );
      // The run's compute time, as the worker measured it.
      expect(report?.busy_ms).toBeGreaterThan(0);
    });

    it('runs a model with INT64 inputs and outputs', async () => {
      await sut.load(
        loadRequestFor(root, 'mixed/model.onnx', { model_id: 'mixed' }),
      );

      const { outputs } = await sut.infer(
        'mixed',
        1,
        {
          a: {
            datatype: 'FP32',
            shape: [1, 3],
            data: Float32Array.from([1, 5, 2]),
          },
          b: {
            datatype: 'INT64',
            shape: [1, 3],
            data: BigInt64Array.from([0n, 0n, 9n]),
          },
        },
        ['argmax'],
      );

      expect(Object.keys(outputs)).toEqual(['argmax']);
      expect(Array.from(outputs['argmax'].data as BigInt64Array)).toEqual([2n]);
    });

    it('counts the models already loaded against the hard limit', async () => {
      await sut.load(
        loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
      );
      const free = sut.settings.capacityBytes - sut.usedBytes();
      const versionBefore = sut.stateVersion;

      const error = await sut
        .load(
          loadRequestFor(root, 'mlp/model.onnx', {
            model_id: 'one-too-many',
            memory_estimate_bytes: free + 1,
          }),
        )
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INSUFFICIENT_MEMORY',
        details: { needed_bytes: free + 1 },
      });
      expect(sut.report().some((m) => m.model_id === 'one-too-many')).toBe(
        false,
      );
      expect(sut.stateVersion).toBe(versionBefore);
    });

    describe('checking inputs against the signature', () => {
      beforeAll(async () => {
        await sut.load(
          loadRequestFor(root, 'mlp/model.onnx', { model_id: 'checked' }),
        );
      });

      it.each<
        [
          string,
          Record<string, Tensor>,
          readonly string[] | undefined,
          string,
          RegExp,
        ]
      >([
        [
          'an unknown input',
          {
            ...mlpInput(1),
            z: { datatype: 'FP32', shape: [1], data: new Float32Array(1) },
          },
          undefined,
          'z',
          /no input "z"/,
        ],
        ['a missing input', {}, undefined, 'x', /input "x" is missing/],
        [
          'a wrong datatype',
          { x: { datatype: 'INT32', shape: [1, 4], data: new Int32Array(4) } },
          undefined,
          'x',
          /input "x".*expected datatype FP32, got INT32/,
        ],
        [
          'a wrong shape',
          { x: { datatype: 'FP32', shape: [1, 5], data: new Float32Array(5) } },
          undefined,
          'x',
          /input "x".*expected shape/,
        ],
        [
          'a wrong rank',
          { x: { datatype: 'FP32', shape: [4], data: new Float32Array(4) } },
          undefined,
          'x',
          /input "x".*rank/,
        ],
        [
          'an unknown output',
          mlpInput(1),
          ['y', 'nope'],
          'nope',
          /no output "nope"/,
        ],
      ])(
        'refuses %s with INVALID_INPUT naming it',
        async (_case, inputs, outputs, name, message) => {
          const error = await sut
            .infer('checked', 1, inputs, outputs)
            .catch((e: unknown) => e);

          expect(error).toMatchObject({ code: 'INVALID_INPUT' });
          expect((error as Error).message).toMatch(message);
          expect((error as Error).message).toContain(`"${name}"`);
          const entry = sut.report().find((m) => m.model_id === 'checked');
          expect(entry).toMatchObject({ state: 'loaded', in_flight: 0 });
        },
      );
    });

    it('fails a missing artifact with MODEL_LOAD_FAILED and holds nothing for it', async () => {
      const req = {
        ...loadRequestFor(root, 'mlp/model.onnx', { model_id: 'missing' }),
        artifact_uri: 'local:missing/model.onnx',
      };
      const usedBefore = sut.usedBytes();

      const error = await sut.load(req).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toContain('local:missing/model.onnx');
      expect(sut.report().find((m) => m.model_id === 'missing')).toMatchObject({
        state: 'failed',
        memory_bytes: 0,
        reason: expect.stringContaining('cannot be read'),
      });
      expect(sut.usedBytes()).toBe(usedBefore);
      await expect(sut.infer('missing', 1, mlpInput(1))).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      // Unloading forgets the failed model.
      await expect(sut.unload('missing', 1)).resolves.toMatchObject({
        was_loaded: false,
        freed_bytes: 0,
      });
      expect(sut.report().some((m) => m.model_id === 'missing')).toBe(false);
    });

    it('refuses inference on a model it does not hold with MODEL_NOT_LOADED naming the node', async () => {
      const error = await sut
        .infer('never', 1, mlpInput(1))
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'MODEL_NOT_LOADED',
        details: { node_id: 'node-test' },
      });
    });

    it('answers an unload of a model it does not hold with was_loaded false', async () => {
      await expect(sut.unload('never', 1)).resolves.toEqual({
        freed_bytes: 0,
        was_loaded: false,
        state_version: sut.stateVersion,
      });
    });

    it('tells its listeners about every change until they unsubscribe', async () => {
      let calls = 0;
      const unsubscribe = sut.onChange(() => calls++);

      await sut.load(
        loadRequestFor(root, 'mlp/model.onnx', { model_id: 'listened' }),
      );
      const afterLoad = calls;
      await sut.unload('listened', 1);
      const afterUnload = calls;
      unsubscribe();
      await sut.load(
        loadRequestFor(root, 'mlp/model.onnx', { model_id: 'listened' }),
      );

      expect(afterLoad).toBeGreaterThan(0);
      expect(afterUnload).toBeGreaterThan(afterLoad);
      expect(calls).toBe(afterUnload);
    });

    it('waits for the requests in flight before unloading a model', async () => {
      const loaded = await sut.load(
        loadRequestFor(root, 'slow/model.onnx', { model_id: 'slow' }),
      );
      await hostIdle(sut);
      const batch = 4096;
      const x = sampleInput(batch * SLOW_MLP.inputSize);
      const order: string[] = [];

      // What the host counted for the model once the run was over: its arena's growth
      // included, when the RSS showed any (a process whose allocator already holds
      // freed pages, as a jest worker that ran other files may, shows none).
      let countedAfterRun = 0;
      const run = sut
        .infer('slow', 1, {
          x: { datatype: 'FP32', shape: [batch, SLOW_MLP.inputSize], data: x },
        })
        .then((r) => {
          order.push('run');
          countedAfterRun =
            sut.report().find((m) => m.model_id === 'slow')?.memory_bytes ?? 0;
          return r;
        });
      const unload = sut
        .unload('slow', 1)
        .then((r) => (order.push('unload'), r));

      // While it drains: reported as unloading, no new requests; a load asked for
      // meanwhile waits for the unload to finish and then loads the model afresh.
      expect(sut.report().find((m) => m.model_id === 'slow')).toMatchObject({
        state: 'unloading',
        in_flight: 1,
      });
      await expect(
        sut.infer('slow', 1, {
          x: { datatype: 'FP32', shape: [1, 256], data: new Float32Array(256) },
        }),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      const reload = sut
        .load(loadRequestFor(root, 'slow/model.onnx', { model_id: 'slow' }))
        .then((r) => (order.push('reload'), r));

      const [result, unloaded, reloaded] = await Promise.all([
        run,
        unload,
        reload,
      ]);
      expect(order).toEqual(['run', 'unload', 'reload']);
      expect(reloaded.loaded_now).toBe(true);
      await sut.unload('slow', 1);
      expect(result.outputs['y'].shape).toEqual([batch, SLOW_MLP.outputSize]);
      const rows = 2;
      expectClose(
        (result.outputs['y'].data as Float32Array).subarray(
          0,
          rows * SLOW_MLP.outputSize,
        ),
        mlpReference(SLOW_MLP, x.subarray(0, rows * SLOW_MLP.inputSize), rows),
        1e-4,
        1e-5,
      );
      // All it counted is freed, measured growth included.
      expect(unloaded.was_loaded).toBe(true);
      expect(countedAfterRun).toBeGreaterThanOrEqual(loaded.memory_bytes);
      expect(unloaded.freed_bytes).toBe(countedAfterRun);
      expect(sut.report().some((m) => m.model_id === 'slow')).toBe(false);
      await expect(
        sut.infer('slow', 1, {
          x: { datatype: 'FP32', shape: [1, 256], data: new Float32Array(256) },
        }),
      ).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
    });
  });

  describe('at its hard limit', () => {
    it('refuses a load whose estimate is above its capacity with INSUFFICIENT_MEMORY and loads nothing', async () => {
      const sut = makeHost({ capacityBytes: 1 * MiB });
      const req = loadRequestFor(root, 'mlp/model.onnx', {
        model_id: 'too-big',
        memory_estimate_bytes: 2 * MiB,
      });

      const error = await sut.load(req).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INSUFFICIENT_MEMORY',
        details: {
          node_id: 'node-test',
          needed_bytes: 2 * MiB,
          capacity_bytes: 1 * MiB,
        },
      });
      expect(sut.report()).toEqual([]);
      expect(sut.usedBytes()).toBe(0);
      expect(sut.stateVersion).toBe(0);
    });

    it('unloads and refuses a model whose measured memory turns out above its capacity', async () => {
      // 40 MiB of weights in external data, declared (wrongly) as 1 MiB. Above glibc's
      // largest mmap threshold (32 MiB), so the weights get fresh pages and the RSS
      // delta sees them whatever memory the process freed before. The capacity leaves
      // room for the declared size at its peak and for the jest process's own noise in
      // the RSS (the runtime also refuses what its RSS says would not fit).
      const sut = makeHost({ capacityBytes: 16 * MiB });
      const req = loadRequestFor(root, 'large/model.onnx', {
        model_id: 'underestimated',
        memory_estimate_bytes: 1 * MiB,
      });
      expect(req.size_bytes).toBeLessThan(1 * MiB);
      // The measurement is the process's RSS delta: other hosts' workers still starting
      // (or dropping their start-up garbage) would be counted in it.
      await Promise.all(hosts.map(hostIdle));
      await settleMemory();

      const error = await sut.load(req).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'INSUFFICIENT_MEMORY' });
      expect((error as Error).message).toMatch(
        /measured \d+ bytes once loaded/,
      );
      expect(
        (error as PortfolioError).details?.['measured_bytes'],
      ).toBeGreaterThan(16 * MiB);
      expect(sut.report()).toEqual([
        expect.objectContaining({
          model_id: 'underestimated',
          state: 'failed',
          memory_bytes: 0,
        }),
      ]);
      expect(sut.usedBytes()).toBe(0);
      await expect(sut.infer('underestimated', 1, {})).rejects.toMatchObject({
        code: 'MODEL_NOT_LOADED',
      });
      // Gone from the workers too, not only from the books.
      expect(internals(sut).pool.serving('underestimated@1')).toBe(0);
      expect(workersOf(sut, 'underestimated@1')).toEqual([]);
    });
  });

  it('marks the models of a worker that died as failed', async () => {
    const sut = makeHost();
    await sut.load(
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'orphan' }),
    );
    const changed = new Promise<void>((resolve) => {
      const off = sut.onChange(() => {
        if (sut.report()[0]?.state === 'failed') {
          off();
          resolve();
        }
      });
    });

    // An idle worker: safe to terminate (see closeHost).
    await workersOf(sut, 'orphan@1')[0].terminate();
    await changed;

    expect(sut.report()).toEqual([
      expect.objectContaining({
        model_id: 'orphan',
        state: 'failed',
        memory_bytes: 0,
        reason: expect.stringMatching(/exited/),
      }),
    ]);
    expect(sut.usedBytes()).toBe(0);
    await expect(sut.infer('orphan', 1, mlpInput(1))).rejects.toMatchObject({
      code: 'MODEL_NOT_LOADED',
    });
    // It can be loaded again, on the replacement worker.
    await expect(
      sut.load(loadRequestFor(root, 'mlp/model.onnx', { model_id: 'orphan' })),
    ).resolves.toMatchObject({ loaded_now: true });
    await expect(sut.infer('orphan', 1, mlpInput(1))).resolves.toMatchObject(
      SERVED_ONE_ROW,
    );
  });
});
