import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  assertValidKey,
  assertValidKeyPrefix,
  clampRange,
  artifactFolderOf,
  INGEST_DIR,
  isValidKey,
} from '../artifact-key.util';
import { HashingFileWriter } from '../hashing-file-writer';
import { putThroughWriter } from '../put.util';
import {
  ArtifactDigest,
  ArtifactStat,
  ArtifactWriter,
  ByteRange,
  ListedArtifact,
  PutOptions,
  PutResult,
  StorageDriver,
  StorageError,
} from '../storage-driver';

/** What every cloud driver takes besides its store's own settings. */
export interface ObjectStoreOptions {
  /**
   * A directory on this machine (created if missing): `localPath` downloads into it,
   * and writers spool into its `.ingest` folder until commit.
   */
  readonly workDir: string;
  /** Folder inside the bucket (no leading or trailing `/`); '' for the whole bucket. */
  readonly prefix?: string;
  /** Objects asked for per list request; the store's default when unset. */
  readonly listPageSize?: number;
}

/** One object as the store lists it; `name` is the full object name in the bucket. */
export interface StoredObject extends ArtifactStat {
  readonly name: string;
}

/** Object-name range to read: `[start, end)`, never empty. */
export interface ObjectRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The part of the S3, GCS and Azure Blob drivers that does not depend on the store:
 * URIs (`<scheme>://<bucket>/<prefix>/<key>`), keys, the writer and `localPath`. A
 * subclass supplies a handful of object operations on full object names.
 *
 * Writers spool to a file in the node-local work directory while hashing, and upload
 * only at commit, straight to the final key: the storage service inspects the artifact
 * from that file before it commits (`finish().tempPath`), the key of a content-addressed
 * artifact names its sha256, which is only known at the end, and so nothing ever exists
 * in the bucket before commit. An aborted or crashed ingest leaves nothing in the
 * bucket, no temporary objects need a lifecycle rule or a server-side copy, and since
 * each store makes an upload visible only once it is complete (a single PUT, a
 * completed multipart upload, a finalized resumable upload, a committed block list), a
 * reader never sees half an artifact. Commit uploads with a create-only precondition
 * (If-None-Match: * on S3 and Azure, ifGenerationMatch 0 on GCS) after a cheap existence
 * check, so of two ingests of the same bytes only one reports `created`.
 */
/**
 * `name` as a bucket (container) name, or a CONFIG error naming `store`'s kind of it:
 * one path segment, not empty.
 */
export function bucketName(store: string, name: string): string {
  if (!name || name.includes('/'))
    throw new StorageError('CONFIG', `invalid ${store} name "${name}"`);
  return name;
}

export abstract class ObjectStoreDriver implements StorageDriver {
  abstract readonly scheme: string;
  /** The bucket (or container) every URI of this driver names. */
  abstract readonly bucket: string;
  protected readonly workDir: string;
  protected readonly prefix: string;
  protected readonly listPageSize: number | undefined;
  /** Downloads under way, by target path: concurrent callers share one. */
  private readonly downloads = new Map<string, Promise<string>>();

  protected constructor(options: ObjectStoreOptions) {
    this.workDir = options.workDir;
    this.prefix = options.prefix ?? '';
    if (this.prefix !== '') assertValidKey(this.prefix);
    this.listPageSize = options.listPageSize;
  }

  /** Makes the work directory. The store itself is not contacted. */
  async init(): Promise<void> {
    await mkdir(join(this.workDir, INGEST_DIR), { recursive: true });
  }

  // --- what a store supplies -------------------------------------------------------

