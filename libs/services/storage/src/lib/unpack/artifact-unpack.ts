import busboy from 'busboy';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';

import { PortfolioError } from '@portfolio/contracts';
import { artifactManifestDigest } from '@portfolio/storage';

/**
 * What an upload may expand to. An archive's entries are counted and measured as they
 * are written, so a decompression bomb is stopped once it passes a limit, not after.
 */
export interface UnpackLimits {
  /** Files in one upload. */
  readonly maxFiles: number;
  /** Bytes all its files hold together, once unpacked. */
  readonly maxExpandedBytes: number;
  /**
   * Unpacked bytes per packed byte beyond which an archive counts as a bomb (model
   * weights barely compress: a ratio of hundreds is zeros, not a model). Only checked
   * past `ratioFloorBytes`, so small, very compressible files (configs) pass.
   */
  readonly maxRatio: number;
  readonly ratioFloorBytes: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxFiles: 1000,
  maxExpandedBytes: 64 * 1024 ** 3,
  maxRatio: 100,
  ratioFloorBytes: 64 * 1024 ** 2,
};

/** A file of an upload, written under the unpack directory. */
export interface UnpackedFile {
  /** Relative, `/`-separated, validated: no `..`, no absolute path, no empty segment. */
  readonly path: string;
  readonly absolutePath: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

export type Packaging = 'file' | 'tar' | 'gzip' | 'zip';

/** The multipart field that carries the artifact's files (API: `artifact`). */
export const ARTIFACT_FIELD = 'artifact';
const MAX_PATH_LENGTH = 1024;
const MAX_DEPTH = 32;
/** Metadata that archivers on macOS add; never part of a model. */
const JUNK = /(^|\/)(__MACOSX\/|\.DS_Store$)/;

/**
 * What the first bytes of a file say it is: a gzip stream (a .tar.gz, in practice), a
 * zip archive, a POSIX tar archive (`ustar` at offset 257), or anything else: a file.
 */
export async function detectPackaging(path: string): Promise<Packaging> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (
      bytesRead >= 262 &&
      head.subarray(257, 262).toString('latin1') === 'ustar'
    )
      return 'tar';
    return 'file';
  } finally {
    await handle.close();
  }
}

/**
 * Unpacks an uploaded body held in `source` into `dir` (which must not exist yet):
 * a tar (optionally gzipped) or zip archive, or a multipart/form-data body
 * (`contentType` with its boundary) whose `artifact` parts are files, or one archive.
 * Throws INVALID_ARTIFACT naming the entry for anything unsafe or over a limit (paths
 * leading out, links, devices, duplicates, too many files, too many bytes); the caller
 * removes `dir` then. Resolves to the files in path order.
 */
export async function unpackUpload(
  source: string,
  dir: string,
  options: {
    contentType?: string;
    limits?: UnpackLimits;
    /** An archive that is itself the artifact (a TorchScript zip), kept as one file. */
    isWholeArtifact?: (path: string) => boolean;
  } = {},
): Promise<UnpackedFile[]> {
  const limits = options.limits ?? DEFAULT_UNPACK_LIMITS;
  const packedBytes = (await stat(source)).size;
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir);
  const sink = new FileSink(dir, limits, packedBytes);
  if (options.contentType !== undefined) {
    await readMultipart(source, options.contentType, sink);
    const files = sink.files();
    // One archive sent as a form field: its entries are the upload.
    if (files.length === 1) {
      const kind = await detectPackaging(files[0].absolutePath);
      if (
        kind !== 'file' &&
        !options.isWholeArtifact?.(files[0].absolutePath)
      ) {
        const inner = join(dir, '.archive');
        await mkdir(inner);
        const again = new FileSink(inner, limits, files[0].sizeBytes);
        await readArchive(files[0].absolutePath, kind, again);
        await rm(files[0].absolutePath);
        return again.files();
      }
    }
    return files;
  }
  const kind = await detectPackaging(source);
  if (kind === 'file')
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      'the upload is neither a tar nor a zip archive',
    );
  await readArchive(source, kind, sink);
  return sink.files();
}

/**
 * The digest of a several-file artifact: sha256 over one line per file (its sha256,
 * size and path, in path order), so the same files give the same digest however they
 * were packed, and any change to a byte, a name or the set of files changes it. Defined
 * once, in @portfolio/storage: runtimes' artifact caches verify downloads against it.
 */
export function manifestDigest(files: readonly UnpackedFile[]): string {
  return artifactManifestDigest(files);
}

