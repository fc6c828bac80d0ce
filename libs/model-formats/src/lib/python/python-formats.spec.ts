import {
  chmodSync,
  copyFileSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';
import {
  buildMlpModel,
  buildSklearnModels,
  buildTorchScriptMlp,
  buildTorchStateDict,
  buildZip,
  fixtureDir,
  makeTempDir,
  mulberry32,
  SklearnModels,
} from '@portfolio/testing';

import { PythonBackend } from './python.backend';
import { pytorchFormat } from './pytorch.format';
import { sklearnFormat } from './sklearn.format';

/** Ingest's view of the Python formats: content checks, entry points, availability. */

async function refusal(promise: Promise<unknown>): Promise<PortfolioError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(PortfolioError);
    return e as PortfolioError;
  }
  throw new Error('expected a refusal');
}

describe('Python formats at ingest', () => {
  let dir: string;
  let torchscript: string;
  let stateDict: string;
  let legacyStateDict: string;
  let sklearn: SklearnModels;

  beforeAll(() => {
    dir = makeTempDir('python-formats');
    torchscript = buildTorchScriptMlp(fixtureDir(dir, 'ts'), {
      fileName: 'model.pytorch',
    });
    stateDict = buildTorchStateDict(fixtureDir(dir, 'sd'));
    legacyStateDict = buildTorchStateDict(fixtureDir(dir, 'legacy'), {
      legacy: true,
    });
    sklearn = buildSklearnModels(fixtureDir(dir, 'sk'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const besideModelPy = new Map([
    ['model.py', 300],
    ['portfolio.json', 40],
  ]);

  describe('pytorch', () => {
    it('accepts a TorchScript archive by its content, whatever its name', async () => {
      const inspection = await pytorchFormat.inspect(torchscript);
      expect(inspection).toEqual({
        format: 'pytorch',
        signature: { inputs: [], outputs: [] },
        metadata: { kind: 'torchscript' },
      });
    });

    it('accepts a state_dict (zip or legacy pickle) with model.py beside it', async () => {
      await expect(
        pytorchFormat.inspect(stateDict, besideModelPy),
      ).resolves.toMatchObject({
        metadata: { kind: 'state_dict', class: 'Net' },
      });
      await expect(
        pytorchFormat.inspect(legacyStateDict, new Map([['model.py', 1]])),
      ).resolves.toMatchObject({ metadata: { kind: 'state_dict' } });
    });

    it('refuses a state_dict without model.py, saying what is missing', async () => {
      const e = await refusal(pytorchFormat.inspect(stateDict));
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/no code\/ folder/);
      expect(e.message).toMatch(/holds no model\.py/);
      const other = await refusal(
        pytorchFormat.inspect(stateDict, new Map([['weights.txt', 1]])),
      );
      expect(other.message).toMatch(/holds no model\.py/);
    });

    it('refuses a portfolio.json that names no class', async () => {
      const folder = fixtureDir(dir, 'bad-manifest');
      const weights = join(folder, 'weights.pth');
      copyFileSync(stateDict, weights);
      writeFileSync(join(folder, 'portfolio.json'), '{"kwargs": {}}');
      const e = await refusal(pytorchFormat.inspect(weights, besideModelPy));
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/portfolio\.json must be/);
    });

    it('refuses an ONNX model declared as pytorch', async () => {
      const onnx = file(
        'mlp.onnx',
        buildMlpModel({ inputSize: 3, hidden: [4], outputSize: 2 }),
      );
      const e = await refusal(pytorchFormat.inspect(onnx));
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/not a PyTorch artifact/);
      expect(e.message).toMatch(/ONNX model/);
    });

    it('refuses a truncated archive', async () => {
      const whole = readFileSync(torchscript);
      const cut = file(
        'cut.pt',
        whole.subarray(0, Math.floor(whole.length * 0.8)),
      );
      const e = await refusal(pytorchFormat.inspect(cut));
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/end-of-central-directory/);
    });

    it('refuses an empty file, a random file and a zip without data.pkl', async () => {
      const empty = await refusal(pytorchFormat.inspect(file('empty.pt', '')));
      expect(empty.message).toMatch(/an empty file/);
      const random = new Uint8Array(4096);
      const next = mulberry32(7);
      for (let i = 0; i < random.length; i++) random[i] = (next() * 256) | 0;
      random[0] = 0xff;
      const noise = await refusal(
        pytorchFormat.inspect(file('noise.pt', random)),
      );
      expect(noise.code).toBe('INVALID_ARTIFACT');
      expect(noise.message).toMatch(/binary data starting with ff/);
      const zip = file(
        'other.zip',
        buildZip([{ name: 'model/readme.txt', data: 'hello' }]),
      );
      const e = await refusal(pytorchFormat.inspect(zip));
      expect(e.message).toMatch(/no <folder>\/data\.pkl/);
    });

    it('picks the one PyTorch file of an upload, or the weights beside model.py', () => {
      expect(pytorchFormat.entryPoint(['model.pt', 'README.md'])).toBe(
        'model.pt',
      );
      expect(
        pytorchFormat.entryPoint([
          'net/model.py',
          'net/weights.pth',
          'other/extra.pt',
        ]),
      ).toBe('net/weights.pth');
      expect(() => pytorchFormat.entryPoint(['a.pt', 'b.pt'])).toThrow(
        /holds 2 \.pt/,
      );
      expect(() => pytorchFormat.entryPoint(['model.py'])).toThrow(
        /holds no \.pt/,
      );
    });
  });

  describe('sklearn', () => {
    it('accepts joblib files, plain and zlib-compressed', async () => {
      await expect(sklearnFormat.inspect(sklearn.logistic)).resolves.toEqual({
        format: 'sklearn',
        signature: { inputs: [], outputs: [] },
        metadata: { kind: 'sklearn', serialization: 'pickle' },
      });
      await expect(sklearnFormat.inspect(sklearn.svc)).resolves.toMatchObject({
        metadata: { serialization: 'joblib-zlib' },
      });
    });

    it('refuses a truncated pickle, a zip, an empty file and text', async () => {
      const whole = readFileSync(sklearn.linear);
      const cut = await refusal(
        sklearnFormat.inspect(
          file('cut.pkl', whole.subarray(0, whole.length - 9)),
        ),
      );
      expect(cut.code).toBe('INVALID_ARTIFACT');
      expect(cut.message).toMatch(/truncated/);
      const zip = await refusal(sklearnFormat.inspect(torchscript));
      expect(zip.message).toMatch(/a zip archive, not a pickle/);
      const empty = await refusal(sklearnFormat.inspect(file('e.pkl', '')));
      expect(empty.message).toMatch(/an empty file/);
      const text = await refusal(
        sklearnFormat.inspect(file('t.pkl', 'def predict(x): return x\n')),
      );
      expect(text.message).toMatch(/looks like text/);
    });

    it('picks the one estimator file of an upload', () => {
      expect(sklearnFormat.entryPoint(['m/model.joblib', 'm/notes.txt'])).toBe(
        'm/model.joblib',
      );
      expect(() => sklearnFormat.entryPoint(['a.pkl', 'b.pickle'])).toThrow(
        /holds 2/,
      );
    });
  });

  describe('without Python or its packages', () => {
    const saved = process.env['PORTFOLIO_RUNTIME_PYTHON'];
    afterEach(() => {
      if (saved === undefined) delete process.env['PORTFOLIO_RUNTIME_PYTHON'];
      else process.env['PORTFOLIO_RUNTIME_PYTHON'] = saved;
    });

    it('refuses with FORMAT_UNAVAILABLE when the interpreter is missing', async () => {
      process.env['PORTFOLIO_RUNTIME_PYTHON'] = join(dir, 'no-such-python3');
      const e = await refusal(pytorchFormat.inspect(torchscript));
      expect(e.code).toBe('FORMAT_UNAVAILABLE');
      expect(e.message).toMatch(
        /install python3-torch \(apt-get install python3-torch\)/,
      );
      expect(e.message).toMatch(/no-such-python3 was not found/);
      const load = await refusal(
        new PythonBackend('sklearn').load(sklearn.logistic, {
          intraOpThreads: 1,
        }),
      );
      expect(load.code).toBe('FORMAT_UNAVAILABLE');
      expect(load.message).toMatch(/python3-sklearn and python3-joblib/);
    });

    it('refuses with FORMAT_UNAVAILABLE, naming the module, when Python lacks the packages', async () => {
      // A real Python 3 without its site-packages (-S): no numpy, torch nor sklearn.
      const bare = join(dir, 'bare-python3');
      writeFileSync(bare, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
      chmodSync(bare, 0o755);
      process.env['PORTFOLIO_RUNTIME_PYTHON'] = bare;
      const e = await refusal(pytorchFormat.inspect(torchscript));
      expect(e.code).toBe('FORMAT_UNAVAILABLE');
      expect(e.message).toMatch(/bare-python3 has no module numpy/);
      const sk = await refusal(sklearnFormat.inspect(sklearn.logistic));
      expect(sk.code).toBe('FORMAT_UNAVAILABLE');
      expect(sk.message).toMatch(
        /apt-get install python3-sklearn python3-joblib/,
      );
    });
  });
});
