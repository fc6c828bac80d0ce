import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import { EngineSettings, PortfolioError } from '@portfolio/contracts';
import {
  ALL_TYPES_INPUTS,
  buildAllTypesModel,
  buildIoModel,
  buildLargeModel,
  buildMixedTypesModel,
  buildMlpModel,
  buildSymbolicDimsModel,
  IoModelNames,
  largeModelSide,
  makeTempDir,
  mlpReference,
  mulberry32,
  PLAIN_IO_NAMES,
  writeModel,
} from '@portfolio/testing';
import { float16BitsToFloat32, Tensor } from '@portfolio/tensor';

import { EngineError } from '../engine-message';
import { LoadedModel } from '../model-backend';
import { warmupInputs } from '../warmup.util';
import {
  CUDA_PROVIDER_FILES,
  missingCudaFiles,
  OnnxBackend,
  ortSessionOptions,
} from './onnx.backend';

const MLP = { inputSize: 4, hidden: [8, 6], outputSize: 3, seed: 5 };

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(
      1e-5 * Math.max(1, Math.abs(expected[i])),
    );
  }
}

describe(OnnxBackend.name, () => {
  let dir: string;
  let sut: OnnxBackend;
  const opened: LoadedModel[] = [];

  beforeAll(() => {
    dir = makeTempDir('onnx-backend');
  });
  beforeEach(() => {
    sut = new OnnxBackend();
  });
  afterEach(async () => {
    for (const model of opened.splice(0)) await model.release();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(path: string): Promise<LoadedModel> {
    const model = await sut.load(path, { intraOpThreads: 1 });
    opened.push(model);
    return model;
  }

  it('warms up without a model', async () => {
    await expect(sut.warmUp()).resolves.toBeUndefined();
  });

  it('loads an MLP and reads its signature from the session', async () => {
    const model = await load(writeModel(dir, 'mlp.onnx', buildMlpModel(MLP)));

    expect(model.signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });
  });

  it('runs the MLP and matches the reference computation', async () => {
    const model = await load(
      writeModel(dir, 'mlp-run.onnx', buildMlpModel(MLP)),
    );
    const random = mulberry32(3);
    const batch = 5;
    const x = Float32Array.from(
      { length: batch * MLP.inputSize },
      () => random() * 2 - 1,
    );

    const out = await model.run({
      x: { datatype: 'FP32', shape: [batch, MLP.inputSize], data: x },
    });

    expect(Object.keys(out)).toEqual(['y']);
    expect(out['y'].datatype).toBe('FP32');
    expect(out['y'].shape).toEqual([batch, MLP.outputSize]);
    expectClose(out['y'].data as Float32Array, mlpReference(MLP, x, batch));
  });

  it('runs a model with INT64 inputs and outputs, returning only the outputs asked for', async () => {
    const model = await load(
      writeModel(dir, 'mixed.onnx', buildMixedTypesModel()),
    );

    const out = await model.run(
      {
        a: {
          datatype: 'FP32',
          shape: [2, 3],
          data: Float32Array.from([0.5, 0, 0, 0, 0, 0.25]),
        },
        b: {
          datatype: 'INT64',
          shape: [2, 3],
          data: BigInt64Array.from([0n, 1n, 0n, 0n, 0n, 0n]),
        },
      },
      ['argmax'],
    );

    expect(Object.keys(out)).toEqual(['argmax']);
    expect(out['argmax']).toEqual({
      datatype: 'INT64',
      shape: [2],
      data: BigInt64Array.from([1n, 2n]),
    });
  });

  it('refuses a file that does not exist', async () => {
    await expect(
      sut.load(join(dir, 'missing.onnx'), { intraOpThreads: 1 }),
    ).rejects.toThrow();
  });
});

/** The bytes behind a numeric tensor's data: what "exact" means for FP16 halves, NaNs and -0. */
function bytesOf(data: Tensor['data']): Buffer {
  const view = data as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function storageName(data: unknown): string {
  return Array.isArray(data)
    ? 'Array'
    : Object.prototype.toString.call(data).slice(8, -1);
}

/** Values at the edges of each datatype (BigInt beyond 2^53, FP16 bit patterns, NaN, -0). */
const EDGE_VALUES: Record<string, Tensor['data']> = {
  FP32: Float32Array.from([
    0,
    -0,
    1.5,
    -3.4028234663852886e38,
    1e-45,
    Infinity,
    NaN,
  ]),
  FP64: Float64Array.from([
    0,
    -0,
    Math.PI,
    Number.MAX_VALUE,
    5e-324,
    -Infinity,
    NaN,
  ]),
  // +0, -0, 1, 65504 (max), smallest subnormal, +Inf, -Inf, a NaN, 1/3 rounded
  FP16: Uint16Array.from([
    0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7e01, 0x3555,
  ]),
  INT8: Int8Array.from([-128, 127, 0, -1, 5]),
  INT16: Int16Array.from([-32768, 32767, 0, -1]),
  INT32: Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, -1, 123456789]),
  INT64: BigInt64Array.from([
    -(2n ** 63n),
    2n ** 63n - 1n,
    2n ** 53n + 1n,
    -(2n ** 53n) - 1n,
    0n,
    -1n,
  ]),
  UINT8: Uint8Array.from([0, 255, 128]),
  UINT16: Uint16Array.from([0, 65535, 32768]),
  UINT32: Uint32Array.from([0, 2 ** 32 - 1, 2 ** 31]),
  UINT64: BigUint64Array.from([0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 2n ** 63n]),
  BOOL: Uint8Array.from([1, 0, 1, 1, 0]),
  BYTES: [
    '',
    'plain',
    'ünïcödé 数据 🙂',
    `quotes " and ' and \\ backslash`,
    'x'.repeat(10_000),
  ],
};

