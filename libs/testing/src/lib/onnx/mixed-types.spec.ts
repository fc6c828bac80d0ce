import { rmSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { makeTempDir } from '../services/temp-dir';
import { buildMixedTypesModel } from './mixed-types';
import { writeModel } from './write-model';

describe('buildMixedTypesModel', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir('mixed-spec')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds a FP32 and an INT64 input and returns the row-wise argmax as INT64', async () => {
    const path = writeModel(dir, 'mixed.onnx', buildMixedTypesModel());
    const session = await InferenceSession.create(path, {
      intraOpNumThreads: 1,
    });
    try {
      expect(session.inputMetadata).toMatchObject([
        { name: 'a', type: 'float32' },
        { name: 'b', type: 'int64' },
      ]);
      expect(session.outputMetadata).toMatchObject([
        { name: 'sum', type: 'float32' },
        { name: 'argmax', type: 'int64' },
      ]);
      const a = new Tensor(
        'float32',
        Float32Array.from([0.5, 1.5, -2, 10, 0, 0.25]),
        [2, 3],
      );
      const b = new Tensor(
        'int64',
        BigInt64Array.from([1n, -3n, 7n, -20n, 4n, 4n]),
        [2, 3],
      );
      const { sum, argmax } = await session.run({ a, b });
      expect(sum.type).toBe('float32');
      expect(sum.dims).toEqual([2, 3]);
      expect(Array.from(sum.data as Float32Array)).toEqual([
        1.5, -1.5, 5, -10, 4, 4.25,
      ]);
      expect(argmax.type).toBe('int64');
      expect(argmax.dims).toEqual([2]);
      expect(Array.from(argmax.data as BigInt64Array)).toEqual([2n, 2n]);
    } finally {
      await session.release();
    }
  });

  it('is deterministic', () => {
    expect(Buffer.from(buildMixedTypesModel())).toEqual(
      Buffer.from(buildMixedTypesModel()),
    );
  });
});
