import {
  bytesEncodedLength,
  readBytesElements,
  writeBytesElements,
} from './bytes.codec';
import {
  DATATYPES,
  elementWidth,
  isDatatype,
  viewNumeric,
  type Datatype,
} from './datatype';
import { assertLittleEndian } from './platform.util';
import { formatShape, isConcreteShape, MAX_ELEMENTS } from './shape.util';
import { assertTensorData } from './tensor.check';
import { TensorError } from './tensor.error';
import type { NamedTensor, TensorData } from './tensor.types';

/*
 * PTF1 frame, the binary form of tensors between gateway and runtimes:
 *
 *   0..3    ASCII "PTF1"
 *   4..7    uint32 LE: H, byte length of the JSON header
 *   8..8+H  UTF-8 JSON: the caller's header plus
 *           "tensors": [{ name, datatype, shape, offset, byteLength }]
 *           (offset counted from the start of the frame)
 *   zero padding to an 8-byte boundary, then each tensor's bytes, in table
 *   order, each starting on an 8-byte boundary (zero padding between).
 *
 * Numeric data is little-endian in its storage layout (FP16 as half bits,
 * BOOL one byte 0/1); BYTES elements are uint32 LE length + UTF-8 bytes.
 * 8-byte alignment lets the decoder hand out typed-array views of every
 * width straight over the received bytes.
 */

assertLittleEndian();

const MAGIC = [0x50, 0x54, 0x46, 0x31]; // "PTF1"
const PREAMBLE_BYTES = 8;

export interface DecodedFrame {
  header: Record<string, unknown>;
  tensors: NamedTensor[];
}

interface TableEntry {
  name: string;
  datatype: string;
  shape: readonly number[];
  offset: number;
  byteLength: number;
}

/**
 * The bytes `tensors` would take in a frame, without its header and padding: what a
 * caller that hands tensors over as objects (no frame) checks against a size limit.
 */
export function frameDataBytes(tensors: ReadonlyArray<NamedTensor>): number {
  let total = 0;
  for (const t of tensors)
    total += Array.isArray(t.data)
      ? bytesEncodedLength(t.data, (message, details) =>
          tensorFrameError(t.name, message, details),
        )
      : t.data.byteLength;
  return total;
}

/**
 * A frame handed over as objects by a bus that carries them (the in-process bus's
 * attachment): the same header and tensors `decodeFrame` would return, or null when
 * `value` is not one. Its tensors are the sender's own objects, read-only.
 */
export function attachedFrame(value: unknown): DecodedFrame | null {
  if (typeof value !== 'object' || value === null) return null;
  const { header, tensors } = value as Partial<DecodedFrame>;
  return typeof header === 'object' && header !== null && Array.isArray(tensors)
    ? { header, tensors }
    : null;
}

/**
 * Serializes `tensors` with `header` into one newly allocated frame. The
 * size is computed first, so the output is allocated once and each tensor's
 * bytes are copied once. `header` must be JSON-serializable and must not
 * have a `tensors` key (the frame's own table goes there).
 */
export function encodeFrame(
  header: Record<string, unknown>,
  tensors: ReadonlyArray<NamedTensor>,
): Uint8Array {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw frameError('header must be a plain object');
  }
  if (Object.hasOwn(header, 'tensors')) {
    throw frameError(
      'header must not have a "tensors" key; the frame stores its tensor table there',
    );
  }
  const byteLengths = new Array<number>(tensors.length);
  const names = new Set<string>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (typeof t.name !== 'string')
      throw frameError(`tensor ${i} has no string name`);
    if (names.has(t.name))
      throw tensorFrameError(t.name, 'appears more than once');
    names.add(t.name);
    assertTensorData(t.name, t);
    byteLengths[i] = Array.isArray(t.data)
      ? bytesEncodedLength(t.data, (message, details) =>
          tensorFrameError(t.name, message, details),
        )
      : t.data.byteLength;
  }

  // The header records absolute offsets, which depend on the header's own
  // length. Iterate from the smallest data start: a larger start only makes
  // the header longer, so the start never decreases and settles after a step
  // or two (when an offset gains a digit).
  let dataStart = 0;
  let json = '';
  let jsonBytes = 0;
  for (;;) {
    const table = layout(tensors, byteLengths, dataStart);
    json = headerJson(header, table);
    jsonBytes = Buffer.byteLength(json, 'utf8');
    const start = align8(PREAMBLE_BYTES + jsonBytes);
    if (start <= dataStart) break;
    dataStart = start;
  }

  let total = dataStart;
  for (let i = 0; i < tensors.length; i++)
    total = align8(total) + byteLengths[i];
  const out = new Uint8Array(total); // zero-filled, which provides all padding
  const buf = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  out.set(MAGIC, 0);
  buf.writeUInt32LE(jsonBytes, 4);
  buf.write(json, PREAMBLE_BYTES, jsonBytes, 'utf8');
  let offset = dataStart;
  for (let i = 0; i < tensors.length; i++) {
    offset = align8(offset);
    const data = tensors[i].data;
    if (Array.isArray(data)) writeBytesElements(buf, offset, data);
    else
      out.set(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        offset,
      );
    offset += byteLengths[i];
  }
  return out;
}

