import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { inflateSync, gunzipSync, constants as zlibConstants } from 'node:zlib';

import { PortfolioError } from '@portfolio/contracts';

import { readZipEntryNames, ZipFormatError } from './zip-directory';

/**
 * Recognizing PyTorch and scikit-learn artifacts by their bytes, without executing
 * anything: ingest runs this on uploads nobody has vetted, and unpickling would run
 * whatever code the pickle names.
 */

export type PytorchKind = 'torchscript' | 'state_dict';

/** The Python module defining a state_dict's model class, uploaded beside the weights. */
export const STATE_DICT_MODULE = 'model.py';
/** Optional beside a state_dict: `{"class": "Net", "kwargs": {...}}`. */
export const STATE_DICT_MANIFEST = 'portfolio.json';

/** torch.save's format before zip archives (PyTorch < 1.6): a pickle of this magic number first. */
const LEGACY_TORCH_MAGIC = Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex');

/** The first `length` bytes of the file (fewer if it is shorter). */
export function readHead(path: string, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(length, fstatSync(fd).size));
    let got = 0;
    while (got < head.length) {
      const n = readSync(fd, head, got, head.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return head.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

const isZip = (head: Buffer) =>
  head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
const isEmptyZip = (head: Buffer) =>
  head.length >= 4 && head.readUInt32LE(0) === 0x06054b50;
const isPickle = (head: Buffer) =>
  head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
const isZlib = (head: Buffer) =>
  head.length >= 2 &&
  (head[0] & 0x0f) === 8 &&
  head[0] >> 4 <= 7 &&
  ((head[0] << 8) | head[1]) % 31 === 0;
const isGzip = (head: Buffer) =>
  head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;

/** What a file looks like, for a message saying it is not what its format needs. */
export function describeContent(head: Buffer): string {
  if (head.length === 0) return 'an empty file';
  if (isZip(head) || isEmptyZip(head)) return 'a zip archive';
  if (isPickle(head)) return `a Python pickle (protocol ${head[1]})`;
  if (isGzip(head)) return 'gzip-compressed data';
  if (isZlib(head)) return 'zlib-compressed data';
  if (head.subarray(0, 4).toString('latin1') === '\x89HDF')
    return 'an HDF5 file (a Keras model?)';
  if (
    head.subarray(0, 4).toString('latin1') === 'BZh9' ||
    head.subarray(0, 3).toString('latin1') === 'BZh'
  )
    return 'bzip2-compressed data';
  // ONNX: ModelProto starts with ir_version (field 1, varint) then producer or graph fields.
  if (
    head.length >= 3 &&
    head[0] === 0x08 &&
    head[1] < 0x80 &&
    [0x12, 0x1a, 0x22, 0x3a, 0x42].includes(head[2])
  )
    return 'protobuf data (an ONNX model?)';
  const text = head.subarray(0, 512);
  const printable = text.filter(
    (b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127),
  ).length;
  if (printable / text.length > 0.95)
    return text[0] === 0x7b || text[0] === 0x5b ? 'JSON or text' : 'text';
  return `binary data starting with ${[...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

function invalid(message: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', message);
}

/**
 * Whether the PyTorch file at `path` is a TorchScript archive or a state_dict (weights
 * only), by its content: TorchScript is a zip holding `<root>/data.pkl` and
 * `<root>/code/`; a state_dict saved by torch.save is the same zip without `code/`, or a
 * pickle of torch's legacy format. Throws INVALID_ARTIFACT saying what the file is.
 */
export function pytorchKindOf(path: string): PytorchKind {
  const head = readHead(path, 64);
  if (
    head.length >= LEGACY_TORCH_MAGIC.length &&
    head.subarray(0, LEGACY_TORCH_MAGIC.length).equals(LEGACY_TORCH_MAGIC)
  )
    return 'state_dict';
  if (!isZip(head))
    throw invalid(
      `not a PyTorch artifact: the file looks like ${describeContent(head)}, not a TorchScript archive (a zip with code/ and data.pkl) nor a state_dict saved by torch.save`,
    );
  let names: string[];
  try {
    names = readZipEntryNames(path);
  } catch (e) {
    if (e instanceof ZipFormatError)
      throw invalid(`not a valid PyTorch archive: ${e.message}`);
    throw e;
  }
  const roots = new Set(
    names
      .filter((n) => /^[^/]+\/data\.pkl$/.test(n))
      .map((n) => n.slice(0, n.indexOf('/'))),
  );
  if (roots.size === 0)
    throw invalid(
      'not a PyTorch archive: the zip holds no <folder>/data.pkl (TorchScript archives and torch.save files have one)',
    );
  if (roots.size > 1)
    throw invalid(
      `not a PyTorch archive: the zip holds ${roots.size} folders with a data.pkl; torch writes one`,
    );
  const [root] = roots;
  return names.some((n) => n.startsWith(`${root}/code/`))
    ? 'torchscript'
    : 'state_dict';
}

/**
 * Validates a PyTorch artifact at ingest: a TorchScript archive alone, or a state_dict
 * with model.py beside it (and, optionally, portfolio.json naming the class).
 */
export function inspectPytorchArtifact(
  path: string,
  beside?: ReadonlyMap<string, number>,
): Record<string, string> {
  const kind = pytorchKindOf(path);
  if (kind === 'torchscript') return { kind };
  if (!beside?.has(STATE_DICT_MODULE))
    throw invalid(
      `not a TorchScript archive: no code/ folder, so it is a state_dict (weights only), which needs ${STATE_DICT_MODULE} beside it defining the model's class; the upload holds no ${STATE_DICT_MODULE}`,
    );
  const metadata: Record<string, string> = { kind };
  const manifestPath = join(dirname(path), STATE_DICT_MANIFEST);
  if (beside.has(STATE_DICT_MANIFEST) && existsSync(manifestPath)) {
    let manifest: unknown;
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch (e) {
      throw invalid(
        `${STATE_DICT_MANIFEST} is not valid JSON: ${(e as Error).message}`,
      );
    }
    const m = manifest as { class?: unknown; kwargs?: unknown } | null;
    if (
      typeof m !== 'object' ||
      m === null ||
      Array.isArray(m) ||
      typeof m.class !== 'string' ||
      !/^[A-Za-z_]\w*$/.test(m.class) ||
      (m.kwargs !== undefined &&
        (typeof m.kwargs !== 'object' ||
          m.kwargs === null ||
          Array.isArray(m.kwargs)))
    )
      throw invalid(
        `${STATE_DICT_MANIFEST} must be {"class": "<class name in ${STATE_DICT_MODULE}>", "kwargs": {...}}`,
      );
    metadata['class'] = m.class;
  }
  return metadata;
}

/** Enough of a compressed file to see the pickle it holds begin. */
const COMPRESSED_HEAD = 64 * 1024;

/**
 * Validates a scikit-learn artifact at ingest: a pickle (protocol 2 to 5), as
 * pickle.dump and joblib.dump write it, or a joblib file compressed with zlib or gzip
 * (whose first bytes must decompress to a pickle). Returns its metadata.
 */
export function inspectSklearnArtifact(path: string): Record<string, string> {
  const head = readHead(path, COMPRESSED_HEAD);
  if (isPickle(head)) {
    const last = readTail(path);
    if (last !== 0x2e)
      throw invalid(
        'the pickle is truncated: it does not end with the pickle STOP opcode',
      );
    return { kind: 'sklearn', serialization: 'pickle' };
  }
  const compression = isZlib(head) ? 'zlib' : isGzip(head) ? 'gzip' : null;
  if (compression) {
    let inner: Buffer;
    try {
      const options = { finishFlush: zlibConstants.Z_SYNC_FLUSH };
      inner =
        compression === 'zlib'
          ? inflateSync(head, options)
          : gunzipSync(head, options);
    } catch (e) {
      throw invalid(
        `${compression}-compressed data that does not decompress: ${(e as Error).message}`,
      );
    }
    if (!isPickle(inner))
      throw invalid(
        `not a scikit-learn model: ${compression}-compressed ${describeContent(inner)}, not a pickle`,
      );
    return { kind: 'sklearn', serialization: `joblib-${compression}` };
  }
  throw invalid(
    `not a scikit-learn model: the file looks like ${describeContent(head)}, not a pickle or joblib file`,
  );
}

function readTail(path: string): number | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0];
  } finally {
    closeSync(fd);
  }
}
