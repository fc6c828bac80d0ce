import {
  Datatype,
  elementCount,
  NumericDatatype,
  Tensor,
  TensorError,
} from '@portfolio/tensor';

import type { InferTensorContents } from './oip-grpc.proto';

/*
 * Tensors as the gRPC protocol's typed contents (InferTensorContents): the elements,
 * flat and row-major, in the one repeated field of their datatype. FP16 has no field;
 * it travels as raw contents only (see tensorFromRaw / tensorToRaw).
 */

export type ContentsField = keyof InferTensorContents;

const FIELD: Readonly<Record<Datatype, ContentsField | null>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP16: null,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

export const CONTENTS_FIELDS: readonly ContentsField[] = [
  'bool_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp32_contents',
  'fp64_contents',
  'bytes_contents',
];

/** Where `datatype`'s elements go; null: nowhere (FP16), raw contents only. */
export function contentsField(datatype: Datatype): ContentsField | null {
  return FIELD[datatype];
}

/** The fields that hold elements (an absent or empty message holds none). */
export function filledFields(
  contents: Partial<InferTensorContents> | null | undefined,
): ContentsField[] {
  return CONTENTS_FIELDS.filter((f) => (contents?.[f]?.length ?? 0) > 0);
}

/** The range a narrower integer type allows inside its 32-bit field. */
const INT_RANGE: Partial<Record<NumericDatatype, [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  UINT8: [0, 255],
  UINT16: [0, 65535],
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads typed contents as a tensor of `datatype` and `shape` (concrete; the caller has
 * checked the declaration). The elements must be in the datatype's field and nowhere
 * else, exactly as many as the shape calls for, and within the datatype's range.
 * Errors are TensorErrors naming the input.
 */
export function tensorFromContents(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  contents: Partial<InferTensorContents>,
): Tensor {
  const field = FIELD[datatype];
  if (field === null)
    throw refusal(
      name,
      `${datatype} has no typed contents; send it in raw_input_contents`,
    );
  const wrong = filledFields(contents).filter((f) => f !== field);
  if (wrong.length > 0)
    throw refusal(
      name,
      `${datatype} elements go in contents.${field}, got ${wrong.join(', ')}`,
    );
  const values = contents[field] ?? [];
  const count = elementCount(shape);
  if (values.length !== count)
    throw refusal(
      name,
      `contents.${field} has ${values.length} elements, shape ${JSON.stringify(shape)} needs ${count}`,
    );
  return {
    datatype,
    shape: [...shape],
    data: elements(name, datatype, values),
  };
}

function elements(
  name: string,
  datatype: Datatype,
  values: InferTensorContents[ContentsField],
): Tensor['data'] {
  switch (datatype) {
    case 'BOOL':
      return Uint8Array.from(values as boolean[], (b) => (b ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(values as (string | number)[], (v) =>
        BigInt(v),
      );
    case 'UINT64':
      return BigUint64Array.from(values as (string | number)[], (v) =>
        BigInt(v),
      );
    case 'FP32':
      return Float32Array.from(values as number[]);
    case 'FP64':
      return Float64Array.from(values as number[]);
    case 'BYTES':
      return (values as Uint8Array[]).map((b, i) => {
        try {
          return strictUtf8.decode(b);
        } catch {
          throw refusal(name, `BYTES element ${i} is not UTF-8 text`);
        }
      });
    case 'FP16':
      // Refused before (no field); here for the compiler's exhaustiveness.
      throw refusal(name, 'FP16 has no typed contents');
    default:
      return integers(name, datatype, values as number[]);
  }
}

function integers(
  name: string,
  datatype: 'INT8' | 'INT16' | 'INT32' | 'UINT8' | 'UINT16' | 'UINT32',
  values: readonly number[],
): Tensor['data'] {
  const range = INT_RANGE[datatype];
  if (range) {
    const bad = values.findIndex((v) => v < range[0] || v > range[1]);
    if (bad >= 0)
      throw refusal(
        name,
        `${datatype} element ${bad} is ${values[bad]}, outside ${range[0]}..${range[1]}`,
      );
  }
  const Storage = {
    INT8: Int8Array,
    INT16: Int16Array,
    INT32: Int32Array,
    UINT8: Uint8Array,
    UINT16: Uint16Array,
    UINT32: Uint32Array,
  }[datatype];
  return Storage.from(values);
}

/**
 * The tensor's elements in the field of its datatype; null for FP16, which only raw
 * contents carry. 64-bit integers become decimal strings (exact).
 */
export function tensorToContents(
  t: Tensor,
): Partial<InferTensorContents> | null {
  const field = FIELD[t.datatype];
  if (field === null) return null;
  const data = t.data;
  let values: InferTensorContents[ContentsField];
  if (Array.isArray(data)) values = data.map((s) => Buffer.from(s, 'utf8'));
  else if (t.datatype === 'INT64' || t.datatype === 'UINT64')
    values = Array.from(data as BigInt64Array | BigUint64Array, String);
  else if (t.datatype === 'BOOL')
    values = Array.from(data as Uint8Array, (b) => b !== 0);
  else values = Array.from(data as ArrayLike<number>);
  return { [field]: values };
}

function refusal(name: string, message: string): TensorError {
  return new TensorError(`input "${name}": ${message}`, name, { input: name });
}
