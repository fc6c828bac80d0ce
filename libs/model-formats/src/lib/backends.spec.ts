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
  supportedBackends,
} from './backends';
import { OnnxBackend } from './onnx/onnx.backend';

const UNSUPPORTED = MODEL_FORMATS.filter((f) => !SUPPORTED_FORMATS.includes(f));

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

  it('inspects an ONNX artifact into its format, signature and metadata', () => {
    const sut = inspectArtifact('onnx', mlpPath);

    expect(sut).toEqual({
      format: 'onnx',
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      },
      metadata: { fixture: 'mlp', seed: '42' },
    });
  });

  it.each(UNSUPPORTED)(
    'refuses format %s with UNSUPPORTED_FORMAT, whatever the file holds',
    (format) => {
      let error: unknown = null;
      try {
        inspectArtifact(format, mlpPath);
      } catch (e) {
        error = e;
      }

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'UNSUPPORTED_FORMAT',
        details: { format, supported: ['onnx'] },
      });
      expect((error as PortfolioError).message).toContain(`"${format}"`);
    },
  );

  it('covers the pytorch format among the unsupported ones', () => {
    expect(UNSUPPORTED).toContain('pytorch');
    expect(() => inspectArtifact('pytorch', mlpPath)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }),
    );
  });
});

describe(createBackend.name, () => {
  it('gives an ONNX backend for onnx', () => {
    const sut = createBackend('onnx');

    expect(sut).toBeInstanceOf(OnnxBackend);
    expect(sut.format).toBe('onnx');
  });

  it.each(UNSUPPORTED)(
    'refuses format %s with UNSUPPORTED_FORMAT',
    (format) => {
      expect(() => createBackend(format)).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }),
      );
      expect(() => assertSupportedFormat(format)).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }),
      );
    },
  );

  it('lists one backend per supported format', () => {
    expect(supportedBackends().map((b) => b.format)).toEqual([
      ...SUPPORTED_FORMATS,
    ]);
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
