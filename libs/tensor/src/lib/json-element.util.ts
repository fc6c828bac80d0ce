import type { Datatype } from './datatype';
import {
  float32ToFloat16Bits,
  FP16_MAX,
  FP16_OVERFLOW_THRESHOLD,
} from './float16.util';
import type { TensorData } from './tensor.types';

/**
 * Converts JSON leaves into a tensor's storage, one innermost row at a time:
 * the datatype switch happens once per tensor and the per-element loop is
 * monomorphic. `write` returns the index within `row` of the first element it
 * rejects, or -1; `elementProblem` then explains that element. The two must
 * agree on what is accepted.
 */
export interface RowWriter {
  readonly data: TensorData;
  /** Writes row[0..row.length) to data[at..]; rows arrive in row-major order. */
  write(row: readonly unknown[], at: number): number;
}

const INT_RANGES = {
  INT8: [-128, 127],
  UINT8: [0, 255],
  INT16: [-32768, 32767],
  UINT16: [0, 65535],
  INT32: [-2147483648, 2147483647],
  UINT32: [0, 4294967295],
} as const;

type SmallIntDatatype = keyof typeof INT_RANGES;

const BIGINT_RANGES = {
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
} as const;

// At most 20 digits: enough for every 64-bit value, and it bounds the work
// BigInt() does on hostile input. Range is checked after parsing.
const DECIMAL = /^-?\d{1,20}$/;

export function rowWriter(dt: Datatype, count: number): RowWriter {
  switch (dt) {
    case 'FP32': {
      const out = new Float32Array(count);
      return {
        data: out,
        write(row, at) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            // fround maps NaN, infinities and float32 overflow all to non-finite.
            if (typeof v !== 'number' || !Number.isFinite(Math.fround(v)))
              return i;
            out[at + i] = v;
          }
          return -1;
        },
      };
    }
    case 'FP64': {
      const out = new Float64Array(count);
      return {
        data: out,
        write(row, at) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            if (typeof v !== 'number' || !Number.isFinite(v)) return i;
            out[at + i] = v;
          }
          return -1;
        },
      };
    }
    case 'FP16': {
      const out = new Uint16Array(count);
      return {
        data: out,
        write(row, at) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            // The negated comparison also rejects NaN.
            if (
              typeof v !== 'number' ||
              !(Math.abs(v) < FP16_OVERFLOW_THRESHOLD)
            )
              return i;
            out[at + i] = float32ToFloat16Bits(v);
          }
          return -1;
        },
      };
    }
    case 'BOOL': {
      const out = new Uint8Array(count);
      return {
        data: out,
        write(row, at) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            if (v === true || v === 1) out[at + i] = 1;
            else if (v !== false && v !== 0) return i;
          }
          return -1;
        },
      };
    }
    case 'BYTES': {
      const out: string[] = [];
      return {
        data: out,
        write(row) {
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            if (typeof v !== 'string') return i;
            out.push(v);
          }
          return -1;
        },
      };
    }
    case 'INT64':
    case 'UINT64':
      return bigIntRowWriter(dt, count);
    default:
      return smallIntRowWriter(dt, count);
  }
}

function smallIntRowWriter(dt: SmallIntDatatype, count: number): RowWriter {
  const [min, max] = INT_RANGES[dt];
  const out = newSmallIntArray(dt, count);
  return {
    data: out,
    write(row, at) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
          return i;
        out[at + i] = v;
      }
      return -1;
    },
  };
}

function newSmallIntArray(dt: SmallIntDatatype, count: number) {
  switch (dt) {
    case 'INT8':
      return new Int8Array(count);
    case 'UINT8':
      return new Uint8Array(count);
    case 'INT16':
      return new Int16Array(count);
    case 'UINT16':
      return new Uint16Array(count);
    case 'INT32':
      return new Int32Array(count);
    case 'UINT32':
      return new Uint32Array(count);
  }
}

function bigIntRowWriter(dt: 'INT64' | 'UINT64', count: number): RowWriter {
  const [min, max] = BIGINT_RANGES[dt];
  const out =
    dt === 'INT64' ? new BigInt64Array(count) : new BigUint64Array(count);
  return {
    data: out,
    write(row, at) {
      for (let i = 0; i < row.length; i++) {
        const v = toBigInt(row[i]);
        if (v === null || v < min || v > max) return i;
        out[at + i] = v;
      }
      return -1;
    },
  };
}

/**
 * JSON numbers are doubles, so only safe integers are taken as numbers: a
 * larger literal may already have been rounded by JSON.parse. Clients send
 * such values as decimal strings instead.
 */
function toBigInt(v: unknown): bigint | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : null;
  if (typeof v === 'string') return DECIMAL.test(v) ? BigInt(v) : null;
  if (typeof v === 'bigint') return v;
  return null;
}

/**
 * Why `write` rejected `v`, phrased to follow "element N": either
 * " is 1.5, expected an integer for INT64" or ": 300 is out of range for UINT8 (0 to 255)".
 */
export function elementProblem(dt: Datatype, v: unknown): string {
  const shown = describeValue(v);
  switch (dt) {
    case 'FP16':
    case 'FP32':
    case 'FP64': {
      if (typeof v !== 'number')
        return ` is ${shown}, expected a number for ${dt}`;
      if (!Number.isFinite(v))
        return ` is ${shown}, expected a finite number for ${dt}`;
      const largest =
        dt === 'FP16'
          ? FP16_MAX
          : dt === 'FP32'
            ? 3.4028234663852886e38
            : Number.MAX_VALUE;
      return `: ${shown} is out of range for ${dt} (largest finite magnitude ${largest})`;
    }
    case 'BOOL':
      return ` is ${shown}, expected true, false, 0 or 1 for BOOL`;
    case 'BYTES':
      return ` is ${shown}, expected a string for BYTES`;
    case 'INT64':
    case 'UINT64': {
      const [min, max] = BIGINT_RANGES[dt];
      if (typeof v === 'number') {
        if (!Number.isInteger(v))
          return ` is ${shown}, expected an integer for ${dt}`;
        if (!Number.isSafeInteger(v)) {
          return `: ${shown} is beyond ±(2^53-1) and may have lost precision; send ${dt} values this large as decimal strings`;
        }
        return `: ${shown} is out of range for ${dt} (${min} to ${max})`;
      }
      if ((typeof v === 'string' && DECIMAL.test(v)) || typeof v === 'bigint') {
        return `: ${shown} is out of range for ${dt} (${min} to ${max})`;
      }
      return ` is ${shown}, expected an integer or a decimal string for ${dt}`;
    }
    default: {
      const [min, max] = INT_RANGES[dt];
      if (typeof v !== 'number' || !Number.isInteger(v))
        return ` is ${shown}, expected an integer for ${dt}`;
      return `: ${shown} is out of range for ${dt} (${min} to ${max})`;
    }
  }
}

/** A short rendering of a client value for messages; long strings are cut. */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(v);
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'an array';
      return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  }
}
