import {
  bytesPerElement,
  DATATYPES,
  isDatatype,
  storageName,
  storageNameOf,
} from './datatype';
import { fromOnnxElemType, fromOrtType, toOrtType } from './ort-type.util';
import { TensorError } from './tensor.error';

describe('datatypes', () => {
  it('lists the 13 KServe datatypes', () => {
    expect(DATATYPES).toEqual([
      'BOOL',
      'UINT8',
      'UINT16',
      'UINT32',
      'UINT64',
      'INT8',
      'INT16',
      'INT32',
      'INT64',
      'FP16',
      'FP32',
      'FP64',
      'BYTES',
    ]);
    expect(Object.isFrozen(DATATYPES)).toBe(true);
  });

  it('recognises only exact datatype names', () => {
    for (const dt of DATATYPES) expect(isDatatype(dt)).toBe(true);
    for (const x of ['fp32', 'FLOAT', 'BF16', '', null, undefined, 1, {}])
      expect(isDatatype(x)).toBe(false);
  });

  it('knows element widths', () => {
    expect(DATATYPES.map((dt) => [dt, bytesPerElement(dt)])).toEqual([
      ['BOOL', 1],
      ['UINT8', 1],
      ['UINT16', 2],
      ['UINT32', 4],
      ['UINT64', 8],
      ['INT8', 1],
      ['INT16', 2],
      ['INT32', 4],
      ['INT64', 8],
      ['FP16', 2],
      ['FP32', 4],
      ['FP64', 8],
      ['BYTES', null],
    ]);
  });

  it('names storage classes, recognising Buffers as Uint8Array', () => {
    expect(storageName('FP16')).toBe('Uint16Array');
    expect(storageName('BYTES')).toBe('Array');
    expect(storageNameOf(Buffer.from([1]))).toBe('Uint8Array');
    expect(storageNameOf(new BigInt64Array(1))).toBe('BigInt64Array');
    expect(storageNameOf(['a'])).toBe('Array');
    expect(storageNameOf(null)).toBe('null');
  });
});

describe('onnxruntime and ONNX type mapping', () => {
  it('round-trips every datatype through the ort type string', () => {
    for (const dt of DATATYPES) expect(fromOrtType(toOrtType(dt))).toBe(dt);
    expect(DATATYPES.map(toOrtType)).toEqual([
      'bool',
      'uint8',
      'uint16',
      'uint32',
      'uint64',
      'int8',
      'int16',
      'int32',
      'int64',
      'float16',
      'float32',
      'float64',
      'string',
    ]);
  });

  it('rejects ort types without a datatype', () => {
    expect(() => fromOrtType('bfloat16')).toThrow(TensorError);
    expect(() => fromOrtType('bfloat16')).toThrow(
      'unsupported onnxruntime tensor type "bfloat16"',
    );
  });

  it('maps ONNX TensorProto element types', () => {
    const expected = {
      1: 'FP32',
      2: 'UINT8',
      3: 'INT8',
      4: 'UINT16',
      5: 'INT16',
      6: 'INT32',
      7: 'INT64',
      8: 'BYTES',
      9: 'BOOL',
      10: 'FP16',
      11: 'FP64',
      12: 'UINT32',
      13: 'UINT64',
    };
    for (const [code, dt] of Object.entries(expected))
      expect(fromOnnxElemType(Number(code))).toBe(dt);
    for (const code of [0, 14, 15, 16, 17, 21, -1, 1.5])
      expect(fromOnnxElemType(code)).toBeNull();
  });
});
