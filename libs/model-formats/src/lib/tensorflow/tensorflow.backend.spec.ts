import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { PortfolioError } from '@portfolio/contracts';
import {
  buildTfjsMlp,
  buildTfjsTwoInputModel,
  makeTempDir,
  minimalSavedModelPb,
  saveTfjsModel,
} from '@portfolio/testing';
import type { Tensor } from '@portfolio/tensor';

import { LoadedModel } from '../model-backend';
import { TensorflowBackend } from './tensorflow.backend';
import { tensorflowFormat } from './tensorflow.format';
import { hasTfjsNode } from './tfjs-runtime';

const OPTIONS = { intraOpThreads: 1 };

/** Deterministic inputs in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sin(seed * 31 + i * 1.7);
  return out;
}

function fp32(shape: number[], data: Float32Array): Tensor {
  return { datatype: 'FP32', shape, data };
}

/** What TF.js itself predicts for the same model and inputs. */
async function reference(
  model: tf.LayersModel,
  inputs: { shape: number[]; data: Float32Array }[],
): Promise<Float32Array[]> {
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
  const result = model.predict(xs.length === 1 ? xs[0] : xs);
  const ys = Array.isArray(result) ? result : [result];
  const out = await Promise.all(
    ys.map((y) => y.data() as Promise<Float32Array>),
  );
  tf.dispose([...xs, ...ys]);
  return out;
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tolerance);
}

