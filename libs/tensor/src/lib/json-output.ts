import { float16BitsToFloat32 } from './float16.util';
import { assertTensorData } from './tensor.check';
import type { Tensor } from './tensor.types';

type JsonScalar = number | boolean | string;

/**
 * Reads data[start..end) as JSON values: FP16 bits become numbers, BOOL
 * becomes booleans, INT64/UINT64 become numbers (exact up to 2^53; the KServe
 * v2 JSON response has no other representation for them). Rows are built with
 * push so V8 keeps them packed.
 */
type RowReader = (start: number, end: number) => JsonScalar[];

function rowReader(t: Tensor): RowReader {
  const data = t.data;
  // assertTensorData has tied the storage class to the datatype, so the
  // datatype alone selects the conversion.
  if (Array.isArray(data)) return (start, end) => data.slice(start, end);
  if (t.datatype === 'INT64' || t.datatype === 'UINT64') {
    const big = data as BigInt64Array | BigUint64Array;
    return (start, end) => {
      const row: number[] = [];
      for (let i = start; i < end; i++) row.push(Number(big[i]));
      return row;
    };
  }
  const num = data as Exclude<typeof data, BigInt64Array | BigUint64Array>;
  if (t.datatype === 'BOOL') {
    return (start, end) => {
      const row: boolean[] = [];
      for (let i = start; i < end; i++) row.push(num[i] !== 0);
      return row;
    };
  }
  if (t.datatype === 'FP16') {
    return (start, end) => {
      const row: number[] = [];
      for (let i = start; i < end; i++) row.push(float16BitsToFloat32(num[i]));
      return row;
    };
  }
  return (start, end) => {
    const row: number[] = [];
    for (let i = start; i < end; i++) row.push(num[i]);
    return row;
  };
}

/** The tensor as nested arrays following its shape; a scalar (shape []) is returned bare. */
export function tensorToNested(t: Tensor): unknown {
  assertTensorData(null, t);
  const read = rowReader(t);
  const shape = t.shape;
  const rank = shape.length;
  if (rank === 0) return read(0, 1)[0];
  // strides[d]: elements spanned by one step along dimension d.
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--)
    strides[d] = strides[d + 1] * shape[d + 1];
  const build = (depth: number, offset: number): unknown[] => {
    if (depth === rank - 1) return read(offset, offset + shape[depth]);
    const out: unknown[] = [];
    for (let i = 0; i < shape[depth]; i++)
      out.push(build(depth + 1, offset + i * strides[depth]));
    return out;
  };
  return build(0, 0);
}

/** The elements in row-major order, converted as in tensorToNested (the KServe v2 JSON `data` field). */
export function tensorToFlat(t: Tensor): number[] | boolean[] | string[] {
  assertTensorData(null, t);
  return rowReader(t)(0, t.data.length) as number[] | boolean[] | string[];
}
