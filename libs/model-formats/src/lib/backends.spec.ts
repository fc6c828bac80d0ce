import { rmSync } from 'node:fs';

import {
  assertSupportedFormat,
  MODEL_FORMATS,
  PortfolioError,
  SUPPORTED_FORMATS,
} from '@portfolio/contracts';
import { buildMlpModel, makeTempDir, writeModel } from '@portfolio/testing';

import {
  createBackend,
  entryPointOf,
  inspectArtifact,
  eagerBackends,
} from './backends';
import { OnnxBackend } from './onnx/onnx.backend';

describe(inspectArtifact.name, () => {
  let dir: string;
  let mlpPath: string;

  beforeAll(() => {
    dir = makeTempDir('backends');
    mlpPath = writeModel(
      dir,
      'mlp.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3 }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('inspects an ONNX artifact into its format, signature and metadata', async () => {
    const sut = await inspectArtifact('onnx', mlpPath);

    expect(sut).toEqual({
      format: 'onnx',
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      },
      metadata: { fixture: 'mlp', seed: '42' },
    });
  });
});

describe(createBackend.name, () => {
  it('gives an ONNX backend for onnx', () => {
    const sut = createBackend('onnx');

    expect(sut).toBeInstanceOf(OnnxBackend);
    expect(sut.format).toBe('onnx');
  });

  it.each(MODEL_FORMATS)('gives a backend for every format: %s', (format) => {
    expect(SUPPORTED_FORMATS).toContain(format);
    expect(() => assertSupportedFormat(format)).not.toThrow();
    expect(createBackend(format).format).toBe(format);
  });

  it('warms up ONNX when a worker starts, every other framework on its first load', () => {
    expect(eagerBackends().map((b) => b.format)).toEqual(['onnx']);
  });
});

describe(entryPointOf.name, () => {
  it('picks the one .onnx file of an upload, wherever it sits', () => {
    expect(entryPointOf('onnx', ['weights.bin', 'net/model.ONNX'])).toBe(
      'net/model.ONNX',
    );
  });

  it.each([
    [[], /holds no \.onnx file \(nothing\)/],
    [['a.data', 'b.txt'], /holds no \.onnx file \("a.data", "b.txt"\)/],
    [['a.onnx', 'b/c.onnx'], /holds 2 \.onnx files/],
  ])('refuses %j, saying why', (paths, message) => {
    let error: unknown;
    try {
      entryPointOf('onnx', paths);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({ code: 'INVALID_ARTIFACT' });
    expect((error as Error).message).toMatch(message);
  });
});