describe('TensorflowBackend (TF.js on the WebAssembly backend)', () => {
  const backend = new TensorflowBackend();
  let dir: string;
  let mlp: tf.Sequential;
  let twoInputs: tf.LayersModel;
  let mlpJson: string;
  let twoInputsJson: string;
  let quantizedJson: string;
  let shardedJson: string;

  beforeAll(async () => {
    await backend.warmUp();
    dir = makeTempDir('tfjs-backend');
    mlp = buildTfjsMlp(tf, { inputs: 4, hidden: 16, outputs: 3, seed: 11 });
    twoInputs = buildTfjsTwoInputModel(tf, 5);
    mlpJson = (await saveTfjsModel(tf, mlp, join(dir, 'mlp'))).modelJson;
    twoInputsJson = (await saveTfjsModel(tf, twoInputs, join(dir, 'two')))
      .modelJson;
    quantizedJson = (
      await saveTfjsModel(tf, mlp, join(dir, 'mlp-uint8'), {
        quantizeUint8: true,
      })
    ).modelJson;
    shardedJson = (
      await saveTfjsModel(tf, mlp, join(dir, 'mlp-sharded'), {
        shardBytes: 100,
      })
    ).modelJson;
  });

  afterAll(() => {
    mlp?.dispose();
    twoInputs?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs on the wasm backend, TF.js being the one the tests use', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('loads a layers MLP: its signature, and predictions equal to TF.js predicting directly', async () => {
    const model = await backend.load(mlpJson, OPTIONS);
    try {
      expect(model.signature).toEqual({
        inputs: [{ name: 'hidden_input', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      });
      const x = values(5 * 4, 1);
      const out = await model.run({ hidden_input: fp32([5, 4], x) });
      expect(Object.keys(out)).toEqual(['probabilities']);
      expect(out['probabilities'].datatype).toBe('FP32');
      expect(out['probabilities'].shape).toEqual([5, 3]);
      const [expected] = await reference(mlp, [{ shape: [5, 4], data: x }]);
      expectClose(out['probabilities'].data as Float32Array, expected, 1e-6);
    } finally {
      await model.release();
    }
  });

  it('gives at ingest the signature the runtime gets at load (layers models)', async () => {
    for (const [path, shards] of [
      [mlpJson, 'mlp'],
      [twoInputsJson, 'two'],
    ] as const) {
      const beside = new Map([
        [
          'group1-shard1of1.bin',
          readFileSync(join(dir, shards, 'group1-shard1of1.bin')).length,
        ],
      ]);
      const inspected = await tensorflowFormat.inspect(path, beside);
      const model = await backend.load(path, OPTIONS);
      expect(inspected.signature).toEqual(model.signature);
      await model.release();
    }
  });

  it('loads a functional model of two inputs and two outputs, and returns only the outputs asked for', async () => {
    const model = await backend.load(twoInputsJson, OPTIONS);
    try {
      expect(model.signature).toEqual({
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [-1, 3] },
          { name: 'context', datatype: 'FP32', shape: [-1, 2] },
        ],
        outputs: [
          { name: 'score', datatype: 'FP32', shape: [-1, 2] },
          { name: 'gate', datatype: 'FP32', shape: [-1, 1] },
        ],
      });
      const features = values(2 * 3, 2);
      const context = values(2 * 2, 3);
      const inputs = {
        // In another order than the model's: inputs go by name.
        context: fp32([2, 2], context),
        features: fp32([2, 3], features),
      };
      const out = await model.run(inputs);
      const [score, gate] = await reference(twoInputs, [
        { shape: [2, 3], data: features },
        { shape: [2, 2], data: context },
      ]);
      expect(out['score'].shape).toEqual([2, 2]);
      expect(out['gate'].shape).toEqual([2, 1]);
      expectClose(out['score'].data as Float32Array, score, 1e-6);
      expectClose(out['gate'].data as Float32Array, gate, 1e-6);

      const onlyGate = await model.run(inputs, ['gate']);
      expect(Object.keys(onlyGate)).toEqual(['gate']);
      expectClose(onlyGate['gate'].data as Float32Array, gate, 1e-6);
    } finally {
      await model.release();
    }
  });

  it('loads uint8-quantized weights: a quarter of the bytes, predictions close to the float32 model', async () => {
    const manifest = JSON.parse(
      readFileSync(quantizedJson, 'utf8'),
    ).weightsManifest;
    expect(
      manifest[0].weights.every(
        (w: { quantization?: { dtype: string } }) =>
          w.quantization?.dtype === 'uint8',
      ),
    ).toBe(true);
    const quantizedBytes = readFileSync(
      join(dir, 'mlp-uint8', 'group1-shard1of1.bin'),
    ).length;
    const floatBytes = readFileSync(
      join(dir, 'mlp', 'group1-shard1of1.bin'),
    ).length;
    expect(quantizedBytes * 4).toBe(floatBytes);

    const model = await backend.load(quantizedJson, OPTIONS);
    try {
      const x = values(8 * 4, 4);
      const out = await model.run({ hidden_input: fp32([8, 4], x) });
      const [expected] = await reference(mlp, [{ shape: [8, 4], data: x }]);
      const got = out['probabilities'].data as Float32Array;
      expectClose(got, expected, 0.03);
      // Quantized for real: not bit-identical to the float32 weights' predictions.
      expect(Array.from(got)).not.toEqual(Array.from(expected));
    } finally {
      await model.release();
    }
  });

  it('reads weights split over several shards', async () => {
    const shards = JSON.parse(readFileSync(shardedJson, 'utf8'))
      .weightsManifest[0].paths;
    expect(shards.length).toBeGreaterThan(3);
    const model = await backend.load(shardedJson, OPTIONS);
    try {
      const x = values(3 * 4, 6);
      const out = await model.run({ hidden_input: fp32([3, 4], x) });
      const [expected] = await reference(mlp, [{ shape: [3, 4], data: x }]);
      expectClose(out['probabilities'].data as Float32Array, expected, 1e-6);
    } finally {
      await model.release();
    }
  });

  it('release frees every tensor and byte the model and its runs held', async () => {
    const before = tf.memory();
    const model = await backend.load(twoInputsJson, OPTIONS);
    const loaded = tf.memory();
    expect(loaded.numTensors).toBeGreaterThan(before.numTensors);
    expect(loaded.numBytes).toBeGreaterThan(before.numBytes);
    for (let i = 0; i < 3; i++)
      await model.run({
        features: fp32([4, 3], values(12, i)),
        context: fp32([4, 2], values(8, i)),
      });
    // Runs leave nothing behind: inputs, intermediates and outputs are disposed.
    expect(tf.memory().numTensors).toBe(loaded.numTensors);
    await model.release();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('converts FP64 inputs to float32, and refuses values float32 cannot hold as INVALID_INPUT', async () => {
    const model: LoadedModel = await backend.load(mlpJson, OPTIONS);
    const before = tf.memory().numTensors;
    try {
      const x = values(4, 9);
      const asFloat = await model.run({ hidden_input: fp32([1, 4], x) });
      const asDouble = await model.run({
        hidden_input: {
          datatype: 'FP64',
          shape: [1, 4],
          data: Float64Array.from(x),
        },
      });
      expect(asDouble['probabilities'].data).toEqual(
        asFloat['probabilities'].data,
      );

      const huge = Float64Array.from([0, 1e39, 0, 0]);
      const refused = model.run({
        hidden_input: { datatype: 'FP64', shape: [1, 4], data: huge },
      });
      await expect(refused).rejects.toBeInstanceOf(PortfolioError);
      await expect(refused).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(refused).rejects.toThrow(/element 1 .*float32/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await model.release();
    }
  });

  it('refuses a missing or unknown input as INVALID_INPUT, leaking no tensor', async () => {
    const model = await backend.load(twoInputsJson, OPTIONS);
    const before = tf.memory().numTensors;
    try {
      await expect(
        model.run({ features: fp32([1, 3], values(3, 1)) }),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/"context"/),
      });
      await expect(
        model.run({
          features: fp32([1, 3], values(3, 1)),
          context: fp32([1, 2], values(2, 1)),
          extra: fp32([1, 1], values(1, 1)),
        }),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/"extra"/),
      });
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await model.release();
    }
  });

  it('reports what TF.js refuses at run time as an engine error, leaking no tensor', async () => {
    const model = await backend.load(mlpJson, OPTIONS);
    const before = tf.memory().numTensors;
    try {
      await expect(
        model.run({ hidden_input: fp32([2, 5], values(10, 1)) }),
      ).rejects.toMatchObject({ name: 'EngineError', stage: 'run' });
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await model.release();
    }
  });

  it('refuses a shard path that leaves the model directory at load', async () => {
    const evil = join(dir, 'evil');
    await saveTfjsModel(tf, mlp, evil);
    const json = JSON.parse(readFileSync(join(evil, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../mlp/group1-shard1of1.bin'];
    writeFileSync(join(evil, 'model.json'), JSON.stringify(json));
    await expect(
      backend.load(join(evil, 'model.json'), OPTIONS),
    ).rejects.toThrow(/not a file beside model\.json/);
  });

  it('loads a SavedModel only with @tensorflow/tfjs-node (FORMAT_UNAVAILABLE without it)', async () => {
    const savedDir = join(dir, 'saved');
    const pb = join(savedDir, 'saved_model.pb');
    mkdirSync(savedDir, { recursive: true });
    writeFileSync(pb, minimalSavedModelPb());
    const loading = backend.load(pb, OPTIONS);
    if (await hasTfjsNode()) {
      // Its one meta graph has no serving signature.
      await expect(loading).rejects.toMatchObject({
        name: 'EngineError',
        stage: 'load',
      });
    } else {
      await expect(loading).rejects.toMatchObject({
        code: 'FORMAT_UNAVAILABLE',
        message: expect.stringMatching(/npm install @tensorflow\/tfjs-node/),
      });
    }
  });
});