  /** null when there is no such object; `sha256` as recorded at upload, if it was. */
  protected abstract headObject(name: string): Promise<ArtifactStat | null>;
  /** The object's bytes (or those of `range`); rejects with NOT_FOUND. */
  protected abstract getObject(
    name: string,
    range?: ObjectRange,
  ): Promise<Readable>;
  /**
   * Uploads the file as the object `name` unless one exists (create-only precondition),
   * recording `digest.sha256` with it (what `headObject` gives back as `sha256`).
   * Resolves false when the precondition failed; never leaves a partial object.
   */
  protected abstract uploadFile(
    name: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<boolean>;
  /** True when there was an object to delete. */
  protected abstract deleteObject(name: string): Promise<boolean>;
  /** Every object whose name starts with `namePrefix`, page by page. */
  protected abstract listObjects(
    namePrefix: string,
  ): AsyncIterable<StoredObject>;

  // --- StorageDriver -----------------------------------------------------------------

  uriFor(key: string): string {
    return `${this.scheme}://${this.bucket}/${this.objectName(key)}`;
  }

  async createWriter(): Promise<ArtifactWriter> {
    await this.init();
    return new ObjectStoreWriter(
      this,
      await HashingFileWriter.create(join(this.workDir, INGEST_DIR)),
    );
  }

  put(
    source: AsyncIterable<Uint8Array>,
    key: string | ((digest: ArtifactDigest) => string),
    options?: PutOptions,
  ): Promise<PutResult> {
    return putThroughWriter(this, source, key, options);
  }

  async read(uri: string, range?: ByteRange): Promise<Readable> {
    const name = this.objectName(this.keyOf(uri));
    if (!range) return this.getObject(name);
    // The size first: stores differ on ranges past the end (S3 and Azure answer 416,
    // the GCS emulator the whole object), so the range sent is always within it.
    const { start, end } = clampRange(range, (await this.stat(uri)).sizeBytes);
    return end === start
      ? Readable.from([])
      : this.getObject(name, { start, end });
  }

  async stat(uri: string): Promise<ArtifactStat> {
    const found = await this.headObject(this.objectName(this.keyOf(uri)));
    if (!found) throw this.notFound(uri);
    return found;
  }

  async *list(keyPrefix: string): AsyncIterable<ListedArtifact> {
    assertValidKeyPrefix(keyPrefix);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    for await (const object of this.listObjects(base + keyPrefix)) {
      const key = object.name.slice(base.length);
      // Objects this driver could not address (folder markers ending in `/`, names
      // with `..` or `//` written by other tools) are not artifacts of its.
      if (!isValidKey(key)) continue;
      yield {
        key,
        uri: this.uriFor(key),
        sizeBytes: object.sizeBytes,
        modified: object.modified,
      };
    }
  }

  async exists(uri: string): Promise<boolean> {
    return (await this.headObject(this.objectName(this.keyOf(uri)))) !== null;
  }

  /**
   * `<workDir>/<scheme>/<bucket>/<object name>`. A content-addressed key's whole artifact
   * folder (`<model id>/<sha256>/`: the file, or the files of a several-file upload) is
   * downloaded into a temporary folder and renamed into place, so a file handed out
   * always has its siblings beside it and is whole; the folder's files never change, so
   * a later call returns the file without asking the store. Any other key is downloaded
   * alone, again on every call (its object may have been replaced), to a temporary file
   * renamed over the last copy. Every file is verified against the sha256 recorded when
   * it was committed, and a folder's only file (recorded or not) against the folder's
   * sha256. Concurrent calls for one folder or file share a download.
   */
  async localPath(uri: string): Promise<string> {
    const key = this.keyOf(uri);
    const artifact = artifactFolderOf(key);
    if (!artifact) {
      const target = this.localCopy(key);
      return this.once(target, () => this.downloadAlone(uri, key, target));
    }
    const folder = this.localCopy(artifact.folder);
    const target = join(
      folder,
      ...key.slice(artifact.folder.length + 1).split('/'),
    );
    if (isFile(target)) return target;
    await this.once(folder, () =>
      this.downloadFolder(artifact.folder, artifact.digest, folder, target),
    );
    if (!isFile(target)) throw this.notFound(uri);
    return target;
  }

  /**
   * Also removes this node's downloaded copy (of the whole artifact folder, so that a
   * later localPath fetches what remains of it).
   */
  async delete(uri: string): Promise<boolean> {
    const key = this.keyOf(uri);
    const existed = await this.deleteObject(this.objectName(key));
    const artifact = artifactFolderOf(key);
    await rm(this.localCopy(artifact ? artifact.folder : key), {
      recursive: true,
      force: true,
    });
    return existed;
  }

  // --- helpers -----------------------------------------------------------------------

  /** The key of one of this driver's URIs; INVALID_URI for anything else. */
  keyOf(uri: string): string {
    const base = `${this.scheme}://${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}`;
    if (!uri.startsWith(base))
      throw new StorageError(
        'INVALID_URI',
        `${uri} is not in this store (its URIs start with ${base})`,
      );
    const key = uri.slice(base.length);
    assertValidKey(key);
    return key;
  }

  /** The full object name of a key: the prefix, then the key. */
  objectName(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** Called by the writer at commit. */
  async commitFile(
    key: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<{ uri: string; created: boolean }> {
    const name = this.objectName(key);
    const uri = this.uriFor(key);
    if ((await this.headObject(name)) !== null) return { uri, created: false };
    return { uri, created: await this.uploadFile(name, path, digest) };
  }

  protected notFound(uri: string): StorageError {
    return new StorageError('NOT_FOUND', `artifact ${uri} does not exist`);
  }

  /** Where this node keeps its copy of a key (or of an artifact folder). */
  private localCopy(key: string): string {
    return join(
      this.workDir,
      this.scheme,
      this.bucket,
      ...this.objectName(key).split('/'),
    );
  }

  /** Runs `work` unless a run for `path` is under way, whose result it then shares. */
  private once(path: string, work: () => Promise<string>): Promise<string> {
    const running = this.downloads.get(path);
    if (running) return running;
    const run = work().finally(() => this.downloads.delete(path));
    this.downloads.set(path, run);
    return run;
  }

  private async downloadAlone(
    uri: string,
    key: string,
    target: string,
  ): Promise<string> {
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.download`;
    try {
      const recorded = await this.headObject(this.objectName(key));
      if (!recorded) throw this.notFound(uri);
      await this.downloadFile(uri, key, temp, recorded.sha256);
      await rename(temp, target);
      return target;
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * The files of an artifact folder into a temporary folder, renamed into place. When
   * another download got there first (another process), only what its copy lacks is
   * added, `target` last.
   */
  private async downloadFolder(
    folderKey: string,
    digest: string,
    folder: string,
    target: string,
  ): Promise<string> {
    const temp = `${folder}.${randomBytes(6).toString('hex')}.download`;
    try {
      const files: { key: string; relative: string }[] = [];
      for await (const item of this.list(`${folderKey}/`))
        files.push({
          key: item.key,
          relative: item.key.slice(folderKey.length + 1),
        });
      if (files.length === 0) return folder;
      for (const { key, relative: rel } of files) {
        const stat = await this.headObject(this.objectName(key));
        if (!stat) continue; // deleted while listing
        // A folder's only file is a single-file artifact, stored under its own digest.
        const expected =
          stat.sha256 ?? (files.length === 1 ? digest : undefined);
        await this.downloadFile(
          this.uriFor(key),
          key,
          join(temp, ...rel.split('/')),
          expected,
        );
      }
      await mkdir(dirname(folder), { recursive: true });
      try {
        await rename(temp, folder);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        const last = relative(folder, target);
        const relatives = files
          .map((f) => f.relative)
          .sort((a, b) => Number(a === last) - Number(b === last));
        for (const rel of relatives) {
          const dest = join(folder, ...rel.split('/'));
          if (isFile(dest)) continue;
          await mkdir(dirname(dest), { recursive: true });
          await rename(join(temp, ...rel.split('/')), dest);
        }
      }
      return folder;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** One object into `path` (a new file), hashed on the way and checked against `sha256`. */
  private async downloadFile(
    uri: string,
    key: string,
    path: string,
    sha256: string | undefined,
  ): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const hash = createHash('sha256');
    try {
      await pipeline(
        await this.getObject(this.objectName(key)),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        }),
        createWriteStream(path, { flags: 'wx' }),
      );
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new StorageError(
        'IO',
        `downloading ${uri} failed: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const actual = hash.digest('hex');
    if (sha256 !== undefined && actual !== sha256)
      throw new StorageError(
        'DIGEST_MISMATCH',
        `artifact ${uri} has sha256 ${actual}, not the recorded ${sha256}`,
      );
  }
}

/**
 * Exactly the bytes of `range`, from a ranged response whose Content-Range (`bytes
 * S-E/T`; absent: the whole object) says what the server sent. Servers that serve more
 * than asked (s3rver answers `bytes=0-0` with the whole object) are cut down to the
 * range; the rest of their response is not read.
 */
export function exactRange(
  body: Readable,
  range: ObjectRange,
  contentRange: string | undefined,
): Readable {
  const match = /^bytes (\d+)-(\d+)\//.exec(contentRange ?? '');
  const servedStart = match ? Number(match[1]) : 0;
  const servedEnd = match ? Number(match[2]) + 1 : Infinity;
  if (servedStart === range.start && servedEnd === range.end) return body;
  if (servedStart > range.start) {
    body.destroy();
    throw new Error(
      `asked for bytes ${range.start}-${range.end - 1}, the store sent ${contentRange}`,
    );
  }
  const skip = range.start - servedStart;
  const take = range.end - range.start;
  async function* cut(): AsyncGenerator<Buffer> {
    let at = 0;
    for await (const chunk of body) {
      const piece = chunk as Buffer;
      const from = Math.max(0, skip - at);
      const to = Math.min(piece.length, skip + take - at);
      at += piece.length;
      if (to > from) yield piece.subarray(from, to);
      // Leaving the loop destroys the body: the rest is never downloaded.
      if (at >= skip + take) break;
    }
  }
  return Readable.from(cut());
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Spools to a local file while hashing; uploads to the final key at commit. */
class ObjectStoreWriter implements ArtifactWriter {
  constructor(
    private readonly driver: ObjectStoreDriver,
    private readonly file: HashingFileWriter,
  ) {}

  get bytesWritten(): number {
    return this.file.bytesWritten;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.file.write(chunk);
  }

  async finish(): Promise<ArtifactDigest & { tempPath: string }> {
    return { ...(await this.file.finish()), tempPath: this.file.path };
  }

  async commit(key: string): Promise<{ uri: string; created: boolean }> {
    const digest = await this.file.finish();
    const result = await this.driver.commitFile(key, this.file.path, digest);
    await this.file.remove();
    return result;
  }

  abort(): Promise<void> {
    return this.file.remove();
  }
}