/** The typed array each datatype travels in (libs/tensor's storage classes). */
const STORAGE: Record<string, string> = {
  FP32: 'Float32Array',
  FP64: 'Float64Array',
  FP16: 'Uint16Array',
  INT8: 'Int8Array',
  INT16: 'Int16Array',
  INT32: 'Int32Array',
  INT64: 'BigInt64Array',
  UINT8: 'Uint8Array',
  UINT16: 'Uint16Array',
  UINT32: 'Uint32Array',
  UINT64: 'BigUint64Array',
  BOOL: 'Uint8Array',
  BYTES: 'Array',
};

function elementsOf(data: Tensor['data']): number {
  return (data as ArrayLike<unknown>).length;
}

describe(`${OnnxBackend.name} in full`, () => {
  let dir: string;
  const sut = new OnnxBackend();
  const opened: LoadedModel[] = [];

  beforeAll(() => {
    dir = makeTempDir('onnx-in-full');
  });
  afterAll(async () => {
    for (const model of opened.splice(0)) await model.release();
    rmSync(dir, { recursive: true, force: true });
  });

  async function load(
    path: string,
    engine?: EngineSettings,
    intraOpThreads = 1,
  ): Promise<LoadedModel> {
    const model = await sut.load(path, {
      intraOpThreads,
      ...(engine ? { engine } : {}),
    });
    opened.push(model);
    return model;
  }

  describe('every tensor type', () => {
    let model: LoadedModel;
    const inputs: Record<string, Tensor> = {};

    beforeAll(async () => {
      model = await load(
        writeModel(dir, 'all-types.onnx', buildAllTypesModel()),
      );
      for (const t of ALL_TYPES_INPUTS) {
        const data = EDGE_VALUES[t.datatype];
        inputs[t.input] = {
          datatype: t.datatype,
          shape: [elementsOf(data)],
          data,
        };
      }
    });

    it('reads every datatype from the session, each with its own variable length', () => {
      expect(model.signature.inputs).toEqual(
        ALL_TYPES_INPUTS.map((t) => ({
          name: t.input,
          datatype: t.datatype,
          shape: [-1],
        })),
      );
      expect(model.signature.outputs).toEqual([
        ...ALL_TYPES_INPUTS.map((t) => ({
          name: `${t.input}_out`,
          datatype: t.datatype,
          shape: [-1],
        })),
        { name: 'int64_text', datatype: 'BYTES', shape: [-1] },
        { name: 'fp16_widened', datatype: 'FP32', shape: [-1] },
        { name: 'int8_nonzero', datatype: 'BOOL', shape: [-1] },
      ]);
    });

    it.each(ALL_TYPES_INPUTS.map((t) => [t.datatype, t.input]))(
      'returns %s through an Identity exactly, in its storage class',
      async (datatype, input) => {
        const out = await model.run(inputs, [`${input}_out`]);

        const result = out[`${input}_out`];
        expect(Object.keys(out)).toEqual([`${input}_out`]);
        expect(result.datatype).toBe(datatype);
        expect(result.shape).toEqual(inputs[input].shape);
        expect(storageName(result.data)).toBe(STORAGE[datatype]);
        if (datatype === 'BYTES')
          expect(result.data).toEqual(inputs[input].data);
        else expect(bytesOf(result.data)).toEqual(bytesOf(inputs[input].data));
      },
    );

    it('casts INT64 to decimal text exactly beyond 2^53', async () => {
      const out = await model.run(inputs, ['int64_text']);

      expect(out['int64_text']).toEqual({
        datatype: 'BYTES',
        shape: [6],
        data: [
          '-9223372036854775808',
          '9223372036854775807',
          '9007199254740993',
          '-9007199254740993',
          '0',
          '-1',
        ],
      });
    });

    it('widens FP16 bit patterns to the FP32 values they stand for', async () => {
      const out = await model.run(inputs, ['fp16_widened']);

      const halves = EDGE_VALUES['FP16'] as Uint16Array;
      expect(out['fp16_widened'].datatype).toBe('FP32');
      expect(Array.from(out['fp16_widened'].data as Float32Array)).toEqual(
        Array.from(halves, float16BitsToFloat32),
      );
      // Spot checks that do not lean on the decoder above.
      expect((out['fp16_widened'].data as Float32Array).slice(2, 6)).toEqual(
        Float32Array.from([1, 65504, 2 ** -24, Infinity]),
      );
    });

    it('casts INT8 to BOOL as 0/1 bytes', async () => {
      const out = await model.run(inputs, ['int8_nonzero']);

      expect(out['int8_nonzero']).toEqual({
        datatype: 'BOOL',
        shape: [5],
        data: Uint8Array.from([1, 1, 0, 1, 1]),
      });
    });

    it('runs with empty tensors of every type', async () => {
      const empty: Record<string, Tensor> = {};
      for (const t of ALL_TYPES_INPUTS) {
        const data = EDGE_VALUES[t.datatype];
        empty[t.input] = {
          datatype: t.datatype,
          shape: [0],
          data: Array.isArray(data) ? [] : (data as Uint8Array).slice(0, 0),
        };
      }

      const out = await model.run(empty);

      expect(Object.keys(out)).toHaveLength(ALL_TYPES_INPUTS.length + 3);
      for (const tensor of Object.values(out)) {
        expect(tensor.shape).toEqual([0]);
        expect(elementsOf(tensor.data)).toBe(0);
      }
    });
  });

  describe('dynamic dimensions', () => {
    let model: LoadedModel;

    beforeAll(async () => {
      model = await load(
        writeModel(dir, 'symbolic.onnx', buildSymbolicDimsModel()),
      );
    });

    it('reports every symbolic or unnamed dimension as -1', () => {
      expect(model.signature).toEqual({
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [-1, -1, -1] },
          { name: 'bias', datatype: 'FP32', shape: [-1] },
        ],
        outputs: [
          { name: 't', datatype: 'FP32', shape: [-1, -1, -1] },
          { name: 'row', datatype: 'FP32', shape: [-1, -1] },
        ],
      });
    });

    it.each([
      [1, 2, 3],
      [4, 1, 5],
      [2, 3, 1],
      [3, 5, 7],
      [2, 3, 0],
    ])(
      'runs at batch %i, rows %i, cols %i in one session',
      async (batch, rows, cols) => {
        const random = mulberry32(batch * 100 + rows * 10 + cols);
        const x = Float32Array.from(
          { length: batch * rows * cols },
          () => Math.round(random() * 16 - 8) / 4,
        );
        const bias = Float32Array.from({ length: rows }, (_, i) => i);

        const out = await model.run({
          x: { datatype: 'FP32', shape: [batch, rows, cols], data: x },
          bias: { datatype: 'FP32', shape: [rows], data: bias },
        });

        const t = new Float32Array(batch * cols * rows);
        const row = new Float32Array(batch * rows);
        for (let b = 0; b < batch; b++)
          for (let r = 0; r < rows; r++) {
            row[b * rows + r] = bias[r];
            for (let c = 0; c < cols; c++) {
              const v = x[(b * rows + r) * cols + c];
              t[(b * cols + c) * rows + r] = v;
              row[b * rows + r] += v;
            }
          }
        // Quarter steps: every sum is exact in FP32.
        expect(out['t']).toEqual({
          datatype: 'FP32',
          shape: [batch, cols, rows],
          data: t,
        });
        expect(out['row']).toEqual({
          datatype: 'FP32',
          shape: [batch, rows],
          data: row,
        });
      },
    );

    it('refuses dimensions that disagree between inputs, naming the node', async () => {
      const run = model.run({
        x: { datatype: 'FP32', shape: [1, 3, 2], data: new Float32Array(6) },
        bias: { datatype: 'FP32', shape: [2], data: new Float32Array(2) },
      });

      await expect(run).rejects.toBeInstanceOf(EngineError);
      await expect(run).rejects.toThrow(/Add/);
    });

    it('runs the inputs the runtime warms a model up with', async () => {
      const inputs = warmupInputs(model.signature, 4);

      const out = await model.run(inputs ?? {});

      // Every variable leading dimension is set to the batch, bias's too, and a bias
      // of 4 broadcasts over the single row.
      expect(out['t'].shape).toEqual([4, 1, 1]);
      expect(out['row'].shape).toEqual([4, 4]);
    });
  });

  describe('several inputs and outputs, and tensor names', () => {
    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([0.5, -1, 2, 8]);

    function feeds(names: IoModelNames): Record<string, Tensor> {
      return {
        [names.a]: { datatype: 'FP32', shape: [2, 2], data: a },
        [names.b]: { datatype: 'FP32', shape: [2, 2], data: b },
      };
    }

    const expected = {
      sum: Float32Array.from([1.5, 1, 5, 12]),
      difference: Float32Array.from([0.5, 3, 1, -4]),
      product: Float32Array.from([0.5, -2, 6, 32]),
    };

    it('returns every output when none is asked for', async () => {
      const model = await load(writeModel(dir, 'io.onnx', buildIoModel()));

      const out = await model.run(feeds(PLAIN_IO_NAMES));

      expect(Object.keys(out).sort()).toEqual(['difference', 'product', 'sum']);
      for (const name of ['sum', 'difference', 'product'] as const)
        expect(out[name].data).toEqual(expected[name]);
    });

    it('returns only the outputs asked for, in any order', async () => {
      const model = await load(
        writeModel(dir, 'io-subset.onnx', buildIoModel()),
      );

      const out = await model.run(feeds(PLAIN_IO_NAMES), ['product', 'sum']);

      expect(Object.keys(out).sort()).toEqual(['product', 'sum']);
      expect(out['product']).toEqual({
        datatype: 'FP32',
        shape: [2, 2],
        data: expected.product,
      });
      expect(out['sum'].data).toEqual(expected.sum);
    });

    it('refuses an output the model does not have, naming it', async () => {
      const model = await load(writeModel(dir, 'io-bad.onnx', buildIoModel()));

      const run = model.run(feeds(PLAIN_IO_NAMES), ['quotient']);

      await expect(run).rejects.toBeInstanceOf(EngineError);
      await expect(run).rejects.toThrow(/quotient/);
    });

    const ODD: IoModelNames = {
      a: 'input:0',
      b: 'my second input',
      sum: `the "sum"`,
      difference: "it's the difference",
      product: 'produit_积_✓ 🙂',
    };

    it('passes odd tensor names through: colons, spaces, quotes, non-ASCII', async () => {
      const model = await load(writeModel(dir, 'odd.onnx', buildIoModel(ODD)));

      const all = await model.run(feeds(ODD));
      const some = await model.run(feeds(ODD), [ODD.product, ODD.difference]);

      expect(model.signature.inputs.map((s) => s.name)).toEqual([ODD.a, ODD.b]);
      expect(model.signature.outputs.map((s) => s.name)).toEqual([
        ODD.sum,
        ODD.difference,
        ODD.product,
      ]);
      expect(all[ODD.sum].data).toEqual(expected.sum);
      expect(all[ODD.difference].data).toEqual(expected.difference);
      expect(all[ODD.product].data).toEqual(expected.product);
      expect(Object.keys(some).sort()).toEqual(
        [ODD.product, ODD.difference].sort(),
      );
      expect(some[ODD.product].data).toEqual(expected.product);
    });
  });

  describe('external-data weights', () => {
    const weightBytes = 48 * 48 * 4;
    const n = largeModelSide(weightBytes);
    let modelDir: string;
    let path: string;

    beforeAll(() => {
      modelDir = join(dir, 'external');
      path = buildLargeModel({
        weightBytes,
        externalData: true,
        dir: modelDir,
        name: 'weights',
      });
    });

    it('loads the weights from the data file beside the model and runs them', async () => {
      const w = new Float32Array(
        Uint8Array.from(readFileSync(join(modelDir, 'weights.data'))).buffer,
      );
      const random = mulberry32(11);
      const x = Float32Array.from({ length: 2 * n }, () => random() * 2 - 1);
      const model = await load(path);

      const out = await model.run({
        x: { datatype: 'FP32', shape: [2, n], data: x },
      });

      expect(readdirSync(modelDir).sort()).toEqual([
        'weights.data',
        'weights.onnx',
      ]);
      expect(model.signature.inputs).toEqual([
        { name: 'x', datatype: 'FP32', shape: [-1, n] },
      ]);
      const reference = new Float32Array(2 * n);
      for (let r = 0; r < 2; r++)
        for (let c = 0; c < n; c++) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += x[r * n + k] * w[k * n + c];
          reference[r * n + c] = acc;
        }
      expectCloseTo(out['y'].data as Float32Array, reference, 1e-5);
    });

    it('refuses the model without its data file, without naming server paths', async () => {
      const alone = join(dir, 'alone');
      mkdirSync(alone, { recursive: true });
      copyFileSync(path, join(alone, 'weights.onnx'));

      const loading = sut.load(join(alone, 'weights.onnx'), {
        intraOpThreads: 1,
      });

      await expect(loading).rejects.toBeInstanceOf(EngineError);
      await expect(loading).rejects.toThrow(/weights\.data/);
      await expect(loading).rejects.not.toThrow(dir);
    });
  });

  describe('engine options', () => {
    const MLP_OPTIONS = {
      inputSize: 16,
      hidden: [32, 32],
      outputSize: 4,
      seed: 9,
    };
    let mlpPath: string;
    let x: Float32Array;

    beforeAll(() => {
      mlpPath = writeModel(dir, 'engine-mlp.onnx', buildMlpModel(MLP_OPTIONS));
      const random = mulberry32(21);
      x = Float32Array.from({ length: 3 * 16 }, () => random() * 2 - 1);
    });

    async function outputWith(engine: EngineSettings): Promise<Float32Array> {
      const model = await load(mlpPath, engine);
      const out = await model.run({
        x: { datatype: 'FP32', shape: [3, 16], data: x },
      });
      return out['y'].data as Float32Array;
    }

    it.each(['disabled', 'basic', 'extended'] as const)(
      "gives the same outputs with graph optimization '%s' as with 'all'",
      async (level) => {
        const all = await outputWith({ graph_optimization: 'all' });
        const other = await outputWith({ graph_optimization: level });

        expectCloseTo(other, all, 1e-6);
        expectCloseTo(all, mlpReference(MLP_OPTIONS, x, 3), 1e-5);
      },
    );

    it('loads and runs without the CPU memory arena', async () => {
      const y = await outputWith({ memory_arena: false });

      expectCloseTo(y, mlpReference(MLP_OPTIONS, x, 3), 1e-5);
    });

    it("runs on execution provider 'cpu' when asked by name", async () => {
      const y = await outputWith({ execution_provider: 'cpu' });

      expectCloseTo(y, mlpReference(MLP_OPTIONS, x, 3), 1e-5);
    });

    // ONNX Runtime's API does not report a session's thread count; its intra-op pool
    // is real OS threads (threads - 1 of them, the caller being one), which Linux lists.
    const taskDir = '/proc/self/task';
    const threadCount = (): number => readdirSync(taskDir).length;
    async function threadsAdded(
      engine: EngineSettings | undefined,
      intraOpThreads: number,
    ): Promise<number> {
      const before = threadCount();
      const model = await sut.load(mlpPath, {
        intraOpThreads,
        ...(engine ? { engine } : {}),
      });
      const added = threadCount() - before;
      await model.release();
      return added;
    }

    (existsSync(taskDir) ? it : it.skip)(
      "starts the model's own thread count, overriding the runtime's",
      async () => {
        const one = await threadsAdded(undefined, 1);

        expect(await threadsAdded({ threads: 4 }, 1)).toBe(one + 3);
        expect(await threadsAdded(undefined, 3)).toBe(one + 2);
        expect(await threadsAdded({ threads: 1 }, 3)).toBe(one);
      },
    );

    const cudaPresent = missingCudaFiles(cudaBindingDir()).length === 0;

    (cudaPresent ? it.skip : it)(
      "refuses execution provider 'cuda' without its binaries, before loading anything",
      async () => {
        // A path that does not exist: had a session been tried, it would say so.
        const attempts = [mlpPath, join(dir, 'no-such-model.onnx')].map(
          (path) =>
            sut
              .load(path, {
                intraOpThreads: 1,
                engine: { execution_provider: 'cuda' },
              })
              .then(
                () => null,
                (e: unknown) => e,
              ),
        );

        for (const error of await Promise.all(attempts)) {
          expect(error).toBeInstanceOf(PortfolioError);
          expect((error as PortfolioError).code).toBe('FORMAT_UNAVAILABLE');
          expect((error as PortfolioError).message).toMatch(
            /^execution provider cuda needs ONNX Runtime's CUDA binaries \(libonnxruntime_providers_cuda\.so, libonnxruntime_providers_shared\.so\), which this server does not have: .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node.*; use execution_provider cpu$/,
          );
        }
      },
    );

    it('finds which CUDA provider files a directory lacks', () => {
      const bin = join(dir, 'fake-bin');
      mkdirSync(bin, { recursive: true });
      expect(missingCudaFiles(bin)).toEqual([...CUDA_PROVIDER_FILES]);
      writeFileSync(join(bin, 'libonnxruntime_providers_shared.so'), '');
      expect(missingCudaFiles(bin)).toEqual([
        'libonnxruntime_providers_cuda.so',
      ]);
      writeFileSync(join(bin, 'libonnxruntime_providers_cuda.so'), '');
      expect(missingCudaFiles(bin)).toEqual([]);
      expect(missingCudaFiles(null)).toEqual([...CUDA_PROVIDER_FILES]);
    });

    it('maps engine options onto ONNX Runtime session options', () => {
      expect(ortSessionOptions({ intraOpThreads: 2 })).toMatchObject({
        intraOpNumThreads: 2,
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
        executionProviders: ['cpu'],
      });
      expect(
        ortSessionOptions({
          intraOpThreads: 2,
          engine: {
            threads: 5,
            graph_optimization: 'basic',
            memory_arena: false,
            execution_provider: 'cpu',
          },
        }),
      ).toMatchObject({
        intraOpNumThreads: 5,
        graphOptimizationLevel: 'basic',
        enableCpuMemArena: false,
        executionProviders: ['cpu'],
      });
    });
  });
});

function expectCloseTo(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(
      tolerance * Math.max(1, Math.abs(expected[i])),
    );
}

/** Where onnxruntime-node keeps its binding, found independently of the backend. */
function cudaBindingDir(): string | null {
  const bin = join(
    require.resolve('onnxruntime-node/package.json'),
    '..',
    'bin',
  );
  if (!existsSync(bin)) return null;
  const napi = readdirSync(bin).find((d) => d.startsWith('napi-v'));
  return napi ? join(bin, napi, process.platform, process.arch) : null;
}
