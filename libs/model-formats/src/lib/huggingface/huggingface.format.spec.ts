import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';
import { makeTempDir, writeTinyBertModel } from '@portfolio/testing';

import { huggingfaceFormat } from './huggingface.format';

/** What ingest passes as `beside`: every file of the directory, relative to it, with sizes. */
function besideOf(dir: string): Map<string, number> {
  const files = new Map<string, number>();
  for (const entry of readdirSync(dir, { recursive: true }).map(String)) {
    const path = join(dir, entry);
    if (statSync(path).isFile())
      files.set(relative(dir, path).split('\\').join('/'), statSync(path).size);
  }
  return files;
}

async function refusal(promise: Promise<unknown>): Promise<PortfolioError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PortfolioError);
  expect((error as PortfolioError).code).toBe('INVALID_ARTIFACT');
  return error as PortfolioError;
}

describe('huggingfaceFormat', () => {
  let root: string;

  beforeAll(() => {
    root = makeTempDir('hf-format');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  describe('entryPoint', () => {
    it('picks the config.json with the ONNX graph beside it', () => {
      expect(
        huggingfaceFormat.entryPoint([
          'm/config.json',
          'm/tokenizer.json',
          'm/tokenizer_config.json',
          'm/onnx/model.onnx',
          'm/onnx/config.json',
        ]),
      ).toBe('m/config.json');
      expect(
        huggingfaceFormat.entryPoint(['config.json', 'model.onnx', 'x.txt']),
      ).toBe('config.json');
    });

    it('names what is missing or ambiguous', () => {
      expect(() =>
        huggingfaceFormat.entryPoint(['tokenizer.json', 'onnx/model.onnx']),
      ).toThrow(/no config\.json/);
      expect(() =>
        huggingfaceFormat.entryPoint(['config.json', 'tokenizer.json']),
      ).toThrow(/no onnx\/model\.onnx/);
      expect(() =>
        huggingfaceFormat.entryPoint([
          'a/config.json',
          'a/onnx/model.onnx',
          'b/config.json',
          'b/onnx/model.onnx',
        ]),
      ).toThrow(/2 models/);
    });
  });

  describe('inspect', () => {
    it('validates a classifier and gives its signature and task', async () => {
      const files = writeTinyBertModel(join(root, 'classifier'), {
        task: 'text-classification',
        labels: ['neg', 'pos'],
      });

      const inspection = await huggingfaceFormat.inspect(
        files.configPath,
        besideOf(files.dir),
      );

      expect(inspection.format).toBe('huggingface');
      expect(inspection.signature.inputs).toEqual([
        { name: 'text', datatype: 'BYTES', shape: [-1] },
      ]);
      expect(inspection.signature.outputs.map((o) => o.name)).toEqual([
        'label',
        'score',
        'logits',
        'probabilities',
      ]);
      expect(inspection.metadata).toMatchObject({
        task: 'text-classification',
        model_type: 'bert',
        labels: 'neg,pos',
      });
    });

    it('reads the task and pooling from portfolio.json', async () => {
      const files = writeTinyBertModel(join(root, 'manifest'), {
        task: 'text-classification',
        hidden: 4,
        manifest: { task: 'feature-extraction', pooling: 'none' },
      });

      const inspection = await huggingfaceFormat.inspect(
        files.configPath,
        besideOf(files.dir),
      );

      expect(inspection.signature.outputs).toEqual([
        { name: 'embeddings', datatype: 'FP32', shape: [-1, -1, 4] },
      ]);
      expect(inspection.metadata).toMatchObject({
        task: 'feature-extraction',
        pooling: 'none',
      });
    });

    it('refuses a bad portfolio.json naming the field', async () => {
      const files = writeTinyBertModel(join(root, 'bad-manifest'), {
        task: 'feature-extraction',
        manifest: { pooling: 'max' },
      });

      const error = await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );

      expect(error.message).toMatch(/"pooling" must be one of/);
    });

    it('refuses a directory without tokenizer.json', async () => {
      const files = writeTinyBertModel(join(root, 'no-tokenizer'), {
        task: 'feature-extraction',
      });
      rmSync(files.tokenizerPath);

      const error = await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );

      expect(error.message).toMatch(/tokenizer\.json is missing/);
    });

    it('refuses a tokenizer.json that is no tokenizer', async () => {
      const files = writeTinyBertModel(join(root, 'fake-tokenizer'), {
        task: 'feature-extraction',
      });
      writeFileSync(files.tokenizerPath, '{"version": "1.0"}');

      const error = await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );

      expect(error.message).toMatch(/tokenizer\.json has no "model"/);
    });

    it('refuses a directory without the ONNX graph', async () => {
      const files = writeTinyBertModel(join(root, 'no-onnx'), {
        task: 'feature-extraction',
      });
      rmSync(files.onnxPath);

      const error = await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );

      expect(error.message).toMatch(/onnx\/model\.onnx is missing/);
    });

    it('refuses a graph that is not ONNX', async () => {
      const files = writeTinyBertModel(join(root, 'garbage-onnx'), {
        task: 'feature-extraction',
      });
      writeFileSync(files.onnxPath, 'this is not a protobuf \u0000\u0001');

      await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );
    });

    it.each([
      ['not JSON', '{"model_type": "bert",', /config\.json is not valid JSON/],
      ['no model_type', '{"hidden_size": 8}', /no "model_type"/],
      ['an array', '[1, 2]', /must hold a JSON object/],
    ])('refuses a config.json that is %s', async (_what, content, message) => {
      const files = writeTinyBertModel(join(root, `config-${_what}`), {
        task: 'feature-extraction',
      });
      writeFileSync(files.configPath, content);

      const error = await refusal(
        huggingfaceFormat.inspect(files.configPath, besideOf(files.dir)),
      );

      expect(error.message).toMatch(message);
    });

    it('refuses a single uploaded file, saying how to upload a model', async () => {
      const files = writeTinyBertModel(join(root, 'single'), {
        task: 'feature-extraction',
      });

      const error = await refusal(huggingfaceFormat.inspect(files.configPath));

      expect(error.message).toMatch(
        /single file cannot be a HuggingFace model/,
      );
      expect(error.message).toMatch(/tar, a zip or a multipart/);
    });
  });
});
