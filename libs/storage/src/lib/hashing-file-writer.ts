import { createHash, Hash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import { ArtifactDigest, StorageError } from './storage-driver';

/**
 * A new temporary file in `dir` that hashes (sha256) what is written to it: the
 * writers of every driver spool through one (the local driver in its root, so the
 * commit is a link; the cloud drivers in their node-local work directory, uploaded at
 * commit). Only the writer that made it removes it.
 */
export class HashingFileWriter {
  private readonly stream: WriteStream;
  private readonly hash: Hash = createHash('sha256');
  private written = 0;
  private finished: ArtifactDigest | null = null;
  private failure: Error | null = null;

  private constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'wx' });
    this.stream.on('error', (e) => (this.failure = e));
  }

  /**
   * Resolves once the file exists. The stream opens it in the background; a writer
   * handed out before that could be aborted before the open lands, and the file would
   * then be created after abort() had already removed nothing.
   */
  static async create(dir: string): Promise<HashingFileWriter> {
    const writer = new HashingFileWriter(
      join(dir, `${Date.now()}-${randomBytes(8).toString('hex')}.part`),
    );
    try {
      await once(writer.stream, 'ready');
    } catch (e) {
      throw new StorageError(
        'IO',
        `creating the temporary file failed: ${(e as Error).message}`,
      );
    }
    return writer;
  }

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure)
      throw new StorageError(
        'IO',
        `writing the artifact failed: ${this.failure.message}`,
      );
    if (this.finished) throw new Error('write after finish');
    this.hash.update(chunk);
    this.written += chunk.byteLength;
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolveDrain, reject) => {
        const onError = (e: Error) =>
          reject(
            new StorageError('IO', `writing the artifact failed: ${e.message}`),
          );
        this.stream.once('error', onError);
        this.stream.once('drain', () => {
          this.stream.off('error', onError);
          resolveDrain();
        });
      });
    }
  }

  /** Flushes and closes the file; the digest of everything written. */
  async finish(): Promise<ArtifactDigest> {
    if (this.finished) return this.finished;
    await new Promise<void>((resolveEnd, reject) => {
      if (this.failure) return reject(this.failure);
      this.stream.end(() =>
        this.failure ? reject(this.failure) : resolveEnd(),
      );
    }).catch((e: Error) => {
      throw new StorageError('IO', `writing the artifact failed: ${e.message}`);
    });
    this.finished = {
      sha256: this.hash.digest('hex'),
      sizeBytes: this.written,
    };
    return this.finished;
  }

  /** Resolves once the stream is closed and the file is gone. */
  async remove(): Promise<void> {
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolveClose) =>
        this.stream.once('close', () => resolveClose()),
      );
      this.stream.destroy();
      await closed;
    }
    await rm(this.path, { force: true });
  }
}
