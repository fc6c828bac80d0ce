import {
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import {
  buildMlpModel,
  buildTfjsTwoInputModel,
  makeTempDir,
  minimalSavedModelPb,
  saveTfjsModel,
} from '@portfolio/testing';

import { tensorflowFormat } from './tensorflow.format';
import { hasTfjsNode } from './tfjs-runtime';

/** The parts of a model.json the tests edit. */
interface EditableModelJson {
  [key: string]: unknown;
  weightsManifest: { paths: string[]; weights: { dtype: string }[] }[];
}

describe('tensorflowFormat', () => {
  describe('entryPoint', () => {
    it('is the model.json, whatever else the upload holds', () => {
      expect(
        tensorflowFormat.entryPoint([
          'm/group1-shard1of2.bin',
          'm/model.json',
          'm/group1-shard2of2.bin',
          'README.json',
        ]),
      ).toBe('m/model.json');
    });

    it('is the one .json file where none is named model.json (converters name it after the model)', () => {
      expect(
        tensorflowFormat.entryPoint(['blazeface.json', 'blazeface.bin']),
      ).toBe('blazeface.json');
    });

    it("is a SavedModel's saved_model.pb", () => {
      expect(
        tensorflowFormat.entryPoint([
          'm/saved_model.pb',
          'm/variables/variables.index',
          'm/variables/variables.data-00000-of-00001',
        ]),
      ).toBe('m/saved_model.pb');
    });

    it('refuses an upload with no model, or with several', () => {
      expect(() => tensorflowFormat.entryPoint(['weights.bin'])).toThrow(
        /no TF\.js model\.json/,
      );
      expect(() =>
        tensorflowFormat.entryPoint(['a/model.json', 'b/model.json']),
      ).toThrow(/2 model\.json files/);
      expect(() => tensorflowFormat.entryPoint(['a.json', 'b.json'])).toThrow(
        /2 \.json files/,
      );
    });
  });

  describe('inspect', () => {
    let dir: string;
    let modelJson: string;
    let shard: string;
    let shardSize: number;

    beforeAll(async () => {
      await tf.setBackend('cpu');
      dir = makeTempDir('tfjs-format');
      const model = buildTfjsTwoInputModel(tf, 3);
      ({ modelJson } = await saveTfjsModel(tf, model, join(dir, 'two')));
      model.dispose();
      shard = 'group1-shard1of1.bin';
      shardSize = statSync(join(dir, 'two', shard)).size;
    });

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** A copy of the two-input model.json, edited, in a directory of its own. */
    function variant(
      name: string,
      edit: (json: EditableModelJson) => void,
    ): string {
      const json = JSON.parse(readFileSync(modelJson, 'utf8'));
      edit(json);
      mkdirSync(join(dir, name), { recursive: true });
      const path = join(dir, name, 'model.json');
      writeFileSync(path, JSON.stringify(json));
      return path;
    }

    it('accepts a layers model.json with its shard, and tells its signature from the config', async () => {
      const inspection = await tensorflowFormat.inspect(
        modelJson,
        new Map([[shard, shardSize]]),
      );
      expect(inspection.format).toBe('tensorflow');
      expect(inspection.metadata['kind']).toBe('layers-model');
      expect(inspection.signature).toEqual({
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [-1, 3] },
          { name: 'context', datatype: 'FP32', shape: [-1, 2] },
        ],
        outputs: [
          { name: 'score', datatype: 'FP32', shape: [-1, 2] },
          { name: 'gate', datatype: 'FP32', shape: [-1, 1] },
        ],
      });
    });

    it("accepts a graph model.json, its signature from the converter's", async () => {
      const path = variant('graph', (json) => {
        json.format = 'graph-model';
        json.modelTopology = { node: [], versions: {} };
        json.signature = {
          inputs: {
            image: {
              name: 'image:0',
              dtype: 'DT_UINT8',
              tensorShape: { dim: [{ size: '-1' }, { size: '224' }] },
            },
          },
          outputs: {
            logits: {
              name: 'Identity:0',
              dtype: 'DT_FLOAT',
              tensorShape: { dim: [{ size: '-1' }, { size: '10' }] },
            },
          },
        };
      });
      const inspection = await tensorflowFormat.inspect(
        path,
        new Map([[shard, shardSize]]),
      );
      expect(inspection.metadata['kind']).toBe('graph-model');
      expect(inspection.signature).toEqual({
        // TF.js computes integers in int32: that is what the model takes.
        inputs: [{ name: 'image', datatype: 'INT32', shape: [-1, 224] }],
        outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
      });
    });

    it('refuses what is not JSON', async () => {
      const path = join(dir, 'garbage.tensorflow');
      writeFileSync(path, Buffer.from('\x00\x01garbage, not a model'));
      await expect(tensorflowFormat.inspect(path)).rejects.toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringMatching(/^not a TF\.js model\.json/),
      });
      const json = join(dir, 'broken.json');
      writeFileSync(json, '{"modelTopology": ');
      await expect(tensorflowFormat.inspect(json)).rejects.toThrow(
        /not a TF\.js model\.json: the file is not JSON/,
      );
    });

    it('refuses JSON that is not a TF.js model', async () => {
      const path = join(dir, 'other.json');
      writeFileSync(path, JSON.stringify({ name: 'not a model', weights: [] }));
      await expect(tensorflowFormat.inspect(path)).rejects.toThrow(
        /no "modelTopology"/,
      );
      const noManifest = variant('no-manifest', (json) =>
        Reflect.deleteProperty(json, 'weightsManifest'),
      );
      await expect(
        tensorflowFormat.inspect(noManifest, new Map()),
      ).rejects.toThrow(/no "weightsManifest"/);
      const badDtype = variant(
        'bad-dtype',
        (json) => (json.weightsManifest[0].weights[0].dtype = 'float128'),
      );
      await expect(
        tensorflowFormat.inspect(badDtype, new Map([[shard, shardSize]])),
      ).rejects.toThrow(/unknown dtype "float128"/);
    });

    it('refuses an ONNX model declared tensorflow', async () => {
      const path = join(dir, 'model.onnx.tensorflow');
      writeFileSync(
        path,
        buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2 }),
      );
      await expect(tensorflowFormat.inspect(path)).rejects.toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringMatching(
          /not JSON, and not a TensorFlow SavedModel/,
        ),
      });
    });

    it('refuses a model.json whose shard is missing, naming it', async () => {
      await expect(
        tensorflowFormat.inspect(
          modelJson,
          new Map([['other.bin', shardSize]]),
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringMatching(/"group1-shard1of1\.bin" .* missing/),
      });
    });

    it('refuses a shard whose size is not what the manifest implies', async () => {
      await expect(
        tensorflowFormat.inspect(modelJson, new Map([[shard, shardSize - 4]])),
      ).rejects.toThrow(
        new RegExp(
          `hold ${shardSize - 4} bytes, but the manifest's weights need ${shardSize}`,
        ),
      );
    });

    it('counts quantized weights at their stored width', async () => {
      const quantized = join(dir, 'quantized');
      const model = buildTfjsTwoInputModel(tf, 3);
      await saveTfjsModel(tf, model, quantized, { quantizeUint8: true });
      model.dispose();
      const size = statSync(join(quantized, shard)).size;
      expect(size * 4).toBe(shardSize);
      await expect(
        tensorflowFormat.inspect(
          join(quantized, 'model.json'),
          new Map([[shard, size]]),
        ),
      ).resolves.toMatchObject({
        format: 'tensorflow',
      });
      await expect(
        tensorflowFormat.inspect(
          join(quantized, 'model.json'),
          new Map([[shard, shardSize]]),
        ),
      ).rejects.toThrow(/manifest's weights need/);
    });

    it('refuses a model.json uploaded alone when it has weight shards', async () => {
      await expect(tensorflowFormat.inspect(modelJson)).rejects.toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringMatching(
          /upload a tar or zip archive, or a multipart form, holding model\.json and its shards/,
        ),
      });
    });

    it('refuses shard paths that leave the model directory', async () => {
      for (const p of [
        '../two/group1-shard1of1.bin',
        '/etc/passwd',
        'https://example.com/w.bin',
      ]) {
        const path = variant(
          'escape',
          (json) => (json.weightsManifest[0].paths = [p]),
        );
        await expect(
          tensorflowFormat.inspect(path, new Map([[shard, shardSize]])),
        ).rejects.toThrow(/not a file beside model\.json/);
      }
    });

    it('refuses a SavedModel with FORMAT_UNAVAILABLE where @tensorflow/tfjs-node is not installed', async () => {
      const saved = join(dir, 'saved');
      mkdirSync(saved, { recursive: true });
      const pb = join(saved, 'saved_model.pb');
      writeFileSync(pb, minimalSavedModelPb());
      const inspecting = tensorflowFormat.inspect(
        pb,
        new Map([['variables/variables.index', 10]]),
      );
      if (await hasTfjsNode()) {
        await expect(inspecting).resolves.toMatchObject({
          format: 'tensorflow',
        });
      } else {
        await expect(inspecting).rejects.toMatchObject({
          code: 'FORMAT_UNAVAILABLE',
          message:
            'a TensorFlow SavedModel needs @tensorflow/tfjs-node, which is not installed on this server (npm install @tensorflow/tfjs-node); TF.js layers and graph models (model.json) load without it',
        });
      }
    });
  });
});
