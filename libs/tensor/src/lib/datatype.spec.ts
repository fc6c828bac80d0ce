import { Tensor as OrtTensor } from 'onnxruntime-node';
import { runInNewContext } from 'node:vm';

import {
  allocateNumeric,
  DATATYPES,
  isDatatype,
  storageName,
  storageNameOf,
  viewNumeric,
} from './datatype';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.util';
import { fromOnnxElemType, fromOrtType, toOrtType } from './ort-type.util';
import { TensorError } from './tensor.error';

describe('datatypes', () => {
  it('recognises only exact datatype names', () => {
    expect(isDatatype('FP32')).toBe(true);
    expect(isDatatype('BYTES')).toBe(true);
    for (const x of [
      'fp32',
      'FLOAT',
      'BF16',
      'FP32 ',
      '',
      null,
      undefined,
      1,
      {},
    ])
      expect(isDatatype(x)).toBe(false);
  });

  it('names the storage class of Buffers, typed arrays from another realm, lists and the rest', () => {
    expect(storageNameOf(Buffer.from([1]))).toBe('Uint8Array');
    expect(storageNameOf(new BigInt64Array(1))).toBe('BigInt64Array');
    // A worker thread's or jest's VM context's Float32Array is not this realm's.
    const foreign: unknown = runInNewContext('new Float32Array(2)');
    expect(foreign instanceof Float32Array).toBe(false);
    expect(storageNameOf(foreign)).toBe('Float32Array');
    expect(storageNameOf(['a'])).toBe('Array');
    expect(storageNameOf(new DataView(new ArrayBuffer(4)))).toBe('DataView');
    expect(storageNameOf(null)).toBe('null');
    expect(storageNameOf('abc')).toBe('string');
  });

  it('views existing memory at an offset without copying it', () => {
    const buffer = new ArrayBuffer(16);
    const bytes = new Uint8Array(buffer);

    const view = viewNumeric('INT64', buffer, 8, 1) as BigInt64Array;
    view[0] = -2n;

    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(bytes.subarray(8))).toEqual([
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
  });

  it('holds FP16 as raw half-precision bits', () => {
    const buffer = new ArrayBuffer(4);
    new Uint8Array(buffer).set([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0 little-endian

    const view = viewNumeric('FP16', buffer, 0, 2);

    expect(Array.from(view as Uint16Array).map(float16BitsToFloat32)).toEqual([
      1, -2,
    ]);
    expect(view[0]).toBe(float32ToFloat16Bits(1));
  });
});

describe('onnxruntime and ONNX type mapping', () => {
  // ort-type.util promises that tensors pass to and from onnxruntime-node without conversion.
  it.each([...DATATYPES])(
    'hands %s to onnxruntime-node in the storage it takes, and maps its type back',
    (dt) => {
      const data = dt === 'BYTES' ? ['a', 'bc'] : allocateNumeric(dt, 2);

      const tensor = new OrtTensor(toOrtType(dt), data, [2]);

      expect(fromOrtType(tensor.type)).toBe(dt);
      expect(tensor.data).toBe(data);
      expect(storageNameOf(tensor.data)).toBe(storageName(dt));
    },
  );

  it('rejects ort types without a datatype', () => {
    expect(() => fromOrtType('bfloat16')).toThrow(TensorError);
    expect(() => fromOrtType('bfloat16')).toThrow(
      'unsupported onnxruntime tensor type "bfloat16"',
    );
  });

  it('has no datatype for ONNX element types KServe lacks, nor for codes that are not element types', () => {
    // 0 UNDEFINED, 14/15 complex, 16 BFLOAT16, 17-20 float8, 21/22 4-bit integers.
    for (const code of [0, 14, 15, 16, 17, 20, 21, 22, -1, 1.5, Number.NaN])
      expect(fromOnnxElemType(code)).toBeNull();
  });
});