/**
 * `name` as a safe relative path, or an INVALID_ARTIFACT that says why not. Directory
 * entries (a trailing `/`) give null: directories come from their files' paths.
 */
export function safeRelativePath(name: string): string | null {
  const shown = JSON.stringify(name.slice(0, 200));
  const refuse = (why: string) =>
    new PortfolioError(
      'INVALID_ARTIFACT',
      `the upload holds an entry named ${shown}, which ${why}; nothing was stored`,
    );
  if (name.length === 0) throw refuse('is empty');
  if (name.length > MAX_PATH_LENGTH)
    throw refuse(`is longer than ${MAX_PATH_LENGTH} characters`);
  // Control characters (NUL included) have no place in a file name.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw refuse('holds a control character');
  if (name.includes('\\'))
    throw refuse('holds a backslash (paths are separated by "/")');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name))
    throw refuse('is an absolute path');
  const isDirectory = name.endsWith('/');
  const segments = (isDirectory ? name.slice(0, -1) : name)
    .split('/')
    .filter((s, i) => !(s === '.' && i === 0));
  if (segments.some((s) => s === '..'))
    throw refuse('leads out of the upload ("..")');
  if (segments.some((s) => s === '' || s === '.'))
    throw refuse('has an empty or "." segment');
  if (segments.length > MAX_DEPTH)
    throw refuse(`is nested deeper than ${MAX_DEPTH} directories`);
  if (segments.some((s) => s.length > 255))
    throw refuse('has a name longer than 255 characters');
  return isDirectory ? null : segments.join('/');
}

/**
 * Writes the files of one upload (or import), hashing and counting them against the
 * limits as they are written. `packedBytes`: what they came in, for the bomb ratio
 * (Infinity: not packed, no ratio).
 */
export class FileSink {
  private readonly written = new Map<string, UnpackedFile>();
  /** Paths taken, written or being written. */
  private readonly taken = new Set<string>();
  private expandedBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly limits: UnpackLimits,
    private readonly packedBytes: number,
  ) {}

  files(): UnpackedFile[] {
    return [...this.written.values()].sort((a, b) => compare(a.path, b.path));
  }

  async add(name: string, data: Readable): Promise<void> {
    const path = safeRelativePath(name);
    if (path === null || JUNK.test(path)) {
      data.resume();
      return;
    }
    if (this.taken.has(path))
      throw invalid(`the upload holds "${path}" twice; nothing was stored`);
    // A file and a directory of the same name cannot both be written.
    for (const other of this.taken)
      if (other.startsWith(`${path}/`) || path.startsWith(`${other}/`))
        throw invalid(
          `the upload holds "${other}" and "${path}": one cannot be both a file and a directory; nothing was stored`,
        );
    if (this.taken.size >= this.limits.maxFiles)
      throw invalid(
        `the upload holds more than ${this.limits.maxFiles} files; nothing was stored`,
      );
    this.taken.add(path);
    const absolutePath = join(this.dir, ...path.split('/'));
    await mkdir(dirname(absolutePath), { recursive: true });
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        size += chunk.length;
        this.expandedBytes += chunk.length;
        const over = this.overLimit();
        if (over) return done(over);
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // 'wx': never through a link or over a file someone placed there.
    await pipeline(
      data,
      meter,
      createWriteStream(absolutePath, { flags: 'wx' }),
    );
    this.written.set(path, {
      path,
      absolutePath,
      sizeBytes: size,
      sha256: hash.digest('hex'),
    });
  }

  private overLimit(): PortfolioError | null {
    if (this.expandedBytes > this.limits.maxExpandedBytes)
      return invalid(
        `the upload expands to more than ${this.limits.maxExpandedBytes} bytes; nothing was stored`,
      );
    if (
      this.expandedBytes > this.limits.ratioFloorBytes &&
      this.expandedBytes > this.limits.maxRatio * Math.max(1, this.packedBytes)
    )
      return invalid(
        `the archive expands to more than ${this.limits.maxRatio} times its ${this.packedBytes} bytes (a decompression bomb?); nothing was stored`,
      );
    return null;
  }
}

