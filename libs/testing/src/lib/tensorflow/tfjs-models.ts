import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type * as TfModule from '@tensorflow/tfjs';

import { mulberry32 } from '../onnx/prng';

/**
 * TF.js fixtures. TF.js itself is passed in (`tf`), never imported here: this library's
 * index is loaded by every test, and TF.js costs ~30 MiB and a second to load.
 */
type Tf = typeof TfModule;

/** Replaces every weight with values from `seed` in [-1, 1): the same model on every machine. */
function seedWeights(tf: Tf, model: TfModule.LayersModel, seed: number): void {
  const next = mulberry32(seed);
  const weights = model.getWeights().map((w) => {
    const values = new Float32Array(w.size);
    for (let i = 0; i < values.length; i++) values[i] = next() * 2 - 1;
    return tf.tensor(values, w.shape, 'float32');
  });
  model.setWeights(weights);
  tf.dispose(weights);
}

/** A Sequential MLP: [batch, inputs] → Dense(hidden, relu) → Dense(outputs, softmax). */
export function buildTfjsMlp(
  tf: Tf,
  options: {
    inputs?: number;
    hidden?: number;
    outputs?: number;
    seed?: number;
  } = {},
): TfModule.Sequential {
  const { inputs = 4, hidden = 8, outputs = 3, seed = 42 } = options;
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        units: hidden,
        inputShape: [inputs],
        activation: 'relu',
        name: 'hidden',
      }),
      tf.layers.dense({
        units: outputs,
        activation: 'softmax',
        name: 'probabilities',
      }),
    ],
  });
  seedWeights(tf, model, seed);
  return model;
}

/**
 * A functional model of two inputs, `features` [batch, 3] and `context` [batch, 2],
 * concatenated, giving two outputs: `score` [batch, 2] and `gate` [batch, 1] (sigmoid).
 */
export function buildTfjsTwoInputModel(tf: Tf, seed = 7): TfModule.LayersModel {
  const features = tf.input({ shape: [3], name: 'features' });
  const context = tf.input({ shape: [2], name: 'context' });
  const joined = tf.layers
    .concatenate({ name: 'joined' })
    .apply([features, context]) as TfModule.SymbolicTensor;
  const hidden = tf.layers
    .dense({ units: 6, activation: 'tanh', name: 'mix' })
    .apply(joined) as TfModule.SymbolicTensor;
  const score = tf.layers
    .dense({ units: 2, name: 'score' })
    .apply(hidden) as TfModule.SymbolicTensor;
  const gate = tf.layers
    .dense({ units: 1, activation: 'sigmoid', name: 'gate' })
    .apply(hidden) as TfModule.SymbolicTensor;
  const model = tf.model({
    inputs: [features, context],
    outputs: [score, gate],
  });
  seedWeights(tf, model, seed);
  return model;
}

export interface SaveTfjsOptions {
  /** Store every float32 weight as uint8 with a per-weight min and scale, as the TF.js converter's `--quantize_uint8` does. */
  readonly quantizeUint8?: boolean;
  /** Split the weights into shard files of at most this many bytes (TF.js's converter uses 4 MiB). */
  readonly shardBytes?: number;
}

/**
 * Saves a layers model as TF.js does (`model.json` plus binary shards), through a save
 * IOHandler of our own, into `dir`. Returns model.json's path and the shard names.
 */
export async function saveTfjsModel(
  tf: Tf,
  model: TfModule.LayersModel,
  dir: string,
  options: SaveTfjsOptions = {},
): Promise<{ modelJson: string; shards: string[] }> {
  mkdirSync(dir, { recursive: true });
  let shards: string[] = [];
  await model.save({
    save: async (artifacts) => {
      let specs = artifacts.weightSpecs ?? [];
      let data: Uint8Array = new Uint8Array(
        tf.io.concatenateArrayBuffers(
          ([] as ArrayBuffer[]).concat(artifacts.weightData ?? []),
        ),
      );
      if (options.quantizeUint8) ({ specs, data } = quantizeUint8(specs, data));
      const size = options.shardBytes ?? Math.max(data.byteLength, 1);
      const count = Math.max(1, Math.ceil(data.byteLength / size));
      shards = Array.from(
        { length: count },
        (_, i) => `group1-shard${i + 1}of${count}.bin`,
      );
      shards.forEach((name, i) =>
        writeFileSync(join(dir, name), data.subarray(i * size, (i + 1) * size)),
      );
      writeFileSync(
        join(dir, 'model.json'),
        JSON.stringify({
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: 'portfolio-testing',
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: shards, weights: specs }],
        }),
      );
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
        },
      };
    },
  });
  return { modelJson: join(dir, 'model.json'), shards };
}

function quantizeUint8(
  specs: TfModule.io.WeightsManifestEntry[],
  data: Uint8Array,
): { specs: TfModule.io.WeightsManifestEntry[]; data: Uint8Array } {
  const out: number[] = [];
  let offset = 0;
  const quantized = specs.map((spec) => {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype !== 'float32')
      throw new Error(
        `only float32 weights are quantized here, not ${spec.dtype}`,
      );
    const values = new Float32Array(
      data.buffer.slice(
        data.byteOffset + offset,
        data.byteOffset + offset + count * 4,
      ),
    );
    offset += count * 4;
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const scale = max > min ? (max - min) / 255 : 1;
    for (const v of values) out.push(Math.round((v - min) / scale));
    return {
      ...spec,
      quantization: {
        dtype: 'uint8' as const,
        min,
        scale,
        original_dtype: 'float32' as const,
      },
    };
  });
  return { specs: quantized, data: Uint8Array.from(out) };
}

/**
 * Real TF.js graph models (converted from TensorFlow SavedModels) from the npm package
 * `@vladmandic/human@3.3.6`: its `models/` holds a dozen of them, `<name>.json` with
 * `<name>.bin` (antispoof: 0.9 MB, float16-quantized, with a signature; handtrack: 3 MB,
 * uint8-quantized, with control flow that needs executeAsync). The package is 28.6 MB
 * packed (its registry entry lists no unpacked size): fetched once with `npm pack` and
 * kept, models only, under the OS temp directory by version, so later runs use no
 * network. Returns the models directory.
 */
export function humanGraphModels(): string {
  const version = '3.3.6';
  const cache = join(
    tmpdir(),
    'portfolio-npm-cache',
    `vladmandic-human-${version}`,
  );
  const models = join(cache, 'package', 'models');
  if (existsSync(join(models, 'models.json'))) return models;
  mkdirSync(join(tmpdir(), 'portfolio-npm-cache'), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'portfolio-npm-cache', 'fetch-'));
  try {
    execFileSync(
      'npm',
      [
        'pack',
        `@vladmandic/human@${version}`,
        '--pack-destination',
        work,
        '--silent',
      ],
      { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 },
    );
    const tgz = join(work, `vladmandic-human-${version}.tgz`);
    const into = join(work, 'unpacked');
    mkdirSync(into);
    execFileSync('tar', ['-xzf', tgz, '-C', into, 'package/models'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      // Atomic: a concurrent run either wins this rename or finds the cache complete.
      renameSync(into, cache);
    } catch (e) {
      if (!existsSync(join(models, 'models.json'))) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return models;
}
