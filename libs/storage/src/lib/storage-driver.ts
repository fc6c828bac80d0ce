/**
 * Where artifacts live. Artifacts are addressed by URI (`local:<key>` for the local
 * filesystem; `s3://`, `gs://`, `az://` come with their drivers). Keys are relative,
 * slash-separated paths chosen by the storage service: `<model id>/<sha256>/<file>`,
 * so identical bytes for one model are stored once.
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
  exists(uri: string): Promise<boolean>;
  /**
   * A path on this machine's filesystem holding the artifact, for runtimes to load
   * from (frameworks load fastest, and with least memory, from a file path). Local
   * storage returns the file itself; remote drivers download into a node-local cache.
   */
  localPath(uri: string): Promise<string>;
  delete(uri: string): Promise<boolean>;
  uriFor(key: string): string;
}

export interface ArtifactWriter {
  /** Resolves when the chunk is on its way to disk (backpressure respected). */
  write(chunk: Uint8Array): Promise<void>;
  readonly bytesWritten: number;
  /** sha256 (hex) of everything written; only after `finish`. */
  finish(): Promise<{ sha256: string; sizeBytes: number; tempPath: string }>;
  /**
   * Moves the finished artifact to `key`. When `key` already exists (same bytes,
   * same key), the temporary file is dropped and `created` is false.
   */
  commit(key: string): Promise<{ uri: string; created: boolean }>;
  /** Resolves once the temporary location is gone. */
  abort(): Promise<void>;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: 'INVALID_URI' | 'NOT_FOUND' | 'IO',
    message: string,
  ) {
    super(message);
  }
}
