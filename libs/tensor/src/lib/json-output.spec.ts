import { tensorToFlat, tensorToNested } from './json-output';
import { TensorError } from './tensor.error';

describe('tensorToNested', () => {
  it('nests by shape', () => {
    const t = {
      datatype: 'INT32' as const,
      shape: [2, 3],
      data: new Int32Array([1, 2, 3, 4, 5, 6]),
    };
    expect(tensorToNested(t)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(
      tensorToNested({
        datatype: 'UINT8',
        shape: [2, 1, 2],
        data: new Uint8Array([1, 2, 3, 4]),
      }),
    ).toEqual([[[1, 2]], [[3, 4]]]);
  });

  it('returns scalars bare', () => {
    expect(
      tensorToNested({
        datatype: 'FP64',
        shape: [],
        data: new Float64Array([0.25]),
      }),
    ).toBe(0.25);
    expect(tensorToNested({ datatype: 'BYTES', shape: [], data: ['x'] })).toBe(
      'x',
    );
  });

  it('keeps empty dimensions', () => {
    expect(
      tensorToNested({
        datatype: 'FP32',
        shape: [2, 0],
        data: new Float32Array(0),
      }),
    ).toEqual([[], []]);
    expect(
      tensorToNested({
        datatype: 'FP32',
        shape: [0, 3],
        data: new Float32Array(0),
      }),
    ).toEqual([]);
  });

  it('converts BOOL, FP16 and 64-bit integers', () => {
    expect(
      tensorToNested({
        datatype: 'BOOL',
        shape: [2],
        data: new Uint8Array([1, 0]),
      }),
    ).toEqual([true, false]);
    expect(
      tensorToNested({
        datatype: 'FP16',
        shape: [3],
        data: new Uint16Array([0x3c00, 0xc000, 0x7bff]),
      }),
    ).toEqual([1, -2, 65504]);
    expect(
      tensorToNested({
        datatype: 'INT64',
        shape: [2],
        data: new BigInt64Array([-5n, 2n ** 40n]),
      }),
    ).toEqual([-5, 2 ** 40]);
    expect(
      tensorToNested({
        datatype: 'UINT64',
        shape: [1],
        data: new BigUint64Array([7n]),
      }),
    ).toEqual([7]);
  });

  it('refuses inconsistent tensors', () => {
    expect(() =>
      tensorToNested({
        datatype: 'FP32',
        shape: [3],
        data: new Float32Array(2),
      }),
    ).toThrow('tensor: shape [3] needs 3 elements, got 2');
    expect(() =>
      tensorToNested({
        datatype: 'FP16',
        shape: [1],
        data: new Float32Array(1),
      }),
    ).toThrow(
      'tensor: datatype FP16 must be stored in a Uint16Array, got Float32Array',
    );
    expect(() =>
      tensorToNested({
        datatype: 'FP32',
        shape: [-1],
        data: new Float32Array(1),
      }),
    ).toThrow(TensorError);
  });
});

describe('tensorToFlat', () => {
  it('flattens row-major with the same conversions', () => {
    expect(
      tensorToFlat({
        datatype: 'BOOL',
        shape: [2, 2],
        data: new Uint8Array([1, 0, 0, 1]),
      }),
    ).toEqual([true, false, false, true]);
    expect(
      tensorToFlat({
        datatype: 'FP16',
        shape: [1],
        data: new Uint16Array([0x3800]),
      }),
    ).toEqual([0.5]);
    expect(
      tensorToFlat({
        datatype: 'INT64',
        shape: [1],
        data: new BigInt64Array([-1n]),
      }),
    ).toEqual([-1]);
    expect(
      tensorToFlat({
        datatype: 'FP32',
        shape: [],
        data: new Float32Array([0.5]),
      }),
    ).toEqual([0.5]);
  });

  it('returns plain arrays that do not alias the tensor', () => {
    const data = ['a', 'b'];
    const flat = tensorToFlat({ datatype: 'BYTES', shape: [2], data });
    expect(flat).toEqual(['a', 'b']);
    expect(flat).not.toBe(data);
    expect(
      Array.isArray(
        tensorToFlat({
          datatype: 'INT16',
          shape: [1],
          data: new Int16Array([3]),
        }),
      ),
    ).toBe(true);
  });
});
