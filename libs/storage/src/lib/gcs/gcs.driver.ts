import { Bucket, File, Storage } from '@google-cloud/storage';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  exactRange,
  ObjectRange,
  bucketName,
  ObjectStoreDriver,
  ObjectStoreOptions,
  StoredObject,
} from '../remote/object-store.driver';
import { ArtifactDigest, ArtifactStat, StorageError } from '../storage-driver';
import {
  recordedSha256,
  SHA256_METADATA,
} from '../remote/recorded-sha256.util';

export interface GcsDriverOptions extends ObjectStoreOptions {
  readonly bucket: string;
  /** Default: the SDK's (GOOGLE_CLOUD_PROJECT, the credentials' project). */
  readonly projectId?: string;
  /**
   * Another API endpoint (a private one, say). Emulators are reached through
   * STORAGE_EMULATOR_HOST, which the SDK reads itself.
   */
  readonly endpoint?: string;
  /** Files above this size go up as resumable uploads, smaller ones in one request. Default 8 MiB. */
  readonly resumableAboveBytes?: number;
}

/**
 * Artifacts as objects of one Cloud Storage bucket (`gs://<bucket>/<prefix>/<key>`),
 * through `@google-cloud/storage`. Credentials are Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, the metadata server).
 */
export class GcsStorageDriver extends ObjectStoreDriver {
  readonly scheme = 'gs';
  readonly bucket: string;
  private readonly store: Bucket;
  private readonly resumableAboveBytes: number;

  constructor(options: GcsDriverOptions) {
    super(options);
    this.bucket = bucketName('GCS bucket', options.bucket);
    this.resumableAboveBytes = options.resumableAboveBytes ?? 8 * 1024 * 1024;
    this.store = new Storage({
      ...(options.projectId ? { projectId: options.projectId } : {}),
      ...(options.endpoint ? { apiEndpoint: options.endpoint } : {}),
    }).bucket(options.bucket);
  }

  protected async headObject(name: string): Promise<ArtifactStat | null> {
    try {
      const [metadata] = await this.store.file(name).getMetadata();
      const custom = metadata.metadata?.[SHA256_METADATA];
      return {
        sizeBytes: Number(metadata.size ?? 0),
        modified: new Date(metadata.updated ?? 0),
        ...recordedSha256(typeof custom === 'string' ? custom : undefined),
      };
    } catch (e) {
      if (status(e) === 404) return null;
      throw this.failure('reading the metadata of', name, e);
    }
  }

  /**
   * Resolves once the response has begun, so that a missing object is NOT_FOUND here
   * rather than an error on the stream. A whole object is checked by the SDK against
   * the store's CRC32C as it arrives.
   */
  protected async getObject(
    name: string,
    range?: ObjectRange,
  ): Promise<Readable> {
    const stream = this.store
      .file(name)
      .createReadStream(
        range ? { start: range.start, end: range.end - 1 } : {},
      );
    const uri = `${this.scheme}://${this.bucket}/${name}`;
    const contentRange = await new Promise<string | undefined>(
      (resolve, reject) => {
        const onError = (e: unknown) => {
          stream.off('response', onResponse);
          reject(
            status(e) === 404
              ? this.notFound(uri)
              : this.failure('reading', name, e),
          );
        };
        const onResponse = (response: {
          statusCode?: number;
          headers?: Record<string, string | string[] | undefined>;
        }) => {
          // An error status is followed by an 'error' event, which settles this.
          if ((response.statusCode ?? 0) >= 300) return;
          stream.off('error', onError);
          const header = response.headers?.['content-range'];
          resolve(
            response.statusCode === 206 && typeof header === 'string'
              ? header
              : undefined,
          );
        };
        stream.once('error', onError);
        stream.on('response', onResponse);
        // The SDK sends the request at the stream's first read; read(0) asks for it
        // without taking any data (what arrives waits in the stream's buffer).
        stream.read(0);
      },
    );
    return range ? exactRange(stream, range, contentRange) : stream;
  }

  protected async uploadFile(
    name: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<boolean> {
    try {
      await pipeline(
        createReadStream(path),
        this.store.file(name).createWriteStream({
          resumable: digest.sizeBytes > this.resumableAboveBytes,
          contentType: 'application/octet-stream',
          metadata: { metadata: { [SHA256_METADATA]: digest.sha256 } },
          // Create-only: 412 when the object exists.
          preconditionOpts: { ifGenerationMatch: 0 },
        }),
      );
      return true;
    } catch (e) {
      if (status(e) === 412) return false;
      throw this.failure('uploading', name, e);
    }
  }

  protected async deleteObject(name: string): Promise<boolean> {
    try {
      await this.store.file(name).delete();
      return true;
    } catch (e) {
      if (status(e) === 404) return false;
      throw this.failure('deleting', name, e);
    }
  }

  protected async *listObjects(
    namePrefix: string,
  ): AsyncIterable<StoredObject> {
    let pageToken: string | undefined;
    do {
      let files: File[];
      let next: { pageToken?: string } | undefined | null;
      try {
        [files, next] = await this.store.getFiles({
          prefix: namePrefix,
          autoPaginate: false,
          ...(this.listPageSize ? { maxResults: this.listPageSize } : {}),
          ...(pageToken ? { pageToken } : {}),
        });
      } catch (e) {
        throw this.failure('listing', `${namePrefix}*`, e);
      }
      for (const file of files)
        yield {
          name: file.name,
          sizeBytes: Number(file.metadata.size ?? 0),
          modified: new Date(file.metadata.updated ?? 0),
        };
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  private failure(what: string, name: string, e: unknown): StorageError {
    return new StorageError(
      'IO',
      `GCS: ${what} gs://${this.bucket}/${name} failed: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/** The HTTP status of an API error (`code`), when it has one. */
function status(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
