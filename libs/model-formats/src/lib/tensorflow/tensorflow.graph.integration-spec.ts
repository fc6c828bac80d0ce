import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { humanGraphModels } from '@portfolio/testing';
import type { Tensor } from '@portfolio/tensor';

import { TensorflowBackend } from './tensorflow.backend';
import { tensorflowFormat } from './tensorflow.format';

/**
 * Real TF.js graph models, converted from TensorFlow by their authors, from the npm
 * package @vladmandic/human (fetched once per machine with `npm pack`, then cached in
 * the OS temp directory: see humanGraphModels).
 */
const OPTIONS = { intraOpThreads: 1 };

/** The model as TF.js loads it straight from memory, without this backend's handler. */
async function loadDirectly(dir: string, name: string): Promise<tf.GraphModel> {
  const json = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  const bin = readFileSync(join(dir, `${name}.bin`));
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      format: json.format,
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
      weightSpecs: json.weightsManifest.flatMap(
        (g: { weights: unknown[] }) => g.weights,
      ),
      weightData: bin.buffer.slice(
        bin.byteOffset,
        bin.byteOffset + bin.byteLength,
      ),
    }),
  );
}

function pattern(count: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++)
    out[i] = ((Math.sin(i * 0.37) + 1) / 2) * scale;
  return out;
}

describe('TensorflowBackend on real TF.js graph models (@vladmandic/human 3.3.6)', () => {
  const backend = new TensorflowBackend();
  let models: string;

  beforeAll(async () => {
    models = humanGraphModels();
    await backend.warmUp();
  }, 300_000);

  it('antispoof (float16-quantized weights): signature, and outputs equal to tf.loadGraphModel executed directly', async () => {
    const path = join(models, 'antispoof.json');
    const before = tf.memory().numTensors;
    const model = await backend.load(path, OPTIONS);
    const direct = await loadDirectly(models, 'antispoof');
    try {
      expect(model.signature).toEqual({
        inputs: [
          { name: 'conv2d_input', datatype: 'FP32', shape: [-1, 128, 128, 3] },
        ],
        outputs: [{ name: 'activation_4', datatype: 'FP32', shape: [-1, 1] }],
      });
      const inspected = await tensorflowFormat.inspect(
        path,
        new Map([
          ['antispoof.bin', statSync(join(models, 'antispoof.bin')).size],
        ]),
      );
      expect(inspected.signature).toEqual(model.signature);

      const data = pattern(2 * 128 * 128 * 3, 1);
      const input: Tensor = { datatype: 'FP32', shape: [2, 128, 128, 3], data };
      const out = await model.run({ conv2d_input: input });
      expect(out['activation_4'].shape).toEqual([2, 1]);

      const x = tf.tensor(data, [2, 128, 128, 3]);
      const y = direct.execute(x) as tf.Tensor;
      expect(Array.from(out['activation_4'].data as Float32Array)).toEqual(
        Array.from(await y.data()),
      );
      tf.dispose([x, y]);
    } finally {
      await model.release();
      direct.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('handtrack (uint8-quantized, control flow): runs through executeAsync, outputs equal to TF.js executing directly', async () => {
    const path = join(models, 'handtrack.json');
    const before = tf.memory().numTensors;
    const model = await backend.load(path, OPTIONS);
    const direct = await loadDirectly(models, 'handtrack');
    try {
      // Named by the converter's signature key, as given; the placeholder is uint8 in
      // TensorFlow, and TF.js feeds it int32.
      expect(model.signature.inputs).toEqual([
        { name: 'input_tensor:0', datatype: 'INT32', shape: [1, -1, -1, 3] },
      ]);
      expect(model.signature.outputs.map((o) => o.name)).toEqual(
        direct.outputNodes,
      );
      expect(model.signature.outputs.every((o) => o.datatype === 'FP32')).toBe(
        true,
      );

      const pixels = Uint8Array.from(pattern(96 * 96 * 3, 255), (v) =>
        Math.round(v),
      );
      const out = await model.run({
        'input_tensor:0': {
          datatype: 'UINT8',
          shape: [1, 96, 96, 3],
          data: pixels,
        },
      });
      const x = tf.tensor(Int32Array.from(pixels), [1, 96, 96, 3], 'int32');
      const ys = (await direct.executeAsync(x)) as tf.Tensor[];
      expect(Object.keys(out)).toEqual(direct.outputNodes);
      for (let i = 0; i < ys.length; i++) {
        const name = direct.outputNodes[i];
        expect(out[name].shape).toEqual(ys[i].shape);
        expect(Array.from(out[name].data as Float32Array)).toEqual(
          Array.from((await ys[i].data()) as Float32Array),
        );
      }
      tf.dispose([x, ...ys]);

      const some = await model.run(
        {
          'input_tensor:0': {
            datatype: 'UINT8',
            shape: [1, 96, 96, 3],
            data: pixels,
          },
        },
        [direct.outputNodes[0]],
      );
      expect(Object.keys(some)).toEqual([direct.outputNodes[0]]);
    } finally {
      await model.release();
      direct.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses the graph model uploaded without its shard', async () => {
    await expect(
      tensorflowFormat.inspect(
        join(models, 'antispoof.json'),
        new Map([['emotion.bin', 820516]]),
      ),
    ).rejects.toThrow(/"antispoof\.bin" named by model\.json is missing/);
  });
});
