import {
  bytesEncodedLength,
  readBytesElements,
  writeBytesElements,
} from './bytes.codec';
import { allocateNumeric, elementWidth, type Datatype } from './datatype';
import { formatShape, MAX_ELEMENTS } from './shape.util';
import { assertTensorData } from './tensor.check';
import { inputError, TensorError } from './tensor.error';
import type { Tensor, TensorData } from './tensor.types';

/*
 * One tensor as raw bytes, the form of the Open Inference Protocol's binary tensor
 * data extension (KServe v2 / Triton, `binary_data_size`): row-major, little-endian,
 * no padding; BOOL one byte 0 or 1, FP16 half bits, BYTES per element a uint32 LE
 * length and that many bytes (UTF-8 text here, since BYTES tensors are string[]).
 */

/**
 * Reads `bytes` as one tensor of `datatype` and `shape` (a concrete shape the caller
 * has checked). The bytes must be exactly what the shape calls for. Numeric data is
 * copied once into fresh storage: the request's bytes may start at any offset, and
 * typed arrays need their element alignment. Errors are TensorErrors naming `name`.
 */
export function tensorFromRaw(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
): Tensor {
  let count = 1;
  for (const d of shape) count *= d;
  if (count > MAX_ELEMENTS) {
    throw inputError(
      name,
      `shape ${formatShape(shape)} has ${count} elements, more than the limit of ${MAX_ELEMENTS}`,
    );
  }
  let data: TensorData;
  if (datatype === 'BYTES') {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    data = readBytesElements(buf, 0, buf.length, count, (message, details) =>
      inputError(name, `binary data: ${message}`, details),
    );
  } else {
    const width = elementWidth(datatype);
    if (bytes.byteLength !== count * width) {
      throw inputError(
        name,
        `binary data has ${bytes.byteLength} bytes, shape ${formatShape(shape)} of ${datatype} needs ${count * width} (${count} elements of ${width} bytes)`,
        { shape: [...shape], datatype, bytes: bytes.byteLength },
      );
    }
    const numeric = allocateNumeric(datatype, count);
    new Uint8Array(numeric.buffer).set(bytes);
    if (datatype === 'BOOL') {
      const bad = (numeric as Uint8Array).findIndex((b) => b > 1);
      if (bad >= 0) {
        throw inputError(
          name,
          `binary data: BOOL element ${bad} is the byte ${bytes[bad]}, expected 0 or 1`,
          { element: bad },
        );
      }
    }
    data = numeric;
  }
  return { datatype, shape: [...shape], data };
}

/**
 * The tensor's raw bytes. Numeric data is returned as a view over the tensor's own
 * storage (no copy: do not change the tensor while the bytes are in use); BYTES are
 * encoded into a new buffer.
 */
export function tensorToRaw(t: Tensor): Uint8Array {
  assertTensorData(null, t);
  const data = t.data;
  if (!Array.isArray(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.alloc(
    bytesEncodedLength(
      data,
      (message, details) =>
        new TensorError(`tensor: ${message}`, null, details),
    ),
  );
  writeBytesElements(out, 0, data);
  return out;
}
