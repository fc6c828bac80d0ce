import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, Dirent } from 'node:fs';
import {
  chmod,
  mkdir,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  utimes,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { artifactDigest, fileSha256, ManifestFile } from '../artifact-manifest';
import { artifactFolderOf, isValidKey } from '../artifact-key.util';
import { StorageDriver, StorageError } from '../storage-driver';

/** What the cache says in the logs (a Nest Logger fits). */
export interface ArtifactCacheLogger {
  log(message: string): void;
  warn(message: string): void;
}

export interface ArtifactCacheOptions {
  /**
   * A directory on this node (made if missing) that the cache owns: entries live in
   * `<dir>/<model id>/<sha256>/`, downloads in progress and deletions in `<dir>/.tmp`,
   * which is emptied at start.
   */
  readonly dir: string;
  /**
   * What the entries may take together. Entries in use are never deleted, so the cache
   * goes over this while they alone take more (a log line says so); nothing is refused
   * for it: a download that does not fit on the disk fails by itself.
   */
  readonly maxBytes: number;
  readonly logger?: ArtifactCacheLogger;
}

/** An artifact of a model version, as a load request names it. */
export interface CachedArtifactRef {
  /** The file to load (a several-file artifact's entry point). */
  readonly uri: string;
  /**
   * The version's sha256: the file's own for a single-file artifact, the manifest
   * digest of its files for a several-file one (see artifactManifestDigest).
   */
  readonly sha256: string;
  /** The model the version belongs to: names the entry when the URI does not. */
  readonly modelId: string;
}

/**
 * The use of a cached artifact: `path` (with the artifact's other files beside it) stays
 * on disk until `release` (idempotent), which every acquire must be paired with.
 */
export interface ArtifactLease {
  readonly path: string;
  /** True when this acquire downloaded the artifact (or waited for its download). */
  readonly fetched: boolean;
  release(): void;
}

export interface ArtifactCacheStats {
  /** Bytes the entries on disk take (downloads in progress not counted). */
  readonly usedBytes: number;
  readonly maxBytes: number;
  readonly entries: number;
  /** Bytes of the entries some lease holds. */
  readonly inUseBytes: number;
}

interface Entry {
  /** `<model id>/<sha256>`: also its folder under the cache directory. */
  readonly id: string;
  readonly sha256: string;
  readonly dir: string;
  bytes: number;
  lastUsedMs: number;
  /**
   * The identity of its files (path, size, inode, mtime, ctime) when this process last
   * hashed them and found the right digest; null: not since this process started.
   */
  verified: string | null;
}

/** What to download for an entry: a storage artifact folder, or one object. */
interface Target {
  readonly id: string;
  readonly sha256: string;
  /** The URI's file, relative to the entry's folder. */
  readonly file: string;
  /** Key prefix of the artifact folder (`<model>/<sha256>/`); null: `key` alone. */
  readonly folderPrefix: string | null;
  readonly key: string;
}

interface RemoteFile {
  readonly uri: string;
  /** Relative to the entry's folder. */
  readonly path: string;
  readonly sizeBytes: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Downloads in progress and entries being deleted: emptied at start. */
const TMP_DIR = '.tmp';
const SILENT: ArtifactCacheLogger = {
  log: () => undefined,
  warn: () => undefined,
};

/**
 * A node-local cache of artifacts read from a (remote) storage driver, for runtimes:
 * frameworks load from a file path, and a runtime need not share a volume with the
 * storage service.
 *
 * - Addressing: an entry is a storage artifact folder, `<model id>/<sha256>/` with the
 *   files under it, where the sha256 is the version's. The model id is part of the
 *   address because storage keeps the same bytes uploaded for two models as two
 *   artifacts (garbage collection deletes them apart); the cost is a second copy on
 *   the node in that rare case. A URI that is not content-addressed
 *   (`<model>/<sha256>/<file>` with the version's sha256) is cached as its one object,
 *   under the request's model id and sha256.
 * - A miss lists the folder, streams each file to a temporary folder while hashing it,
 *   checks the artifact's digest against the version's sha256 (a single file's own
 *   sha256; several files' manifest digest, computed as the storage service does), and
 *   renames the folder into place: an entry on disk is whole. Concurrent acquires of
 *   one entry share one download (or one verification).
 * - Verification on use: every acquire stats the entry's files. When this process has
 *   not hashed them since it started, or their identity (size, inode, mtime, ctime)
 *   changed since it did, they are hashed again in full and the digest compared; an
 *   entry that fails is deleted and downloaded again, so a corrupted file is never
 *   handed out. Cost: one full read of each entry on its first use after a restart
 *   (sha256 ran at 1.3-1.6 GiB/s on one core of the development machine), then a few
 *   stats per use. A change to the files through the filesystem always moves ctime,
 *   so it is caught; decay of the medium beneath an unchanged inode between restarts
 *   is not (the next restart's first use catches it).
 * - Cleanup: when the entries take more than maxBytes, the least recently used ones no
 *   lease holds are deleted (before a download, to make room for it, and after a
 *   download or a release). Last use survives restarts as the entry folder's mtime.
 */
export class ArtifactCache {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly logger: ArtifactCacheLogger;
  private readonly entries = new Map<string, Entry>();
  /** Leases (and acquires under way) per entry id. */
  private readonly refs = new Map<string, number>();
  /** Downloads and verifications under way, per entry id. */
  private readonly work = new Map<
    string,
    Promise<{ entry: Entry; fetched: boolean }>
  >();
  /** Deletions under way, per entry id: a new download of it waits for them. */
  private readonly removals = new Map<string, Promise<void>>();
  private usedBytes = 0;
  private started: Promise<void> | null = null;
  private overWarned = false;

  constructor(
    private readonly driver: StorageDriver,
    options: ArtifactCacheOptions,
  ) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.logger = options.logger ?? SILENT;
  }

  /**
   * Makes the directory, empties its `.tmp` and takes stock of the entries a previous
   * process left (each hashed again on its first use). Called by the first acquire;
   * idempotent.
   */
  init(): Promise<void> {
    this.started ??= this.scan().catch((e: unknown) => {
      this.started = null;
      throw new StorageError(
        'IO',
        `the artifact cache in ${this.dir} cannot be used: ${(e as Error).message}`,
        { cause: e },
      );
    });
    return this.started;
  }

  stats(): ArtifactCacheStats {
    let inUseBytes = 0;
    for (const e of this.entries.values())
      if (this.refCount(e.id) > 0) inUseBytes += e.bytes;
    return {
      usedBytes: this.usedBytes,
      maxBytes: this.maxBytes,
      entries: this.entries.size,
      inUseBytes,
    };
  }

  /**
   * The artifact on this node's disk, verified (downloaded first on a miss, again when
   * the cached copy fails verification). Rejects with the driver's errors (NOT_FOUND,
   * IO), DIGEST_MISMATCH when the store's bytes are not the version's, INVALID_URI.
   */
  async acquire(ref: CachedArtifactRef): Promise<ArtifactLease> {
    const target = this.targetOf(ref);
    this.refs.set(target.id, this.refCount(target.id) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.unref(target.id);
    };
    try {
      await this.init();
      const { entry, fetched } = await this.shared(target.id, () =>
        this.ensure(target, ref.uri),
      );
      entry.lastUsedMs = Date.now();
      const now = new Date(entry.lastUsedMs);
      await utimes(entry.dir, now, now).catch(() => undefined);
      const path = join(entry.dir, ...target.file.split('/'));
      if (!(await isFile(path)))
        throw new StorageError(
          'NOT_FOUND',
          `artifact ${ref.uri} is not among the files of its artifact folder`,
        );
      return { path, fetched, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  // --- entries -----------------------------------------------------------------------

  private targetOf(ref: CachedArtifactRef): Target {
    const sha256 = ref.sha256.toLowerCase();
    if (!SHA256_HEX.test(sha256))
      throw new StorageError(
        'INVALID_URI',
        `"${ref.sha256}" is not a sha256 (64 hex digits)`,
      );
    const key = this.driver.keyOf(ref.uri);
    const folder = artifactFolderOf(key);
    if (folder && folder.digest === sha256) {
      const model = folder.folder.split('/')[0];
      return {
        id: `${assertEntryModel(model)}/${sha256}`,
        sha256,
        file: key.slice(folder.folder.length + 1),
        folderPrefix: `${folder.folder}/`,
        key,
      };
    }
    return {
      id: `${assertEntryModel(ref.modelId)}/${sha256}`,
      sha256,
      file: posix.basename(key),
      folderPrefix: null,
      key,
    };
  }

  private refCount(id: string): number {
    return this.refs.get(id) ?? 0;
  }

  private unref(id: string): void {
    const left = this.refCount(id) - 1;
    if (left > 0) {
      this.refs.set(id, left);
      return;
    }
    this.refs.delete(id);
    if (this.usedBytes > this.maxBytes) void this.makeRoom(0);
  }

  /** Runs `work` for `id` unless a run is under way, whose result it then shares. */
  private shared(
    id: string,
    work: () => Promise<{ entry: Entry; fetched: boolean }>,
  ): Promise<{ entry: Entry; fetched: boolean }> {
    const running = this.work.get(id);
    if (running) return running;
    const run = work().finally(() => this.work.delete(id));
    this.work.set(id, run);
    return run;
  }

  /** The entry, verified: as it is, or downloaded (again). */
  private async ensure(
    target: Target,
    uri: string,
  ): Promise<{ entry: Entry; fetched: boolean }> {
    await this.removals.get(target.id);
    const known = this.entries.get(target.id);
    if (known) {
      const problem = await this.verify(known);
      if (problem === null) return { entry: known, fetched: false };
      this.logger.warn(
        `the cached artifact ${known.id} failed verification (${problem}): fetching it again`,
      );
      await this.remove(known);
    }
    return { entry: await this.download(target, uri), fetched: true };
  }

  /** null when the entry's files are the version's; else what is wrong. */
  private async verify(entry: Entry): Promise<string | null> {
    const before = await identity(entry.dir);
    if (typeof before === 'string') return before;
    if (entry.verified !== null && before.key === entry.verified) return null;
    const files: ManifestFile[] = [];
    try {
      // One file at a time: an artifact may have hundreds.
      for (const f of before.files)
        files.push({
          path: f.path,
          sizeBytes: f.sizeBytes,
          sha256: await fileSha256(join(entry.dir, ...f.path.split('/'))),
        });
    } catch (e) {
      return `reading it failed: ${(e as Error).message}`;
    }
    const after = await identity(entry.dir);
    if (typeof after === 'string') return after;
    if (after.key !== before.key)
      return 'its files changed while they were hashed';
    const digest = artifactDigest(files);
    if (digest !== entry.sha256)
      return `its files hash to ${digest}, not ${entry.sha256}`;
    entry.verified = after.key;
    const bytes = files.reduce((n, f) => n + f.sizeBytes, 0);
    this.usedBytes += bytes - entry.bytes;
    entry.bytes = bytes;
    return null;
  }

  /**
   * Downloads the target into a temporary folder, verifies it as a whole and renames it
   * into place; room is made first.
   */
  private async download(target: Target, uri: string): Promise<Entry> {
    const startedMs = Date.now();
    const remote = await this.remoteFiles(target, uri);
    const total = remote.reduce((n, f) => n + f.sizeBytes, 0);
    await this.makeRoom(total);
    const temp = join(this.dir, TMP_DIR, randomBytes(8).toString('hex'));
    try {
      const files: ManifestFile[] = [];
      for (const f of remote) {
        const got = await this.fetchFile(
          f.uri,
          join(temp, ...f.path.split('/')),
        );
        files.push({ path: f.path, ...got });
      }
      const digest = artifactDigest(files);
      if (digest !== target.sha256)
        throw new StorageError(
          'DIGEST_MISMATCH',
          `artifact ${uri}: the store's ${files.length === 1 ? 'file hashes' : `${files.length} files hash`} to ${digest}, not the version's sha256 ${target.sha256}`,
        );
      // Read-only: nothing on this node is meant to write there (verification does
      // not rely on it).
      await Promise.all(
        files.map((f) => chmod(join(temp, ...f.path.split('/')), 0o444)),
      );
      const dir = join(this.dir, ...target.id.split('/'));
      await this.moveIntoPlace(temp, dir);
      const id = await identity(dir);
      const bytes = files.reduce((n, f) => n + f.sizeBytes, 0);
      const entry: Entry = {
        id: target.id,
        sha256: target.sha256,
        dir,
        bytes,
        lastUsedMs: Date.now(),
        verified: typeof id === 'string' ? null : id.key,
      };
      this.entries.set(entry.id, entry);
      this.usedBytes += bytes;
      this.logger.log(
        `fetched ${uri} into the artifact cache: ${files.length} file${files.length === 1 ? '' : 's'}, ${bytes} bytes in ${Date.now() - startedMs} ms (the cache holds ${this.usedBytes} of ${this.maxBytes} bytes)`,
      );
      void this.makeRoom(0);
      return entry;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** What the store holds for the target: its folder's files, or its one object. */
  private async remoteFiles(
    target: Target,
    uri: string,
  ): Promise<RemoteFile[]> {
    if (target.folderPrefix === null) {
      const { sizeBytes } = await this.driver.stat(uri);
      return [{ uri, path: target.file, sizeBytes }];
    }
    const files: RemoteFile[] = [];
    for await (const item of this.driver.list(target.folderPrefix))
      files.push({
        uri: item.uri,
        path: item.key.slice(target.folderPrefix.length),
        sizeBytes: item.sizeBytes,
      });
    if (files.length === 0)
      throw new StorageError('NOT_FOUND', `artifact ${uri} does not exist`);
    return files;
  }

  /** One object into `path` (a new file), hashed on the way. */
  private async fetchFile(
    uri: string,
    path: string,
  ): Promise<{ sha256: string; sizeBytes: number }> {
    await mkdir(dirname(path), { recursive: true });
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      await pipeline(
        await this.driver.read(uri),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            sizeBytes += chunk.length;
            done(null, chunk);
          },
        }),
        createWriteStream(path, { flags: 'wx' }),
      );
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new StorageError(
        'IO',
        `fetching ${uri} into the artifact cache failed: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  }

  /** Renames `temp` to `dir`; whatever was at `dir` (not an entry this process knows) goes. */
  private async moveIntoPlace(temp: string, dir: string): Promise<void> {
    await mkdir(dirname(dir), { recursive: true });
    try {
      await rename(temp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await this.discard(dir);
      await rename(temp, dir);
    }
  }

  /**
   * Deletes least recently used entries no lease holds (nor a download or verification
   * of) until the entries and `incoming` bytes fit in maxBytes, or none is left to
   * delete: then says once that the entries in use alone are over the limit.
   */
  private async makeRoom(incoming: number): Promise<void> {
    const need = () => this.usedBytes + incoming - this.maxBytes;
    if (need() <= 0) {
      this.overWarned = false;
      return;
    }
    const idle = [...this.entries.values()]
      .filter((e) => this.refCount(e.id) === 0 && !this.work.has(e.id))
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    const removing: Promise<void>[] = [];
    for (const entry of idle) {
      if (need() <= 0) break;
      this.logger.log(
        `deleting ${entry.id} from the artifact cache (${entry.bytes} bytes, last used ${new Date(entry.lastUsedMs).toISOString()}): the cache is over its ${this.maxBytes} bytes`,
      );
      removing.push(this.remove(entry));
    }
    if (need() > 0 && !this.overWarned) {
      this.overWarned = true;
      this.logger.warn(
        `the artifact cache holds ${this.usedBytes} bytes${incoming > 0 ? ` and is fetching ${incoming} more` : ''}, over its limit of ${this.maxBytes} (runtime.artifact_cache.max_size): what is left is in use, and is deleted only once no loaded model uses it`,
      );
    } else if (need() <= 0) this.overWarned = false;
    await Promise.all(removing);
  }

  /** Forgets the entry at once and deletes its folder (a new download of it waits). */
  private remove(entry: Entry): Promise<void> {
    if (this.entries.get(entry.id) === entry) {
      this.entries.delete(entry.id);
      this.usedBytes -= entry.bytes;
    }
    const done = this.discard(entry.dir)
      .then(() => rmdir(dirname(entry.dir)).catch(() => undefined))
      .catch((e: unknown) =>
        this.logger.warn(
          `deleting ${entry.dir} from the artifact cache failed: ${(e as Error).message}`,
        ),
      )
      .finally(() => {
        if (this.removals.get(entry.id) === done)
          this.removals.delete(entry.id);
      });
    this.removals.set(entry.id, done);
    return done;
  }

  /** Moves `dir` into `.tmp` (at once, atomically) and deletes it there. */
  private async discard(dir: string): Promise<void> {
    const trash = join(
      this.dir,
      TMP_DIR,
      `${randomBytes(8).toString('hex')}.trash`,
    );
    try {
      await rename(dir, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await rm(trash, { recursive: true, force: true });
  }

  /** The entries a previous process left: `<model id>/<sha256>/` folders. */
  private async scan(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await rm(join(this.dir, TMP_DIR), { recursive: true, force: true });
    await mkdir(join(this.dir, TMP_DIR));
    for (const model of await readdir(this.dir, { withFileTypes: true })) {
      if (!model.isDirectory() || !isEntryModel(model.name)) continue;
      const modelDir = join(this.dir, model.name);
      let digests: Dirent[];
      try {
        digests = await readdir(modelDir, { withFileTypes: true });
      } catch (e) {
        // Not one of ours: a volume's root holds `lost+found`, which only root may read.
        this.logger.warn(
          `the artifact cache skips ${modelDir}: it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
        continue;
      }
      for (const digest of digests) {
        if (!digest.isDirectory() || !SHA256_HEX.test(digest.name)) continue;
        const dir = join(modelDir, digest.name);
        const found = await identity(dir);
        if (typeof found === 'string') {
          await this.discard(dir);
          continue;
        }
        const bytes = found.files.reduce((n, f) => n + f.sizeBytes, 0);
        const entry: Entry = {
          id: `${model.name}/${digest.name}`,
          sha256: digest.name,
          dir,
          bytes,
          lastUsedMs: (await stat(dir)).mtimeMs,
          verified: null,
        };
        this.entries.set(entry.id, entry);
        this.usedBytes += bytes;
      }
    }
    if (this.entries.size > 0)
      this.logger.log(
        `the artifact cache in ${this.dir} holds ${this.entries.size} artifacts, ${this.usedBytes} bytes (limit ${this.maxBytes}); each is verified on its first use`,
      );
    await this.makeRoom(0);
  }
}

/** A model id as a folder name of the cache (`.tmp` and the like are the cache's own). */
function isEntryModel(name: string): boolean {
  return !name.startsWith('.') && !name.includes('/') && isValidKey(name);
}

function assertEntryModel(name: string): string {
  if (!isEntryModel(name))
    throw new StorageError(
      'INVALID_URI',
      `"${name}" cannot name an artifact cache entry`,
    );
  return name;
}

/**
 * The files of an entry folder (relative paths, sizes) and a key that changes whenever
 * any of them is written, replaced, added or removed; or what is wrong with the folder
 * (gone, empty, holding something other than files and folders).
 */
async function identity(dir: string): Promise<
  | {
      files: { path: string; sizeBytes: number }[];
      key: string;
    }
  | string
> {
  const files: { path: string; sizeBytes: number; stamp: string }[] = [];
  const walk = async (rel: string): Promise<string | null> => {
    let items: Dirent[];
    try {
      items = await readdir(rel === '' ? dir : join(dir, rel), {
        withFileTypes: true,
      });
    } catch (e) {
      return `its folder cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
    for (const item of items) {
      const path = rel === '' ? item.name : `${rel}/${item.name}`;
      if (item.isDirectory()) {
        const problem = await walk(path);
        if (problem) return problem;
      } else if (item.isFile()) {
        let s;
        try {
          s = await stat(join(dir, path), { bigint: true });
        } catch (e) {
          return `${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
        }
        files.push({
          path,
          sizeBytes: Number(s.size),
          stamp: `${s.size}:${s.ino}:${s.mtimeNs}:${s.ctimeNs}`,
        });
      } else return `it holds ${path}, which is not a file`;
    }
    return null;
  };
  const problem = await walk('');
  if (problem) return problem;
  if (files.length === 0) return 'it holds no file';
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    files: files.map(({ path, sizeBytes }) => ({ path, sizeBytes })),
    key: files.map((f) => `${f.path}\0${f.stamp}`).join('\n'),
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
