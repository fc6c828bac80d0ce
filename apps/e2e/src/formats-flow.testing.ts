import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import * as ort from 'onnxruntime-node';

import {
  ArchiveEntry,
  buildMlpModel,
  buildSklearnModels,
  buildTar,
  buildTfjsMlp,
  buildTorchScriptMlp,
  makeTempDir,
  pythonReference,
  REPO_ROOT,
  saveTfjsModel,
  writeTinyBertModel,
} from '@portfolio/testing';

import { ErrorBody, http } from './http.testing';
import { expectClose, runDirectly } from './prediction-flow.testing';

/** Outputs come back as nested arrays following their shapes. */
const flat = (v: unknown[]): unknown[] => v.flat(8);

interface Predicted {
  outputs: Record<string, unknown[]>;
}
interface ModelStatus {
  model_id: string;
  state: string;
  memory_bytes: number;
  loads: number;
  evictions_by_reason: Record<string, number>;
}

/** Every file under `dir`, as a tar of entries named relative to it. */
function tarOf(dir: string): Promise<Uint8Array> {
  const entries: ArchiveEntry[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else
        entries.push({ name: relative(dir, path), data: readFileSync(path) });
    }
  };
  walk(dir);
  return buildTar(entries);
}

/**
 * Every format through the product, as a user meets it: registered through the admin
 * API (a single file, or a tar of the files a directory format needs), predicted through
 * `/v1`, measured by its runtime, unloaded and loaded again by the next request. The
 * frameworks themselves are checked against the same models called directly in the
 * model-formats library's tests; here, that each takes part in the product like ONNX,
 * in the standalone app and in the distributed topology (whose storage and runtimes
 * are separate processes: trial loads and Python workers start there).
 */
