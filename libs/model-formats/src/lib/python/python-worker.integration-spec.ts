import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';

import { PortfolioError } from '@portfolio/contracts';
import {
  buildSklearnModels,
  buildTorchScriptLinear,
  buildTorchScriptMlp,
  buildTorchStateDict,
  fixtureDir,
  makeTempDir,
  mulberry32,
  pythonReference,
  ReferenceOutput,
  SklearnModels,
  STATE_DICT_MODEL_SOURCE,
} from '@portfolio/testing';
import { Tensor } from '@portfolio/tensor';

import { LoadedModel } from '../model-backend';
import { PythonBackend } from './python.backend';
import { sharedPythonWorker } from './python-worker';

/** The Python formats loaded and run by real Python workers (PyTorch, scikit-learn). */

const OPTIONS = { intraOpThreads: 1 };

function randomData(n: number, seed: number): Float64Array {
  const next = mulberry32(seed);
  return Float64Array.from({ length: n }, () => next() * 4 - 2);
}

const fp32 = (shape: number[], seed: number): Tensor => ({
  datatype: 'FP32',
  shape,
  data: Float32Array.from(
    randomData(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
  ),
});
const fp64 = (shape: number[], seed: number): Tensor => ({
  datatype: 'FP64',
  shape,
  data: randomData(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
});
const asReference = (t: Tensor, dtype: string) => ({
  dtype,
  shape: t.shape,
  data: Array.from(t.data as ArrayLike<number>),
});

function expectMatches(actual: Tensor, expected: ReferenceOutput): void {
  expect(actual.shape).toEqual(expected.shape);
  const data = Array.from(actual.data as ArrayLike<number | bigint | string>);
  expect(data).toHaveLength(expected.data.length);
  expected.data.forEach((e, i) => {
    if (typeof e === 'string') expect(data[i]).toBe(e);
    else
      expect(Math.abs(Number(data[i]) - e)).toBeLessThanOrEqual(
        1e-5 * Math.max(1, Math.abs(e)),
      );
  });
}

/** The worker process's resident memory, as the kernel counts it. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  return Number(m?.[1]) * 1024;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Python backends', () => {
  let dir: string;
  let sklearn: SklearnModels;
  const pytorch = new PythonBackend('pytorch');
  const sk = new PythonBackend('sklearn');
  const opened: LoadedModel[] = [];
  const open = async (backend: PythonBackend, path: string) => {
    const model = await backend.load(path, OPTIONS);
    opened.push(model);
    return model;
  };

  beforeAll(() => {
    dir = makeTempDir('python-backends');
    sklearn = buildSklearnModels(fixtureDir(dir, 'sk'));
  });
  afterEach(async () => {
    for (const m of opened.splice(0)) await m.release();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a scripted TorchScript MLP as PyTorch itself does', async () => {
    const path = buildTorchScriptMlp(fixtureDir(dir, 'mlp'), {
      inputSize: 4,
      hidden: [8, 6],
      outputSize: 3,
      fileName: 'model.pytorch',
    });
    await pytorch.warmUp();
    expect(sharedPythonWorker().pid).toBeDefined();
    const model = await open(pytorch, path);
    // nn.Sequential's forward names its argument `input`.
    expect(model.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [] }],
      outputs: [{ name: 'output__0', datatype: 'FP32', shape: [] }],
    });
    const x = fp32([5, 4], 1);
    const out = await model.run({ input: x });
    expect(Object.keys(out)).toEqual(['output__0']);
    expect(out['output__0'].datatype).toBe('FP32');
    expect(out['output__0'].data).toBeInstanceOf(Float32Array);
    const expected = pythonReference('torchscript', path, [
      asReference(x, 'float32'),
    ]);
    expectMatches(out['output__0'], expected['output__0']);
    // Triton's positional name works too.
    const again = await model.run({ input__0: x });
    expect(Array.from(again['output__0'].data as Float32Array)).toEqual(
      Array.from(out['output__0'].data as Float32Array),
    );
  });

  it('runs a traced TorchScript module, and refuses inputs it does not take as INVALID_INPUT', async () => {
    const path = buildTorchScriptMlp(fixtureDir(dir, 'traced'), {
      trace: true,
      seed: 3,
    });
    const model = await open(pytorch, path);
    expect(model.signature.inputs).toHaveLength(1);
    const x = fp32([2, 4], 2);
    const out = await model.run({ input__0: x });
    expectMatches(
      out['output__0'],
      pythonReference('torchscript', path, [asReference(x, 'float32')])[
        'output__0'
      ],
    );
    const pid = sharedPythonWorker().pid;
    await expect(model.run({ nope: x })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/unknown input\(s\) "nope"/),
    });
    // PyTorch's own refusal (wrong width) is an engine error; the worker lives on.
    await expect(
      model.run({ input__0: fp32([2, 5], 2) }),
    ).rejects.toMatchObject({
      name: 'EngineError',
      stage: 'run',
    });
    expect(sharedPythonWorker().pid).toBe(pid);
    await expect(model.run({ input__0: x })).resolves.toBeDefined();
  });

  it('runs a state_dict with its model.py: forward names its inputs, tuples give output__N', async () => {
    const path = buildTorchStateDict(fixtureDir(dir, 'sd'));
    const model = await open(pytorch, path);
    expect(model.signature.inputs.map((i) => i.name)).toEqual([
      'features',
      'scale',
    ]);
    const features = fp32([3, 3], 4);
    const scale: Tensor = {
      datatype: 'FP32',
      shape: [1],
      data: Float32Array.of(0.5),
    };
    const out = await model.run({ features, scale });
    const expected = pythonReference('state_dict', path, [
      asReference(features, 'float32'),
      asReference(scale, 'float32'),
    ]);
    expect(Object.keys(out).sort()).toEqual(['output__0', 'output__1']);
    expectMatches(out['output__0'], expected['output__0']);
    expectMatches(out['output__1'], expected['output__1']);
    const only = await model.run({ features, scale }, ['output__1']);
    expect(Object.keys(only)).toEqual(['output__1']);
  });

  it('refuses to load a state_dict whose model.py lacks the class portfolio.json names', async () => {
    const path = buildTorchStateDict(fixtureDir(dir, 'renamed'), {
      modelSource: STATE_DICT_MODEL_SOURCE,
    });
    const source = readFileSync(
      path.replace(/weights\.pth$/, 'model.py'),
      'utf8',
    );
    writeFileSync(
      path.replace(/weights\.pth$/, 'model.py'),
      source.replace('class Net', 'class Other'),
    );
    await expect(pytorch.load(path, OPTIONS)).rejects.toMatchObject({
      name: 'EngineError',
      stage: 'load',
      message: expect.stringMatching(
        /no torch\.nn\.Module subclass named "Net"/,
      ),
    });
  });

  it('runs scikit-learn: predict as label, predict_proba as probabilities', async () => {
    const model = await open(sk, sklearn.logistic);
    expect(model.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP64', shape: [-1, 4] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP64', shape: [-1, 3] },
      ],
    });
    const x = fp64([6, 4], 9);
    const out = await model.run({ input: x });
    const expected = pythonReference('sklearn', sklearn.logistic, [
      asReference(x, 'float64'),
    ]);
    expect(out['label'].data).toBeInstanceOf(BigInt64Array);
    expectMatches(out['label'], expected['label']);
    expectMatches(out['probabilities'], expected['probabilities']);
    const proba = await model.run({ input: x }, ['probabilities']);
    expect(Object.keys(proba)).toEqual(['probabilities']);
    await expect(model.run({ input: fp64([2, 3], 1) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/takes 4 features per row, got 3/),
    });
  });

  it('runs predict-only estimators and string class labels (BYTES)', async () => {
    const x = fp64([4, 4], 11);
    for (const path of [sklearn.linear, sklearn.svc]) {
      const model = await open(sk, path);
      expect(model.signature.outputs.map((o) => o.name)).toEqual(['label']);
      const out = await model.run({ input: x });
      expect(Object.keys(out)).toEqual(['label']);
      expectMatches(
        out['label'],
        pythonReference('sklearn', path, [asReference(x, 'float64')])['label'],
      );
    }
    const strings = await open(sk, sklearn.strings);
    expect(strings.signature.outputs[0]).toEqual({
      name: 'label',
      datatype: 'BYTES',
      shape: [-1],
    });
    const out = await strings.run({ input: x });
    expect(out['label'].datatype).toBe('BYTES');
    expectMatches(
      out['label'],
      pythonReference('sklearn', sklearn.strings, [asReference(x, 'float64')])[
        'label'
      ],
    );
  });

  it('reports a big model as external memory, and releasing it returns that memory', async () => {
    // 2048 x 5000 FP32 weights: 41 MB.
    const path = buildTorchScriptLinear(fixtureDir(dir, 'big'), 2048, 5000);
    const size = statSync(path).size;
    const small = await open(sk, sklearn.logistic);
    const big = await pytorch.load(path, OPTIONS);
    expect(big.externalBytes).toBeGreaterThan(size * 0.8);
    expect(big.externalBytes).toBeLessThan(size * 2);
    const pid = sharedPythonWorker().pid ?? 0;
    // nn.Linear's forward names its argument `input`.
    const out = await big.run({ input: fp32([1, 2048], 5) });
    expect(out['output__0'].shape).toEqual([1, 5000]);
    const before = rssOf(pid);
    await big.release();
    expect(before - rssOf(pid)).toBeGreaterThan(size * 0.8);
    // The last model's release ends the worker.
    await small.release();
    opened.splice(0);
    expect(sharedPythonWorker().pid).toBeUndefined();
    expect(isAlive(pid)).toBe(false);
  });

  it('fails the request a killed worker had cleanly, and reloads its models for the next', async () => {
    const folder = fixtureDir(dir, 'sleepy');
    const path = buildTorchStateDict(folder, {
      modelSource: `import time\nimport torch\n\n\nclass Sleepy(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = torch.nn.Parameter(torch.ones(3))\n\n    def forward(self, x, seconds):\n        time.sleep(float(seconds))\n        return x * self.w\n`,
      className: 'Sleepy',
      kwargs: {},
    });
    const sleepy = await open(pytorch, path);
    const logistic = await open(sk, sklearn.logistic);
    const pid = sharedPythonWorker().pid ?? 0;
    const x: Tensor = {
      datatype: 'FP32',
      shape: [3],
      data: Float32Array.of(1, 2, 3),
    };
    const long: Tensor = {
      datatype: 'FP32',
      shape: [],
      data: Float32Array.of(60),
    };
    const pending = sleepy.run({ x, seconds: long });
    process.kill(pid, 'SIGKILL');
    const error = await pending.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      message: expect.stringMatching(/was killed by SIGKILL/),
    });
    const none: Tensor = {
      datatype: 'FP32',
      shape: [],
      data: Float32Array.of(0),
    };
    const out = await sleepy.run({ x, seconds: none });
    expect(Array.from(out['output__0'].data as Float32Array)).toEqual([
      1, 2, 3,
    ]);
    expect(sharedPythonWorker().pid).not.toBe(pid);
    // The other model came back with the new process too.
    const labels = await logistic.run({ input: fp64([2, 4], 1) });
    expect(labels['label'].shape).toEqual([2]);
    expect(sharedPythonWorker().modelCount).toBe(2);
  });
});
