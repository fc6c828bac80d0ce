import { ByteRange, StorageError } from './storage-driver';

/** The first key segment reserved for temporary files (the local driver's ingest folder). */
export const INGEST_DIR = '.ingest';

const SHA256_HEX = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function isSafeSegment(segment: string): boolean {
  return (
    segment.length > 0 &&
    segment !== '.' &&
    segment !== '..' &&
    !segment.includes('\\') &&
    // No control characters (NUL included): they have no business in a key and
    // mean different things to different stores.
    !CONTROL_CHARACTER.test(segment)
  );
}

/**
 * Refuses keys that could escape a root or mean different things to different stores:
 * absolute keys, `.` and `..`, empty segments (`a//b`, a trailing `/`), backslashes,
 * control characters, and the reserved `.ingest/` folder.
 */
export function assertValidKey(key: string): void {
  const segments = key.split('/');
  if (!segments.every(isSafeSegment) || segments[0] === INGEST_DIR)
    throw new StorageError('INVALID_URI', `invalid artifact key "${key}"`);
}

export function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * A list prefix: a plain string prefix of keys whose complete segments (all but the
 * text after the last `/`) are valid key segments, so that a listing can never reach
 * outside the store; the text after the last `/` only filters names.
 */
export function assertValidKeyPrefix(prefix: string): void {
  const segments = prefix.split('/');
  const partial = segments.pop() ?? '';
  const ok =
    segments.every(isSafeSegment) &&
    segments[0] !== INGEST_DIR &&
    !partial.includes('\\') &&
    !CONTROL_CHARACTER.test(partial);
  if (!ok)
    throw new StorageError('INVALID_URI', `invalid key prefix "${prefix}"`);
}

/**
 * The artifact a content-addressed key belongs to: keys `<model id>/<sha256>/<path>`
 * (one file, whose own sha256 that is, or the files of a several-file upload under the
 * digest of their manifest) make up the folder `<model id>/<sha256>`, whose files never
 * change. undefined for any other key.
 */
export function artifactFolderOf(
  key: string,
): { folder: string; digest: string } | undefined {
  const segments = key.split('/');
  const digest = segments[1] ?? '';
  if (segments.length < 3 || !SHA256_HEX.test(digest)) return undefined;
  return { folder: `${segments[0]}/${digest}`, digest };
}

/**
 * `range` within an artifact of `size` bytes, as the first byte and the byte after the
 * last (`end - start` may be 0: nothing to read). Offsets and lengths are integers >= 0.
 */
export function clampRange(
  range: ByteRange,
  size: number,
): { start: number; end: number } {
  const { offset, length } = range;
  const valid =
    Number.isSafeInteger(offset) &&
    offset >= 0 &&
    (length === undefined || (Number.isSafeInteger(length) && length >= 0));
  if (!valid)
    throw new StorageError(
      'INVALID_RANGE',
      `invalid byte range (offset ${offset}, length ${length ?? 'to the end'})`,
    );
  const start = Math.min(offset, size);
  const end = length === undefined ? size : Math.min(size, start + length);
  return { start, end };
}
