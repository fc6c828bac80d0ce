import type { Datatype } from './datatype';
import { TensorError } from './tensor.error';

/** Tensor type strings of onnxruntime-node (`Tensor.type`). */
export type OrtTensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

// The storage classes agree with onnxruntime-node's: bool tensors are
// Uint8Array, float16 tensors Uint16Array of half bits (on Node versions
// without Float16Array), int64/uint64 BigInt64Array/BigUint64Array, string
// tensors string[]; so data passes to and from ort without conversion.
const TO_ORT: { readonly [D in Datatype]: OrtTensorType } = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const FROM_ORT: ReadonlyMap<string, Datatype> = new Map(
  (Object.keys(TO_ORT) as Datatype[]).map((dt) => [TO_ORT[dt], dt]),
);

export function toOrtType(dt: Datatype): OrtTensorType {
  return TO_ORT[dt];
}

/** Throws TensorError for ort types without a KServe datatype (bfloat16, int4, float8 ...). */
export function fromOrtType(t: string): Datatype {
  const dt = FROM_ORT.get(t);
  if (dt === undefined) {
    throw new TensorError(
      `unsupported onnxruntime tensor type ${JSON.stringify(t)}`,
      null,
      { ortType: t },
    );
  }
  return dt;
}

// ONNX TensorProto.DataType numbering (onnx.proto). Types with no KServe
// datatype (BFLOAT16 = 16, complex, float8, int4 ...) are deliberately absent.
const FROM_ONNX: ReadonlyMap<number, Datatype> = new Map<number, Datatype>([
  [1, 'FP32'],
  [2, 'UINT8'],
  [3, 'INT8'],
  [4, 'UINT16'],
  [5, 'INT16'],
  [6, 'INT32'],
  [7, 'INT64'],
  [8, 'BYTES'],
  [9, 'BOOL'],
  [10, 'FP16'],
  [11, 'FP64'],
  [12, 'UINT32'],
  [13, 'UINT64'],
]);

/** Null when the ONNX element type has no KServe datatype; the caller decides whether that is fatal. */
export function fromOnnxElemType(elemType: number): Datatype | null {
  return FROM_ONNX.get(elemType) ?? null;
}
