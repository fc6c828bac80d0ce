import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A protobuf wire-format reader over a FILE, not a buffer: it reads only the fields
 * asked for and seeks over the rest, so inspecting a multi-gigabyte model touches a
 * few kilobytes and never holds its weights in memory.
 *
 * Every read is bounds-checked against the enclosing message; malformed input raises
 * ProtoFormatError (never a RangeError), which callers turn into "not a valid X".
 */
export class ProtoFormatError extends Error {
  override readonly name = 'ProtoFormatError';
}

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface ProtoField {
  readonly number: number;
  readonly wireType: number;
  /** For WIRE_LEN: absolute [start, end) of the payload in the file. */
  readonly start: number;
  readonly end: number;
  /** For WIRE_VARINT (as a JS number; values above 2^53 lose precision, fine for sizes and enums). */
  readonly value: number;
}

const WINDOW = 64 * 1024;

export class FileProtoReader {
  private readonly fd: number;
  readonly size: number;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Iterates the fields of the message spanning [start, end). */
  *fields(start: number, end: number): Generator<ProtoField> {
    let pos = start;
    while (pos < end) {
      const [key, afterKey] = this.varint(pos, end);
      const number = Math.floor(key / 8);
      const wireType = key % 8;
      if (number === 0)
        throw new ProtoFormatError(`field number 0 at offset ${pos}`);
      switch (wireType) {
        case WIRE_VARINT: {
          const [value, next] = this.varint(afterKey, end);
          yield { number, wireType, start: afterKey, end: next, value };
          pos = next;
          break;
        }
        case WIRE_I64:
        case WIRE_I32: {
          const next = afterKey + (wireType === WIRE_I64 ? 8 : 4);
          if (next > end)
            throw new ProtoFormatError(
              `fixed-width field ${number} runs past its message at offset ${pos}`,
            );
          yield { number, wireType, start: afterKey, end: next, value: 0 };
          pos = next;
          break;
        }
        case WIRE_LEN: {
          const [length, payloadStart] = this.varint(afterKey, end);
          const payloadEnd = payloadStart + length;
          if (payloadEnd > end) {
            throw new ProtoFormatError(
              `field ${number} claims ${length} bytes at offset ${pos}, past the end of its message`,
            );
          }
          yield {
            number,
            wireType,
            start: payloadStart,
            end: payloadEnd,
            value: length,
          };
          pos = payloadEnd;
          break;
        }
        default:
          throw new ProtoFormatError(
            `unsupported wire type ${wireType} for field ${number} at offset ${pos}`,
          );
      }
    }
  }

  string(field: ProtoField, maxBytes = 64 * 1024): string {
    this.expectLen(field);
    if (field.end - field.start > maxBytes)
      throw new ProtoFormatError(`string field ${field.number} is too long`);
    return this.bytes(field.start, field.end).toString('utf8');
  }

  /** Packed or unpacked repeated varints: returns the values held by one field occurrence. */
  varints(field: ProtoField): number[] {
    if (field.wireType === WIRE_VARINT) return [field.value];
    this.expectLen(field);
    const out: number[] = [];
    let pos = field.start;
    while (pos < field.end) {
      const [v, next] = this.varint(pos, field.end);
      out.push(v);
      pos = next;
    }
    return out;
  }

  private expectLen(field: ProtoField): void {
    if (field.wireType !== WIRE_LEN)
      throw new ProtoFormatError(
        `field ${field.number} has wire type ${field.wireType}, expected length-delimited`,
      );
  }

  private varint(pos: number, end: number): [number, number] {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (pos + i >= end)
        throw new ProtoFormatError(`truncated varint at offset ${pos}`);
      const byte = this.byteAt(pos + i);
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return [result, pos + i + 1];
      multiplier *= 128;
    }
    throw new ProtoFormatError(`varint longer than 10 bytes at offset ${pos}`);
  }

  private byteAt(pos: number): number {
    if (pos < this.windowStart || pos >= this.windowStart + this.window.length)
      this.fill(pos, WINDOW);
    return this.window[pos - this.windowStart];
  }

  private bytes(start: number, end: number): Buffer {
    if (start < this.windowStart || end > this.windowStart + this.window.length)
      this.fill(start, Math.max(WINDOW, end - start));
    return this.window.subarray(
      start - this.windowStart,
      end - this.windowStart,
    );
  }

  private fill(pos: number, length: number): void {
    const n = Math.min(length, this.size - pos);
    if (n <= 0)
      throw new ProtoFormatError(
        `read past the end of the file at offset ${pos}`,
      );
    const buf = Buffer.allocUnsafe(n);
    const read = readSync(this.fd, buf, 0, n, pos);
    this.window = buf.subarray(0, read);
    this.windowStart = pos;
  }
}