async function readArchive(
  path: string,
  kind: Exclude<Packaging, 'file'>,
  sink: FileSink,
): Promise<void> {
  if (kind === 'zip') return readZip(path, sink);
  const extract = tar.extract();
  const source = createReadStream(path);
  const feeding = (
    kind === 'gzip'
      ? pipeline(source, createGunzip(), extract)
      : pipeline(source, extract)
  ).catch((e: unknown) => {
    throw archiveError(kind, e);
  });
  try {
    for await (const entry of extract) {
      const { name, type, linkname } = entry.header;
      if (type === 'symlink' || type === 'link')
        throw invalid(
          `the archive holds a link "${name.slice(0, 200)}" -> "${(linkname ?? '').slice(0, 200)}"; links are not accepted, nothing was stored`,
        );
      if (type === 'directory') {
        safeRelativePath(name.endsWith('/') ? name : `${name}/`);
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file')
        throw invalid(
          `the archive holds "${name.slice(0, 200)}" of type ${type}; only files and directories are accepted, nothing was stored`,
        );
      // tar-stream's entries are streamx streams: read them as Node streams.
      await sink.add(name, Readable.from(entry));
    }
  } catch (e) {
    source.destroy();
    await feeding.catch(() => undefined);
    throw e instanceof PortfolioError ? e : archiveError(kind, e);
  }
  await feeding;
}

function readZip(path: string, sink: FileSink): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    yauzl.open(
      path,
      { lazyEntries: true, autoClose: true, validateEntrySizes: true },
      (err, zip) => {
        if (err || !zip) return reject(archiveError('zip', err));
        const fail = (e: unknown) => {
          zip.close();
          reject(e instanceof PortfolioError ? e : archiveError('zip', e));
        };
        zip.on('error', fail);
        zip.on('end', () => resolve());
        zip.on('entry', (entry: yauzl.Entry) => {
          const name = entry.fileName;
          const unixType = (entry.externalFileAttributes >>> 16) & 0o170000;
          if (unixType === 0o120000)
            return fail(
              invalid(
                `the archive holds a link "${name.slice(0, 200)}"; links are not accepted, nothing was stored`,
              ),
            );
          if (name.endsWith('/')) {
            try {
              safeRelativePath(name);
            } catch (e) {
              return fail(e);
            }
            return zip.readEntry();
          }
          zip.openReadStream(entry, (e, stream) => {
            if (e || !stream) return fail(e);
            sink.add(name, stream).then(() => zip.readEntry(), fail);
          });
        });
        zip.readEntry();
      },
    );
  });
}

async function readMultipart(
  source: string,
  contentType: string,
  sink: FileSink,
): Promise<void> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      preservePath: true,
      limits: { fields: 0, parts: 10_000 },
    });
  } catch (e) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the multipart body cannot be read: ${(e as Error).message}`,
    );
  }
  const writes: Promise<void>[] = [];
  let failure: unknown = null;
  const done = new Promise<void>((resolve, reject) => {
    parser.on('file', (field, stream, info) => {
      if (failure) {
        stream.resume();
        return;
      }
      if (field !== ARTIFACT_FIELD) {
        failure = new PortfolioError(
          'INVALID_REQUEST',
          `the multipart body has a file in field "${field.slice(0, 100)}"; send the artifact's files in field "${ARTIFACT_FIELD}"`,
        );
        stream.resume();
        return;
      }
      if (!info.filename) {
        failure = new PortfolioError(
          'INVALID_REQUEST',
          `a part of field "${ARTIFACT_FIELD}" has no file name; give each file its name (its path inside the model's directory)`,
        );
        stream.resume();
        return;
      }
      // Parts arrive one after another: each is written before the next is read.
      writes.push(
        sink.add(info.filename, stream).catch((e: unknown) => {
          failure ??= e;
          stream.resume();
        }),
      );
    });
    parser.on('fieldsLimit', () => {
      failure ??= new PortfolioError(
        'INVALID_REQUEST',
        `the multipart body has a text field; send only files, in field "${ARTIFACT_FIELD}"`,
      );
    });
    parser.on('close', resolve);
    parser.on('error', reject);
  });
  try {
    await pipeline(createReadStream(source), parser);
    await done;
  } catch (e) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the multipart body cannot be read: ${(e as Error).message}`,
    );
  }
  await Promise.all(writes);
  if (failure) throw failure;
  if (sink.files().length === 0)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the multipart body has no file in field "${ARTIFACT_FIELD}"`,
    );
}

function invalid(message: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', message);
}

function archiveError(kind: string, e: unknown): PortfolioError {
  const what = kind === 'gzip' ? 'gzipped tar' : kind;
  return invalid(
    `the ${what} archive cannot be read: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`,
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