export function formatsFlow(
  ctx: () => { url: string; adminKey: string },
): void {
  describe('every model format', () => {
    const fixtures = makeTempDir('formats-fixtures');

    async function register(
      id: string,
      format: string,
      artifact: Uint8Array,
    ): Promise<void> {
      const created = await http(`${ctx().url}/admin/models`, {
        json: { id, format },
        key: ctx().adminKey,
      });
      expect(created.status).toBe(201);
      const version = await http<ErrorBody>(
        `${ctx().url}/admin/models/${id}/versions`,
        {
          body: artifact,
          key: ctx().adminKey,
        },
      );
      if (version.status !== 201)
        throw new Error(
          `upload of ${id}: ${version.status} ${JSON.stringify(version.body)}`,
        );
    }

    async function predict(id: string, inputs: unknown): Promise<Predicted> {
      const res = await http<Predicted>(
        `${ctx().url}/v1/models/${id}/predict`,
        {
          json: { inputs },
        },
      );
      if (res.status !== 200)
        throw new Error(
          `predict ${id}: ${res.status} ${JSON.stringify(res.body)}`,
        );
      return res.body;
    }

    /** The name of the default version's first input, as its runtime reported it. */
    async function firstInput(id: string): Promise<string> {
      const res = await http<{
        signature: { inputs: { name: string }[] } | null;
      }>(`${ctx().url}/v1/models/${id}/metadata`);
      const name = res.body.signature?.inputs[0]?.name;
      if (!name) throw new Error(`${id} declares no input`);
      return name;
    }

    async function status(id: string): Promise<ModelStatus> {
      const res = await http<{ models: ModelStatus[] }>(
        `${ctx().url}/v1/models/status`,
      );
      const model = res.body.models.find((m) => m.model_id === id);
      if (!model) throw new Error(`${id} is not in the status`);
      return model;
    }

    /** Measured while loaded; unloaded by an admin; loaded again by the next request. */
    async function takesPartInTheCache(
      id: string,
      again: () => Promise<unknown>,
    ): Promise<void> {
      const loaded = await status(id);
      expect(loaded).toMatchObject({ state: 'loaded', loads: 1 });
      expect(loaded.memory_bytes).toBeGreaterThan(0);
      const unloaded = await http<{ unloaded: { freed_bytes: number }[] }>(
        `${ctx().url}/admin/models/${id}/unload`,
        { json: {}, key: ctx().adminKey },
      );
      expect(unloaded.status).toBe(200);
      expect(unloaded.body.unloaded).toHaveLength(1);
      expect((await status(id)).state).toBe('unloaded');
      await again();
      expect(await status(id)).toMatchObject({
        state: 'loaded',
        loads: 2,
        evictions_by_reason: { admin: 1 },
      });
    }

    it('serves a scikit-learn model: labels and probabilities as scikit-learn gives them', async () => {
      const models = buildSklearnModels(join(fixtures, 'sklearn'));
      await register('iris-sk', 'sklearn', readFileSync(models.logistic));
      const rows = [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
      ];

      const got = await predict('iris-sk', { input: rows });

      const expected = pythonReference('sklearn', models.logistic, [
        { dtype: 'float64', shape: [2, 4], data: rows.flat() },
      ]);
      expect(got.outputs['label']).toEqual(expected['label'].data);
      expectClose(
        flat(got.outputs['probabilities']) as number[],
        expected['probabilities'].data as number[],
      );
      await takesPartInTheCache('iris-sk', () =>
        predict('iris-sk', { input: rows }),
      );
    });

    it('serves a TorchScript model as PyTorch computes it', async () => {
      const path = buildTorchScriptMlp(join(fixtures, 'torch'), {
        inputSize: 4,
        hidden: [8],
        outputSize: 3,
      });
      await register('torchscript-mlp', 'pytorch', readFileSync(path));
      const x = [
        [0.5, -1, 2, 0.25],
        [1, 1, 1, 1],
      ];

      const input = await firstInput('torchscript-mlp');
      const got = await predict('torchscript-mlp', {
        [input]: { datatype: 'FP32', shape: [2, 4], data: x.flat() },
      });

      const expected = pythonReference('torchscript', path, [
        { dtype: 'float32', shape: [2, 4], data: x.flat() },
      ]);
      const [name] = Object.keys(got.outputs);
      expect(got.outputs[name]).toHaveLength(2);
      expectClose(
        flat(got.outputs[name]) as number[],
        expected['output__0'].data as number[],
        1e-5,
      );
      await takesPartInTheCache('torchscript-mlp', () =>
        predict('torchscript-mlp', {
          [input]: { datatype: 'FP32', shape: [2, 4], data: x.flat() },
        }),
      );
    });

    it('serves a TF.js layers model uploaded as a tar of model.json and its shard', async () => {
      const tf = await import('@tensorflow/tfjs');
      const model = buildTfjsMlp(tf, { inputs: 4, hidden: 8, outputs: 3 });
      const dir = join(fixtures, 'tfjs');
      await saveTfjsModel(tf, model, dir);
      await register('tfjs-mlp', 'tensorflow', await tarOf(dir));
      const x = [
        [0.5, -1, 2, 0.25],
        [1, 1, 1, 1],
      ];
      const direct = model.predict(
        tf.tensor2d(x),
      ) as import('@tensorflow/tfjs').Tensor;
      const expected = Array.from(await direct.data());

      const input = await firstInput('tfjs-mlp');
      const got = await predict('tfjs-mlp', { [input]: x });

      const [name] = Object.keys(got.outputs);
      expectClose(flat(got.outputs[name]) as number[], expected, 1e-5);
      await takesPartInTheCache('tfjs-mlp', () =>
        predict('tfjs-mlp', { [input]: x }),
      );
    });

    it('serves a HuggingFace text classifier: text in, labels and scores out', async () => {
      const files = writeTinyBertModel(join(fixtures, 'hf'), {
        task: 'text-classification',
        labels: ['negative', 'positive'],
      });
      await register('sentiment', 'huggingface', await tarOf(files.dir));

      const got = await predict('sentiment', {
        text: { datatype: 'BYTES', shape: [2], data: ['a good movie', 'bad'] },
      });

      expect(got.outputs['label']).toHaveLength(2);
      for (const label of got.outputs['label'])
        expect(['negative', 'positive']).toContain(label);
      for (const score of got.outputs['score'] as number[]) {
        expect(score).toBeGreaterThanOrEqual(0.5);
        expect(score).toBeLessThanOrEqual(1);
      }
      await takesPartInTheCache('sentiment', () =>
        predict('sentiment', {
          text: { datatype: 'BYTES', shape: [1], data: ['fine'] },
        }),
      );
    });

    it("applies a model's processing: raw inputs normalized, classes named, and the signature says so", async () => {
      const path = join(fixtures, 'species.onnx');
      writeFileSync(
        path,
        buildMlpModel({
          inputSize: 4,
          hidden: [8],
          outputSize: 3,
          softmax: true,
        }),
      );
      const processing = {
        inputs: { x: { offset: [5.8, 3, 3.7, 1.2], scale: 0.5 } },
        outputs: { y: { labels: ['setosa', 'versicolor', 'virginica'] } },
      };
      const created = await http(`${ctx().url}/admin/models`, {
        json: { id: 'species', format: 'onnx', processing },
        key: ctx().adminKey,
      });
      expect(created.status).toBe(201);
      const version = await http(`${ctx().url}/admin/models/species/versions`, {
        body: readFileSync(path),
        key: ctx().adminKey,
      });
      expect(version.status).toBe(201);
      const raw = [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
      ];

      const got = await predict('species', { x: raw });

      const normalized = raw.flatMap((row) =>
        row.map((v, i) => (v - processing.inputs.x.offset[i]) * 0.5),
      );
      const direct = await runDirectly(path, {
        x: new ort.Tensor('float32', Float32Array.from(normalized), [2, 4]),
      });
      const scores = direct['y'].data as Float32Array;
      expectClose(flat(got.outputs['y']) as number[], scores, 1e-5);
      const best = [0, 1].map((r) => {
        const row = Array.from(scores.subarray(r * 3, r * 3 + 3));
        return processing.outputs.y.labels[row.indexOf(Math.max(...row))];
      });
      expect(got.outputs['y_label']).toEqual(best);
      const metadata = await http<{
        signature: { outputs: { name: string; datatype: string }[] };
      }>(`${ctx().url}/v1/models/species/metadata`);
      expect(metadata.body.signature.outputs).toEqual([
        { name: 'y', datatype: 'FP32', shape: [-1, 3] },
        { name: 'y_label', datatype: 'BYTES', shape: [-1] },
      ]);
      const only = await http<Predicted>(
        `${ctx().url}/v1/models/species/predict?outputs=y_label`,
        { json: { inputs: { x: raw } } },
      );
      expect(only.body.outputs).toEqual({ y_label: best });
    });

    it('serves the custom plugin of examples/ with the numbers its README gives', async () => {
      await register(
        'linear',
        'custom',
        await tarOf(join(REPO_ROOT, 'examples/custom-plugin')),
      );

      const got = await predict('linear', {
        x: [
          [1, 2, 3],
          [0, 0, 0],
        ],
      });

      expectClose(flat(got.outputs['y']) as number[], [-2.9, 9, 0.1, -1], 1e-5);
      await takesPartInTheCache('linear', () =>
        predict('linear', { x: [[1, 2, 3]] }),
      );
    });
  });
}
