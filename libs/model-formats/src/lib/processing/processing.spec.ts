import { rmSync } from 'node:fs';

import {
  PortfolioError,
  Processing,
  processedSignature,
} from '@portfolio/contracts';
import {
  buildGenericModel,
  buildMlpModel,
  ElemType,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';

import { LoadedModel } from '../model-backend';
import { OnnxBackend } from '../onnx/onnx.backend';
import { checkProcessing, ProcessedModel } from './processing';

const SPECIES = ['setosa', 'versicolor', 'virginica'];

/** Real ONNX models around which processing is checked: what it changes, exactly. */
describe(ProcessedModel.name, () => {
  let dir: string;
  let classifier: LoadedModel;
  let argmax: LoadedModel;
  let identity: LoadedModel;

  beforeAll(async () => {
    dir = makeTempDir('processing');
    const backend = new OnnxBackend();
    const load = (name: string, bytes: Uint8Array) =>
      backend.load(writeModel(dir, name, bytes), { intraOpThreads: 1 });
    classifier = await load(
      'mlp.onnx',
      buildMlpModel({
        inputSize: 4,
        hidden: [8],
        outputSize: 3,
        softmax: true,
      }),
    );
    argmax = await load(
      'argmax.onnx',
      buildGenericModel({
        inputs: [{ name: 'scores', elemType: ElemType.FLOAT, shape: ['n', 3] }],
        outputs: [{ name: 'label', elemType: ElemType.INT64, shape: ['n'] }],
        nodes: [
          {
            opType: 'ArgMax',
            inputs: ['scores'],
            outputs: ['label'],
            attributes: { axis: 1, keepdims: 0 },
          },
        ],
      }),
    );
    identity = await load(
      'identity.onnx',
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['n', 2] }],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['n', 2] }],
        nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
      }),
    );
  });
  afterAll(async () => {
    await Promise.all([classifier, argmax, identity].map((m) => m?.release()));
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = (data: number[], width: number) => ({
    datatype: 'FP32' as const,
    shape: [data.length / width, width],
    data: Float32Array.from(data),
  });

  it('names integer class indices, and keeps the number of an index without a name', async () => {
    const sut = new ProcessedModel(argmax, {
      outputs: { label: { labels: SPECIES.slice(0, 2) } },
    });

    const out = await sut.run({
      scores: rows([0.1, 0.9, 0, 0.8, 0.1, 0.1, 0, 0, 1], 3),
    });

    expect(sut.signature.outputs).toEqual([
      { name: 'label', datatype: 'BYTES', shape: [-1] },
    ]);
    expect(out['label']).toEqual({
      datatype: 'BYTES',
      shape: [3],
      data: ['versicolor', 'setosa', '2'],
    });
  });

  it('adds the name of the best class after float scores, which stay as they are', async () => {
    const sut = new ProcessedModel(classifier, {
      outputs: { y: { labels: SPECIES } },
    });
    const x = { x: rows([5.1, 3.5, 1.4, 0.2, 6.7, 3, 5.2, 2.3], 4) };

    const [plain, out] = await Promise.all([classifier.run(x), sut.run(x)]);

    const scores = plain['y'].data as Float32Array;
    const best = [0, 1].map((r) => {
      const row = Array.from(scores.subarray(r * 3, r * 3 + 3));
      return SPECIES[row.indexOf(Math.max(...row))];
    });
    expect(out['y']).toEqual(plain['y']);
    expect(out['y_label']).toEqual({
      datatype: 'BYTES',
      shape: [2],
      data: best,
    });
    expect(sut.signature.outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [-1, 3] },
      { name: 'y_label', datatype: 'BYTES', shape: [-1] },
    ]);
    await expect(sut.run(x, ['y_label'])).resolves.toEqual({
      y_label: out['y_label'],
    });
  });

  it("normalizes inputs per position of the last dimension, or by one number, without changing the caller's tensor", async () => {
    const perChannel = new ProcessedModel(identity, {
      inputs: { x: { offset: [1, 10], scale: [2, 0.5] } },
    });
    const whole = new ProcessedModel(identity, {
      inputs: { x: { scale: 10 } },
    });
    const x = rows([1, 10, 3, 14], 2);

    expect((await perChannel.run({ x }))['y'].data).toEqual(
      Float32Array.from([0, 0, 4, 2]),
    );
    expect((await whole.run({ x }))['y'].data).toEqual(
      Float32Array.from([10, 100, 30, 140]),
    );
    expect(x.data).toEqual(Float32Array.from([1, 10, 3, 14]));
  });

  it.each<[string, Processing, RegExp]>([
    [
      'an input the model does not have',
      { inputs: { z: { scale: 2 } } },
      /processing\.inputs names "z", which is not an input \(inputs: x\)/,
    ],
    [
      'per-position values that do not fit the last dimension',
      { inputs: { x: { offset: [1, 2, 3] } } },
      /offset has 3 values; the input's last dimension is 2/,
    ],
    [
      'an output the model does not have',
      { outputs: { z: { labels: ['a'] } } },
      /processing\.outputs names "z", which is not an output \(outputs: y\)/,
    ],
  ])(
    'refuses %s when the model loads, naming it',
    (_what, processing, message) => {
      let error: unknown;
      try {
        checkProcessing(identity.signature, processing);
      } catch (e) {
        error = e;
      }

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
      expect((error as Error).message).toMatch(message);
    },
  );

  it('refuses normalization of an integer input, and labels on a BYTES output', () => {
    expect(() =>
      checkProcessing(
        {
          inputs: [{ name: 'ids', datatype: 'INT64', shape: [-1] }],
          outputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
        },
        { inputs: { ids: { scale: 2 } } },
      ),
    ).toThrow(/normalizes an INT64 input; only FP32 and FP64/);
    expect(() =>
      checkProcessing(
        {
          inputs: [],
          outputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
        },
        { outputs: { text: { labels: ['a'] } } },
      ),
    ).toThrow(/the output is BYTES/);
  });

  it('leaves a signature alone without labels', () => {
    expect(processedSignature(identity.signature, { inputs: {} })).toBe(
      identity.signature,
    );
    expect(processedSignature(identity.signature, null)).toBe(
      identity.signature,
    );
  });
});
