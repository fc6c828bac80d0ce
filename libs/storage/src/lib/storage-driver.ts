import type { Readable } from 'node:stream';

/**
 * Where artifacts live. Artifacts are addressed by URI: `local:<key>` for the local
 * filesystem, `s3://<bucket>/<prefix>/<key>`, `gs://<bucket>/<prefix>/<key>` and
 * `az://<container>/<prefix>/<key>` for the cloud stores. Keys are relative,
 * slash-separated paths chosen by the storage service: `<model id>/<sha256>/<file>`,
 * so identical bytes for one model are stored once. A driver answers only for URIs of
 * its own scheme, bucket (or root) and prefix; any other URI is `INVALID_URI`.
 *
 * Writes go to a temporary location and become visible only on `commit`, atomically:
 * a reader never sees half an artifact, and an aborted ingest leaves nothing behind.
 */
export interface StorageDriver {
  readonly scheme: string;
  /**
   * A writer to a temporary location, hashing (sha256) as it writes. The location
   * exists when this resolves, so an `abort` at any time after removes it.
   */
  createWriter(): Promise<ArtifactWriter>;
  /**
   * Stores a whole stream through a writer (nothing is held in memory beyond a chunk):
   * the key may depend on the digest (`(d) => \`m/${d.sha256}/model.onnx\``). With
   * `expectedSha256`, other bytes are refused with `DIGEST_MISMATCH` and nothing is stored.
   * A failing source aborts the write and rejects with the source's error.
   */
  put(
    source: AsyncIterable<Uint8Array>,
    key: string | ((digest: ArtifactDigest) => string),
    options?: PutOptions,
  ): Promise<PutResult>;
  /**
   * The artifact's bytes, or those of `range` (clipped to the artifact: a range that
   * starts at or after the end gives an empty stream). Rejects with `NOT_FOUND` before
   * any byte when the artifact does not exist.
   */
  read(uri: string, range?: ByteRange): Promise<Readable>;
  /** Rejects with `NOT_FOUND` when the artifact does not exist. */
  stat(uri: string): Promise<ArtifactStat>;
  /**
   * Every committed artifact whose key starts with `keyPrefix` (a plain string prefix,
   * `''` for all), page by page as the store returns them, in no particular order.
   * Temporary locations are never listed.
   */
  list(keyPrefix: string): AsyncIterable<ListedArtifact>;
  exists(uri: string): Promise<boolean>;
  /**
   * A path on this machine's filesystem holding the artifact, for runtimes to load
   * from (frameworks load fastest, and with least memory, from a file path), with the
   * other files of its artifact folder beside it (`<model id>/<sha256>/...`: the
   * external data of a several-file upload). Local storage returns the file itself;
   * remote drivers download the folder into a node-local directory, each file verified,
   * and keep it there without limit. Runtimes read remote stores through ArtifactCache
   * instead (bounded, least recently used out, verified again on use).
   */
  localPath(uri: string): Promise<string>;
  /** True when there was an artifact to delete. */
  delete(uri: string): Promise<boolean>;
  uriFor(key: string): string;
  /** The key of one of this driver's URIs (`uriFor`'s inverse); INVALID_URI for any other. */
  keyOf(uri: string): string;
}

export interface ArtifactWriter {
  /** Resolves when the chunk is on its way to disk (backpressure respected). */
  write(chunk: Uint8Array): Promise<void>;
  readonly bytesWritten: number;
  /**
   * sha256 (hex) of everything written; only after `finish`. `tempPath` is a file on
   * this machine holding the bytes until commit or abort (for inspection).
   */
  finish(): Promise<ArtifactDigest & { tempPath: string }>;
  /**
   * Moves the finished artifact to `key`. When `key` already exists (same bytes,
   * same key), the temporary file is dropped and `created` is false.
   */
  commit(key: string): Promise<{ uri: string; created: boolean }>;
  /** Resolves once the temporary location is gone. */
  abort(): Promise<void>;
}

export interface ArtifactDigest {
  readonly sha256: string;
  readonly sizeBytes: number;
}

export interface PutOptions {
  /** sha256 (hex) the bytes must have. */
  readonly expectedSha256?: string;
}

export interface PutResult extends ArtifactDigest {
  readonly uri: string;
  readonly created: boolean;
}

/** Bytes `[offset, offset + length)`; without `length`, to the end. */
export interface ByteRange {
  readonly offset: number;
  readonly length?: number;
}

export interface ArtifactStat {
  readonly sizeBytes: number;
  readonly modified: Date;
  /**
   * The sha256 the cloud drivers record with an object when they commit it (absent for
   * local files and for objects other tools wrote). As recorded: stat does not read
   * the bytes to check it.
   */
  readonly sha256?: string;
}

export interface ListedArtifact extends ArtifactStat {
  readonly key: string;
  readonly uri: string;
}

export type StorageErrorCode =
  | 'INVALID_URI'
  | 'INVALID_RANGE'
  | 'NOT_FOUND'
  | 'DIGEST_MISMATCH'
  | 'CONFIG'
  | 'IO';

export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
