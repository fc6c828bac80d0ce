import type { TensorError } from './tensor.error';

/**
 * BYTES elements in the Triton/KServe binary form: per element a uint32 LE
 * byte length, then that many bytes. Elements are UTF-8 text here, because
 * BYTES tensors are held as string[].
 */

/** Encoded size of `strings`; throws when an element is not a string. */
export function bytesEncodedLength(
  strings: readonly string[],
  fail: (message: string, details: Record<string, unknown>) => TensorError,
): number {
  let total = 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    if (typeof s !== 'string')
      throw fail(`BYTES element ${i} is not a string`, { element: i });
    total += 4 + Buffer.byteLength(s, 'utf8');
  }
  return total;
}

/**
 * Writes `strings` at `offset` of `out`, which must have room for
 * bytesEncodedLength bytes there. Buffer.write encodes in place, so no
 * per-element byte arrays are created.
 */
export function writeBytesElements(
  out: Buffer,
  offset: number,
  strings: readonly string[],
): number {
  let p = offset;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    const len = Buffer.byteLength(s, 'utf8');
    out.writeUInt32LE(len, p);
    out.write(s, p + 4, len, 'utf8');
    p += 4 + len;
  }
  return p - offset;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads exactly `count` elements spanning exactly [start, end) of `src`.
 * Errors name the tensor and are TensorErrors; `fail` builds them so the
 * frame decoder controls the message prefix.
 */
export function readBytesElements(
  src: Buffer,
  start: number,
  end: number,
  count: number,
  fail: (message: string, details: Record<string, unknown>) => TensorError,
): string[] {
  const out: string[] = [];
  let p = start;
  for (let i = 0; i < count; i++) {
    if (end - p < 4) {
      throw fail(
        `BYTES element ${i} of ${count}: length prefix runs past the tensor's end`,
        { element: i },
      );
    }
    const len = src.readUInt32LE(p);
    p += 4;
    if (len > end - p) {
      throw fail(
        `BYTES element ${i} of ${count}: length ${len} runs past the tensor's end (${end - p} bytes left)`,
        {
          element: i,
          length: len,
        },
      );
    }
    const s = src.toString('utf8', p, p + len);
    // toString substitutes U+FFFD for malformed input; only when one shows up
    // is the (slower) strict decoder needed to tell real U+FFFD from corruption.
    if (s.includes('\uFFFD')) {
      try {
        strictUtf8.decode(src.subarray(p, p + len));
      } catch {
        throw fail(`BYTES element ${i} is not valid UTF-8`, { element: i });
      }
    }
    out.push(s);
    p += len;
  }
  if (p !== end) {
    throw fail(`BYTES data has ${end - p} bytes after its ${count} elements`, {
      trailingBytes: end - p,
    });
  }
  return out;
}
