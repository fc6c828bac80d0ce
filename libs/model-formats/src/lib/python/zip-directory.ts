import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file that starts like a zip archive cannot be read as one. */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
/** A torch archive's directory holds a few entries per tensor: 64 MiB is far beyond any. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

/**
 * The entry names of the zip archive at `path`, read from its central directory only
 * (no entry is decompressed). Throws ZipFormatError when the archive has no
 * end-of-central-directory record (truncated, or not a zip) or a directory that does not
 * fit in the file.
 */
export function readZipEntryNames(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    return readNames(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) throw new ZipFormatError('the file ends inside a zip record');
    got += n;
  }
  return buf;
}

function readNames(fd: number, size: number): string[] {
  const tailLength = Math.min(size, EOCD_SIZE + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (
      tail.readUInt32LE(i) === EOCD_SIGNATURE &&
      i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tailLength
    ) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0)
    throw new ZipFormatError(
      'no end-of-central-directory record: the archive is truncated or corrupt',
    );
  const eocdOffset = size - tailLength + eocd;
  let entries = tail.readUInt16LE(eocd + 10);
  let directorySize = tail.readUInt32LE(eocd + 12);
  let directoryOffset = tail.readUInt32LE(eocd + 16);
  let directoryEnd = eocdOffset;
  if (
    entries === 0xffff ||
    directorySize === 0xffffffff ||
    directoryOffset === 0xffffffff
  ) {
    // Zip64 (archives over 4 GiB, or over 65535 entries): the real values are in the
    // zip64 end record, which the locator just before the classic one points at.
    if (eocd < 20 || tail.readUInt32LE(eocd - 20) !== ZIP64_LOCATOR_SIGNATURE)
      throw new ZipFormatError('a zip64 archive without its zip64 locator');
    const zip64Offset = Number(tail.readBigUInt64LE(eocd - 20 + 8));
    if (zip64Offset + 56 > eocdOffset)
      throw new ZipFormatError('the zip64 end record lies outside the file');
    const record = readAt(fd, zip64Offset, 56);
    if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE)
      throw new ZipFormatError('the zip64 end record is missing');
    entries = Number(record.readBigUInt64LE(32));
    directorySize = Number(record.readBigUInt64LE(40));
    directoryOffset = Number(record.readBigUInt64LE(48));
    directoryEnd = zip64Offset;
  }
  if (directoryOffset + directorySize > directoryEnd)
    throw new ZipFormatError(
      'the central directory does not fit in the file: the archive is truncated or corrupt',
    );
  if (directorySize > MAX_DIRECTORY_BYTES)
    throw new ZipFormatError('the central directory is implausibly large');
  const directory = readAt(fd, directoryOffset, directorySize);
  const names: string[] = [];
  let at = 0;
  for (let i = 0; i < entries; i++) {
    if (
      at + 46 > directory.length ||
      directory.readUInt32LE(at) !== CENTRAL_SIGNATURE
    )
      throw new ZipFormatError(
        `central directory entry ${i + 1} of ${entries} is corrupt`,
      );
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const localOffset = directory.readUInt32LE(at + 42);
    if (localOffset !== 0xffffffff && localOffset >= directoryOffset)
      throw new ZipFormatError(
        `central directory entry ${i + 1} points outside the archive's data`,
      );
    if (at + 46 + nameLength > directory.length)
      throw new ZipFormatError(
        `central directory entry ${i + 1} of ${entries} is corrupt`,
      );
    names.push(directory.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}
