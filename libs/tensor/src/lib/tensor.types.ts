import type { Datatype } from './datatype';

/**
 * Element storage. One storage class per datatype (see `storageName`):
 * BOOL -> Uint8Array holding 0/1, FP16 -> Uint16Array holding IEEE 754 half
 * bits, INT64 -> BigInt64Array, UINT64 -> BigUint64Array, BYTES -> string[]
 * (UTF-8 text), every other datatype its same-width typed array.
 */
export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

/** TensorData without BYTES: always a view on (part of) an ArrayBuffer. */
export type NumericTensorData = Exclude<TensorData, string[]>;

/** A dense row-major tensor. `data.length` always equals the product of `shape`. */
export interface Tensor {
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

export type NamedTensor = { name: string } & Tensor;

/**
 * A model input or output as declared by the model. A negative dimension
 * (-1; ONNX symbolic dimensions map to -1 too) matches any size.
 */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}
