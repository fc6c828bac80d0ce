import { concatBatch, splitBatch } from './batch.util';
import type { Tensor } from './tensor.types';

const f32 = (shape: number[], values: number[]): Tensor => ({
  datatype: 'FP32',
  shape,
  data: new Float32Array(values),
});

describe('concatBatch / splitBatch', () => {
  it('concatenates along dimension 0 and splits back into views', () => {
    const a = f32([1, 2], [1, 2]);
    const b = f32([2, 2], [3, 4, 5, 6]);
    const c = f32([0, 2], []);
    const batch = concatBatch([a, b, c]);
    expect(batch).toEqual(f32([3, 2], [1, 2, 3, 4, 5, 6]));

    const parts = splitBatch(batch, [1, 2, 0]);
    expect(parts).toEqual([a, b, c]);
    for (const p of parts)
      expect((p.data as Float32Array).buffer).toBe(
        (batch.data as Float32Array).buffer,
      );
  });

  it('round-trips 64-bit integers, FP16 and BYTES', () => {
    const ints = [
      {
        datatype: 'INT64' as const,
        shape: [1, 2],
        data: new BigInt64Array([1n, -(2n ** 62n)]),
      },
      {
        datatype: 'INT64' as const,
        shape: [1, 2],
        data: new BigInt64Array([3n, 4n]),
      },
    ];
    expect(splitBatch(concatBatch(ints), [1, 1])).toEqual(ints);
    const halves = [
      {
        datatype: 'FP16' as const,
        shape: [1],
        data: new Uint16Array([0x3c00]),
      },
      {
        datatype: 'FP16' as const,
        shape: [2],
        data: new Uint16Array([0x3800, 0xc000]),
      },
    ];
    expect(splitBatch(concatBatch(halves), [1, 2])).toEqual(halves);
    const strings = [
      { datatype: 'BYTES' as const, shape: [2], data: ['a', 'b'] },
      { datatype: 'BYTES' as const, shape: [1], data: ['c'] },
    ];
    const joined = concatBatch(strings);
    expect(joined).toEqual({
      datatype: 'BYTES',
      shape: [3],
      data: ['a', 'b', 'c'],
    });
    expect(splitBatch(joined, [2, 1])).toEqual(strings);
  });

  it('shares the data of a single tensor instead of copying', () => {
    const a = f32([2], [1, 2]);
    const batch = concatBatch([a]);
    expect(batch.data).toBe(a.data);
    expect(batch.shape).not.toBe(a.shape);
  });

  it('refuses mismatched inner dimensions, datatypes and ranks', () => {
    expect(() =>
      concatBatch([f32([1, 4], [0, 0, 0, 0]), f32([1, 3], [0, 0, 0])]),
    ).toThrow(
      'concatBatch: tensor 1 has shape [1, 3], expected [*, 4] to match tensor 0 [1, 4]',
    );
    expect(() => concatBatch([f32([1, 1], [0]), f32([1], [0])])).toThrow(
      'tensor 1 has shape [1], expected [*, 1]',
    );
    expect(() =>
      concatBatch([
        f32([1], [0]),
        { datatype: 'FP64', shape: [1], data: new Float64Array(1) },
      ]),
    ).toThrow(
      'concatBatch: tensor 1 has datatype FP64, expected FP32 like tensor 0',
    );
    expect(() => concatBatch([f32([], [1])])).toThrow(
      'concatBatch: tensor 0 is a scalar (shape []); batching needs rank >= 1',
    );
    expect(() => concatBatch([])).toThrow(
      'concatBatch needs at least one tensor',
    );
    expect(() => concatBatch([f32([2], [1])])).toThrow(
      'concatBatch: tensor 0: shape [2] needs 2 elements, got 1',
    );
  });

  it('refuses sizes that do not add up to the batch dimension', () => {
    const t = f32([4, 1], [1, 2, 3, 4]);
    expect(() => splitBatch(t, [1, 2])).toThrow(
      'splitBatch: sizes [1, 2] add up to 3, but the batch dimension of [4, 1] is 4',
    );
    expect(() => splitBatch(t, [5, -1])).toThrow(
      'splitBatch: size 1 is -1, expected a non-negative integer',
    );
    expect(() => splitBatch(f32([], [1]), [1])).toThrow(
      'splitBatch: cannot split a scalar',
    );
  });
});
