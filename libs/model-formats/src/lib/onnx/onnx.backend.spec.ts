import { rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  buildMixedTypesModel,
  buildMlpModel,
  makeTempDir,
  mlpReference,
  mulberry32,
  writeModel,
} from '@portfolio/testing';

import { LoadedModel } from '../model-backend';
import { OnnxBackend } from './onnx.backend';

const MLP = { inputSize: 4, hidden: [8, 6], outputSize: 3, seed: 5 };

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(
      1e-5 * Math.max(1, Math.abs(expected[i])),
    );
  }
}

describe(OnnxBackend.name, () => {
  let dir: string;
  let sut: OnnxBackend;
  const opened: LoadedModel[] = [];

  beforeAll(() => {
    dir = makeTempDir('onnx-backend');
  });
  beforeEach(() => {
    sut = new OnnxBackend();
  });
  afterEach(async () => {
    for (const model of opened.splice(0)) await model.release();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(path: string): Promise<LoadedModel> {
    const model = await sut.load(path, { intraOpThreads: 1 });
    opened.push(model);
    return model;
  }

  it('warms up without a model', async () => {
    await expect(sut.warmUp()).resolves.toBeUndefined();
  });

  it('loads an MLP and reads its signature from the session', async () => {
    const model = await load(writeModel(dir, 'mlp.onnx', buildMlpModel(MLP)));

    expect(model.signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });
  });

  it('runs the MLP and matches the reference computation', async () => {
    const model = await load(
      writeModel(dir, 'mlp-run.onnx', buildMlpModel(MLP)),
    );
    const random = mulberry32(3);
    const batch = 5;
    const x = Float32Array.from(
      { length: batch * MLP.inputSize },
      () => random() * 2 - 1,
    );

    const out = await model.run({
      x: { datatype: 'FP32', shape: [batch, MLP.inputSize], data: x },
    });

    expect(Object.keys(out)).toEqual(['y']);
    expect(out['y'].datatype).toBe('FP32');
    expect(out['y'].shape).toEqual([batch, MLP.outputSize]);
    expectClose(out['y'].data as Float32Array, mlpReference(MLP, x, batch));
  });

  it('runs a model with INT64 inputs and outputs, returning only the outputs asked for', async () => {
    const model = await load(
      writeModel(dir, 'mixed.onnx', buildMixedTypesModel()),
    );

    const out = await model.run(
      {
        a: {
          datatype: 'FP32',
          shape: [2, 3],
          data: Float32Array.from([0.5, 0, 0, 0, 0, 0.25]),
        },
        b: {
          datatype: 'INT64',
          shape: [2, 3],
          data: BigInt64Array.from([0n, 1n, 0n, 0n, 0n, 0n]),
        },
      },
      ['argmax'],
    );

    expect(Object.keys(out)).toEqual(['argmax']);
    expect(out['argmax']).toEqual({
      datatype: 'INT64',
      shape: [2],
      data: BigInt64Array.from([1n, 2n]),
    });
  });

  it('refuses a file that does not exist', async () => {
    await expect(
      sut.load(join(dir, 'missing.onnx'), { intraOpThreads: 1 }),
    ).rejects.toThrow();
  });
});
