import type { NumericTensorData } from './tensor.types';

/** KServe v2 / Triton datatype names. */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export type NumericDatatype = Exclude<Datatype, 'BYTES'>;

export const DATATYPES: readonly Datatype[] = Object.freeze([
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
] as const);

const DATATYPE_SET: ReadonlySet<unknown> = new Set<unknown>(DATATYPES);

export function isDatatype(x: unknown): x is Datatype {
  return DATATYPE_SET.has(x);
}

/**
 * The constructor shape shared by every numeric storage class. Only the two
 * construct forms this library uses are declared: a fresh zeroed array, and a
 * view on existing memory.
 */
interface NumericStorageCtor {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): NumericTensorData;
  new (
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ): NumericTensorData;
}

const STORAGE: { readonly [D in NumericDatatype]: NumericStorageCtor } = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** Element width in bytes; null for BYTES, whose elements are variable-length. */
export function bytesPerElement(dt: Datatype): number | null {
  return dt === 'BYTES' ? null : STORAGE[dt].BYTES_PER_ELEMENT;
}

/** Element width in bytes of a numeric datatype. */
export function elementWidth(dt: NumericDatatype): number {
  return STORAGE[dt].BYTES_PER_ELEMENT;
}

/** Name of the storage class `dt` must use: 'Float32Array', ..., 'Array' for BYTES. */
export function storageName(dt: Datatype): string {
  return dt === 'BYTES' ? 'Array' : STORAGE_NAME[dt];
}

const STORAGE_NAME: { readonly [D in NumericDatatype]: string } = {
  BOOL: 'Uint8Array',
  UINT8: 'Uint8Array',
  UINT16: 'Uint16Array',
  UINT32: 'Uint32Array',
  UINT64: 'BigUint64Array',
  INT8: 'Int8Array',
  INT16: 'Int16Array',
  INT32: 'Int32Array',
  INT64: 'BigInt64Array',
  FP16: 'Uint16Array',
  FP32: 'Float32Array',
  FP64: 'Float64Array',
};

/**
 * The storage class name of `data`. Uses the typed-array toStringTag rather
 * than instanceof, so Buffers and arrays from another realm (jest's VM
 * context, worker threads) are recognised.
 */
export function storageNameOf(data: unknown): string {
  if (Array.isArray(data)) return 'Array';
  // "[object Float32Array]" -> "Float32Array"; Buffer reports Uint8Array.
  if (ArrayBuffer.isView(data))
    return Object.prototype.toString.call(data).slice(8, -1);
  return data === null ? 'null' : typeof data;
}

/** Zero-filled numeric storage for `length` elements. */
export function allocateNumeric(
  dt: NumericDatatype,
  length: number,
): NumericTensorData {
  return new STORAGE[dt](length);
}

/**
 * A typed-array view over existing memory. The caller guarantees that the
 * range is in bounds and `byteOffset` is aligned to the element width.
 */
export function viewNumeric(
  dt: NumericDatatype,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): NumericTensorData {
  return new STORAGE[dt](buffer, byteOffset, length);
}
