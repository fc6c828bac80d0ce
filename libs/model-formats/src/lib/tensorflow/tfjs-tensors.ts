import type * as TfModule from '@tensorflow/tfjs';

import { PortfolioError } from '@portfolio/contracts';
import type { Tensor, TensorData } from '@portfolio/tensor';

import { datatypeOfTfjs } from './tfjs-model-json';
import type { Tf } from './tfjs-runtime';

const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function refuse(name: string, why: string): PortfolioError {
  return new PortfolioError('INVALID_INPUT', `input "${name}": ${why}`);
}

/**
 * An OIP tensor as a TF.js tensor. TF.js computes in float32, int32, bool and string
 * only: FP64 and FP16 become float32, the integer types int32, each value checked to
 * fit (INVALID_INPUT naming the first that does not), never silently wrapped.
 */
export function toTfTensor(tf: Tf, name: string, t: Tensor): TfModule.Tensor {
  const shape = [...t.shape];
  const data = t.data;
  switch (t.datatype) {
    case 'FP32':
      return tf.tensor(asFloat32(data as Float32Array), shape, 'float32');
    case 'FP64': {
      const src = data as Float64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX)
          throw refuse(
            name,
            `element ${i} (${v}) is out of the float32 range the TensorFlow.js model computes in`,
          );
        out[i] = v;
      }
      return tf.tensor(out, shape, 'float32');
    }
    case 'FP16': {
      const src = data as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return tf.tensor(out, shape, 'float32');
    }
    case 'INT32':
      return tf.tensor(asInt32(data as Int32Array), shape, 'int32');
    case 'INT8':
    case 'INT16':
    case 'UINT8':
    case 'UINT16':
      return tf.tensor(Int32Array.from(data as Uint8Array), shape, 'int32');
    case 'UINT32':
    case 'INT64':
    case 'UINT64': {
      const src = data as ArrayLike<number | bigint>;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = Number(src[i]);
        if (v < INT32_MIN || v > INT32_MAX)
          throw refuse(
            name,
            `element ${i} (${src[i]}) is out of the int32 range the TensorFlow.js model computes in`,
          );
        out[i] = v;
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'BOOL':
      return tf.tensor(asUint8(data as Uint8Array), shape, 'bool');
    case 'BYTES':
      return tf.tensor(data as string[], shape, 'string');
  }
}

/** A TF.js tensor's values as an OIP tensor: float32 → FP32, int32 → INT32, bool → BOOL, string → BYTES. */
export async function fromTfTensor(t: TfModule.Tensor): Promise<Tensor> {
  const datatype = datatypeOfTfjs(t.dtype);
  if (!datatype)
    throw new Error(
      `the model gives a ${t.dtype} tensor, which has no datatype in the inference protocol`,
    );
  const values = await t.data();
  let data: TensorData;
  if (datatype === 'BYTES') {
    const decoder = new TextDecoder();
    data = (values as unknown as Uint8Array[]).map((b) => decoder.decode(b));
  } else {
    data = values as Float32Array | Int32Array | Uint8Array;
  }
  return { datatype, shape: [...t.shape], data };
}

/**
 * Typed arrays from another realm (a worker's message, jest's sandbox) fail TF.js's
 * instanceof checks: those are copied, the others are used as they are.
 */
function asFloat32(data: Float32Array): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

function asInt32(data: Int32Array): Int32Array {
  return data instanceof Int32Array ? data : Int32Array.from(data);
}

function asUint8(data: Uint8Array): Uint8Array {
  return data instanceof Uint8Array ? data : Uint8Array.from(data);
}

/** IEEE 754 binary16 bits → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