function layout(
  tensors: ReadonlyArray<NamedTensor>,
  byteLengths: readonly number[],
  dataStart: number,
): TableEntry[] {
  const table: TableEntry[] = [];
  let offset = dataStart;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    offset = align8(offset);
    table.push({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      offset,
      byteLength: byteLengths[i],
    });
    offset += byteLengths[i];
  }
  return table;
}

function headerJson(
  header: Record<string, unknown>,
  table: TableEntry[],
): string {
  try {
    return JSON.stringify({ ...header, tensors: table });
  } catch (err) {
    throw frameError(
      `header is not JSON-serializable: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates a frame. Numeric tensors are typed-array views on the
 * frame's memory, not copies: when `bytes.byteOffset` is 8-aligned they share
 * `bytes.buffer` (so they are only valid while the caller leaves that memory
 * alone); otherwise the frame is first copied once into an aligned buffer.
 * BYTES tensors are decoded into strings. Any inconsistency (truncation,
 * bad magic, offsets out of bounds, overlapping or misaligned, byte lengths
 * not matching shape and datatype, unknown datatypes, malformed JSON or
 * UTF-8) throws TensorError.
 */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  if (
    !ArrayBuffer.isView(bytes) ||
    bytes[Symbol.toStringTag] !== 'Uint8Array'
  ) {
    throw frameError('expected a Uint8Array');
  }
  const size = bytes.length;
  if (size < PREAMBLE_BYTES) {
    throw frameError(
      `truncated: ${size} bytes, a frame has at least ${PREAMBLE_BYTES}`,
      { frameLength: size },
    );
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw frameError(
        `bad magic ${hex(bytes.subarray(0, 4))}, expected "PTF1" (${hex(MAGIC)})`,
      );
    }
  }
  const headerLength = readUint32LE(bytes, 4);
  const headerEnd = PREAMBLE_BYTES + headerLength;
  if (headerEnd > size) {
    throw frameError(
      `header length ${headerLength} runs past the end of the frame (${size} bytes)`,
      {
        headerLength,
        frameLength: size,
      },
    );
  }
  const { tensors: table, ...header } = parseHeader(
    bytes.subarray(PREAMBLE_BYTES, headerEnd),
  );
  if (!Array.isArray(table)) throw frameError('header has no "tensors" array');

  const src = bytes.byteOffset % 8 === 0 ? bytes : alignedCopy(bytes);
  const dataStart = align8(headerEnd);
  let buf: Buffer | null = null; // created only for BYTES tensors
  const names = new Set<string>();
  const tensors: NamedTensor[] = [];
  let cursor = dataStart;
  for (let i = 0; i < table.length; i++) {
    const entry = checkEntry(table[i], i, names);
    const { name, datatype, shape, offset, byteLength } = entry;
    const fail = (message: string, details: Record<string, unknown> = {}) =>
      tensorFrameError(name, message, { offset, byteLength, ...details });
    if (offset % 8 !== 0) throw fail(`offset ${offset} is not 8-byte aligned`);
    if (offset < cursor) {
      throw fail(
        i === 0
          ? `offset ${offset} lies inside the header, which ends at ${dataStart}`
          : `offset ${offset} overlaps the previous tensor, which ends at ${cursor}`,
      );
    }
    if (byteLength > size - offset) {
      throw fail(
        `bytes ${offset}..${offset + byteLength} run past the end of the frame (${size} bytes)`,
        {
          frameLength: size,
        },
      );
    }
    let count = 1;
    for (let d = 0; d < shape.length; d++) count *= shape[d];
    if (count > MAX_ELEMENTS) {
      throw fail(
        `shape ${formatShape(shape)} has ${count} elements, more than the limit of ${MAX_ELEMENTS}`,
      );
    }
    let data: TensorData;
    if (datatype === 'BYTES') {
      buf ??= Buffer.from(src.buffer, src.byteOffset, src.byteLength);
      data = readBytesElements(buf, offset, offset + byteLength, count, fail);
    } else {
      const width = elementWidth(datatype);
      if (byteLength !== count * width) {
        throw fail(
          `byteLength ${byteLength} does not match shape ${formatShape(shape)} of ${datatype} ` +
            `(${count} elements of ${width} bytes = ${count * width})`,
        );
      }
      data = viewNumeric(datatype, src.buffer, src.byteOffset + offset, count);
    }
    tensors.push({ name, datatype, shape, data });
    cursor = offset + byteLength;
  }
  if (size > align8(cursor)) {
    throw frameError(
      `${size - align8(cursor)} unexpected bytes after the ${table.length === 0 ? 'header' : 'last tensor'}`,
      { frameLength: size },
    );
  }
  if (table.length === 0 && size < dataStart) {
    throw frameError(
      `truncated: header padding ends at ${dataStart}, frame has ${size} bytes`,
      { frameLength: size },
    );
  }
  return { header, tensors };
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch (err) {
    throw frameError(
      `header is not valid UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw frameError('header is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

interface CheckedEntry {
  name: string;
  datatype: Datatype;
  shape: number[];
  offset: number;
  byteLength: number;
}

function checkEntry(
  raw: unknown,
  index: number,
  names: Set<string>,
): CheckedEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw frameError(`tensor table entry ${index} is not an object`);
  }
  const { name, datatype, shape, offset, byteLength } = raw as Record<
    string,
    unknown
  >;
  if (typeof name !== 'string')
    throw frameError(`tensor table entry ${index} has no string name`);
  if (names.has(name)) throw tensorFrameError(name, 'appears more than once');
  names.add(name);
  if (!isDatatype(datatype)) {
    throw tensorFrameError(
      name,
      `unknown datatype ${showJson(datatype)}; expected one of ${DATATYPES.join(', ')}`,
    );
  }
  if (!isConcreteShape(shape)) {
    throw tensorFrameError(
      name,
      `shape ${showJson(shape)} is not an array of non-negative integers`,
    );
  }
  if (!isByteCount(offset))
    throw tensorFrameError(
      name,
      `offset ${showJson(offset)} is not a non-negative integer`,
    );
  if (!isByteCount(byteLength)) {
    throw tensorFrameError(
      name,
      `byteLength ${showJson(byteLength)} is not a non-negative integer`,
    );
  }
  return { name, datatype, shape, offset, byteLength };
}

function showJson(x: unknown): string {
  const s: string | undefined = JSON.stringify(x);
  if (s === undefined) return String(x);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function isByteCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function alignedCopy(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length); // fresh ArrayBuffer: byteOffset 0
  copy.set(bytes);
  return copy;
}

function readUint32LE(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) +
    bytes[at + 3] * 0x1000000
  );
}

/** Arithmetic rather than bit masks: frames may exceed 2^31 bytes. */
function align8(n: number): number {
  const r = n % 8;
  return r === 0 ? n : n + 8 - r;
}

function hex(bytes: ArrayLike<number>): string {
  let s = '0x';
  for (let i = 0; i < bytes.length; i++)
    s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

function frameError(
  message: string,
  details: Record<string, unknown> = {},
): TensorError {
  return new TensorError(`frame: ${message}`, null, details);
}

function tensorFrameError(
  name: string,
  message: string,
  details: Record<string, unknown> = {},
): TensorError {
  return new TensorError(
    `frame: tensor ${JSON.stringify(name)}: ${message}`,
    name,
    { tensor: name, ...details },
  );
}
