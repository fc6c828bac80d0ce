import { float32ToFloat16Bits } from './float16.util';
import { tensorFromRaw, tensorToRaw } from './raw-tensor.codec';
import { TensorError } from './tensor.error';
import type { Tensor } from './tensor.types';

/** Little-endian bytes as a client (numpy's tobytes()) writes them. */
function le(write: (view: DataView) => void, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  write(new DataView(bytes.buffer));
  return bytes;
}

describe('raw tensor bytes (binary tensor data extension)', () => {
  const cases: [string, Tensor, Uint8Array][] = [
    [
      'BOOL',
      { datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      new Uint8Array([1, 0, 1]),
    ],
    [
      'UINT8',
      { datatype: 'UINT8', shape: [2], data: new Uint8Array([0, 255]) },
      new Uint8Array([0, 255]),
    ],
    [
      'UINT16',
      { datatype: 'UINT16', shape: [1], data: new Uint16Array([0x1234]) },
      new Uint8Array([0x34, 0x12]),
    ],
    [
      'UINT32',
      { datatype: 'UINT32', shape: [1], data: new Uint32Array([4294967295]) },
      new Uint8Array([255, 255, 255, 255]),
    ],
    [
      'UINT64',
      {
        datatype: 'UINT64',
        shape: [1],
        data: new BigUint64Array([2n ** 64n - 2n]),
      },
      le((v) => v.setBigUint64(0, 2n ** 64n - 2n, true), 8),
    ],
    [
      'INT8',
      { datatype: 'INT8', shape: [2], data: new Int8Array([-128, 127]) },
      new Uint8Array([0x80, 0x7f]),
    ],
    [
      'INT16',
      { datatype: 'INT16', shape: [1], data: new Int16Array([-2]) },
      new Uint8Array([0xfe, 0xff]),
    ],
    [
      'INT32',
      { datatype: 'INT32', shape: [1], data: new Int32Array([-2147483648]) },
      new Uint8Array([0, 0, 0, 0x80]),
    ],
    [
      'INT64',
      {
        datatype: 'INT64',
        shape: [2],
        data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n]),
      },
      le((v) => {
        v.setBigInt64(0, -(2n ** 63n), true);
        v.setBigInt64(8, 2n ** 53n + 1n, true);
      }, 16),
    ],
    [
      'FP16',
      {
        datatype: 'FP16',
        shape: [2],
        data: new Uint16Array([
          float32ToFloat16Bits(1.5),
          float32ToFloat16Bits(-2),
        ]),
      },
      new Uint8Array([0x00, 0x3e, 0x00, 0xc0]),
    ],
    [
      'FP32',
      { datatype: 'FP32', shape: [2, 1], data: new Float32Array([0.5, -1]) },
      le((v) => {
        v.setFloat32(0, 0.5, true);
        v.setFloat32(4, -1, true);
      }, 8),
    ],
    [
      'FP64',
      { datatype: 'FP64', shape: [], data: new Float64Array([Math.PI]) },
      le((v) => v.setFloat64(0, Math.PI, true), 8),
    ],
    [
      'BYTES',
      { datatype: 'BYTES', shape: [2], data: ['ab', 'é'] },
      new Uint8Array([2, 0, 0, 0, 0x61, 0x62, 2, 0, 0, 0, 0xc3, 0xa9]),
    ],
  ];

  it.each(cases)(
    '%s: reads and writes the protocol byte layout',
    (_dt, t, bytes) => {
      expect(Array.from(tensorToRaw(t))).toEqual(Array.from(bytes));
      const read = tensorFromRaw('x', t.datatype, t.shape, bytes);
      expect(read.datatype).toBe(t.datatype);
      expect(read.shape).toEqual(t.shape);
      expect(Array.from(read.data as ArrayLike<unknown>)).toEqual(
        Array.from(t.data as ArrayLike<unknown>),
      );
    },
  );

  it('reads numeric data that starts at an unaligned offset of the body', () => {
    const body = new Uint8Array(9);
    new DataView(body.buffer).setFloat64(1, 2.25, true);
    const t = tensorFromRaw('x', 'FP64', [1], body.subarray(1));
    expect(t.data).toEqual(new Float64Array([2.25]));
  });

  it('refuses bytes that do not match the shape, naming the input and both sizes', () => {
    expect(() =>
      tensorFromRaw('x', 'FP32', [2, 4], new Uint8Array(31)),
    ).toThrow(
      'input "x": binary data has 31 bytes, shape [2, 4] of FP32 needs 32 (8 elements of 4 bytes)',
    );
    expect(() =>
      tensorFromRaw('x', 'FP32', [2, 4], new Uint8Array(31)),
    ).toThrow(TensorError);
  });

  it('refuses BOOL bytes other than 0 and 1', () => {
    expect(() =>
      tensorFromRaw('flag', 'BOOL', [2], new Uint8Array([1, 7])),
    ).toThrow(
      'input "flag": binary data: BOOL element 1 is the byte 7, expected 0 or 1',
    );
  });

  it('refuses BYTES whose lengths run past the data, or leave bytes over', () => {
    expect(() =>
      tensorFromRaw('s', 'BYTES', [1], new Uint8Array([5, 0, 0, 0, 0x61])),
    ).toThrow(
      'input "s": binary data: BYTES element 0 of 1: length 5 runs past',
    );
    expect(() =>
      tensorFromRaw('s', 'BYTES', [1], new Uint8Array([1, 0, 0, 0, 0x61, 0])),
    ).toThrow(
      'input "s": binary data: BYTES data has 1 bytes after its 1 elements',
    );
    expect(() =>
      tensorFromRaw('s', 'BYTES', [2], new Uint8Array([1, 0, 0, 0, 0x61])),
    ).toThrow('BYTES element 1 of 2: length prefix runs past');
  });
});
