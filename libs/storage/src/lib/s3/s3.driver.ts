import {
  AbortMultipartUploadCommand,
  CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

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

export interface S3DriverOptions extends ObjectStoreOptions {
  readonly bucket: string;
  /** Default: the SDK's (AWS_REGION, the profile's region in ~/.aws/config). */
  readonly region?: string;
  /** An S3-compatible store or an emulator, e.g. http://127.0.0.1:9000. */
  readonly endpoint?: string;
  /** `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>`. */
  readonly forcePathStyle?: boolean;
  /**
   * Files up to this size are uploaded with one PUT, larger ones as a multipart upload
   * of parts this size (at least 5 MiB, S3's minimum; more when 10,000 parts would not
   * hold the file). Default 16 MiB.
   */
  readonly partSizeBytes?: number;
}

const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Parts uploaded at once: each is a stream from the spooled file, not a buffer. */
const PART_CONCURRENCY = 4;

/**
 * Artifacts as objects of one S3 bucket (`s3://<bucket>/<prefix>/<key>`), through
 * `@aws-sdk/client-s3`. Credentials come from the SDK's default chain (AWS_* variables,
 * ~/.aws profiles, web identity, the instance or container role).
 *
 * The SDK's default checksums (CRC32 trailers in aws-chunked bodies) are asked for only
 * where S3 requires them: S3-compatible stores and emulators do not all understand
 * them (s3rver stores the chunk framing as data), and every artifact is verified
 * against its sha256 by whoever downloads it.
 */
export class S3StorageDriver extends ObjectStoreDriver {
  readonly scheme = 's3';
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly partSizeBytes: number;

  constructor(options: S3DriverOptions) {
    super(options);
    this.bucket = bucketName('S3 bucket', options.bucket);
    this.partSizeBytes = Math.max(
      MIN_PART_BYTES,
      options.partSizeBytes ?? 16 * 1024 * 1024,
    );
    this.client = new S3Client({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Also makes sure a region is known: the SDK would only say so at the first request. */
  override async init(): Promise<void> {
    try {
      await this.client.config.region();
    } catch (e) {
      throw new StorageError(
        'CONFIG',
        `S3 needs a region: set storage.s3.region (PORTFOLIO_STORAGE_S3_REGION), AWS_REGION, or a region in the AWS profile (${(e as Error).message})`,
      );
    }
    await super.init();
  }

  /** Releases the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  protected async headObject(name: string): Promise<ArtifactStat | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: name }),
      );
      return {
        sizeBytes: head.ContentLength ?? 0,
        modified: head.LastModified ?? new Date(0),
        ...recordedSha256(head.Metadata?.[SHA256_METADATA]),
      };
    } catch (e) {
      if (status(e) === 404) return null;
      throw this.failure('reading the metadata of', name, e);
    }
  }

  protected async getObject(
    name: string,
    range?: ObjectRange,
  ): Promise<Readable> {
    try {
      const got = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: name,
          // HTTP ranges name the last byte, not the one after it.
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      // In Node the body is the response itself, an IncomingMessage.
      if (!(got.Body instanceof Readable))
        throw new Error('the response has no readable body');
      return range ? exactRange(got.Body, range, got.ContentRange) : got.Body;
    } catch (e) {
      if (status(e) === 404)
        throw this.notFound(`${this.scheme}://${this.bucket}/${name}`);
      throw this.failure('reading', name, e);
    }
  }

  protected async uploadFile(
    name: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<boolean> {
    try {
      if (digest.sizeBytes <= this.partSizeBytes) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: name,
            Body: createReadStream(path),
            ContentLength: digest.sizeBytes,
            ContentType: 'application/octet-stream',
            Metadata: { [SHA256_METADATA]: digest.sha256 },
            IfNoneMatch: '*',
          }),
        );
      } else {
        await this.multipartUpload(name, path, digest);
      }
      return true;
    } catch (e) {
      if (status(e) === 412) return false;
      throw this.failure('uploading', name, e);
    }
  }

  protected async deleteObject(name: string): Promise<boolean> {
    // S3 answers 204 whether or not the object was there.
    const existed = (await this.headObject(name)) !== null;
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: name }),
      );
    } catch (e) {
      if (status(e) !== 404) throw this.failure('deleting', name, e);
    }
    return existed;
  }

  protected async *listObjects(
    namePrefix: string,
  ): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: namePrefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (e) {
        throw this.failure('listing', `${namePrefix}*`, e);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          name: object.Key,
          sizeBytes: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Parts are streamed from ranges of the spooled file, a few at a time. The object
   * appears only when the upload is completed (create-only, like the single PUT); any
   * failure aborts the upload so that S3 drops the parts.
   */
  private async multipartUpload(
    name: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<void> {
    const size = digest.sizeBytes;
    const partSize = Math.max(this.partSizeBytes, Math.ceil(size / MAX_PARTS));
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: name,
        ContentType: 'application/octet-stream',
        Metadata: { [SHA256_METADATA]: digest.sha256 },
      }),
    );
    if (!UploadId) throw new Error('S3 returned no upload id');
    try {
      const count = Math.ceil(size / partSize);
      const parts: CompletedPart[] = new Array<CompletedPart>(count);
      let next = 0;
      let failed = false;
      const uploadParts = async () => {
        while (next < count && !failed) {
          const index = next++;
          const start = index * partSize;
          const end = Math.min(size, start + partSize);
          const { ETag } = await this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: name,
              UploadId,
              PartNumber: index + 1,
              Body: createReadStream(path, { start, end: end - 1 }),
              ContentLength: end - start,
            }),
          );
          parts[index] = { ETag, PartNumber: index + 1 };
        }
      };
      // Every part in flight ends before the abort below, or it could outlive it.
      const settled = await Promise.allSettled(
        Array.from({ length: Math.min(PART_CONCURRENCY, count) }, () =>
          uploadParts().catch((e: unknown) => {
            failed = true;
            throw e;
          }),
        ),
      );
      for (const result of settled)
        if (result.status === 'rejected') throw result.reason;
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: name,
          UploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      );
    } catch (e) {
      // Best effort: a store that cannot abort (s3rver) keeps invisible parts.
      await this.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.bucket,
            Key: name,
            UploadId,
          }),
        )
        .catch(() => undefined);
      throw e;
    }
  }

  private failure(what: string, name: string, e: unknown): StorageError {
    return new StorageError(
      'IO',
      `S3: ${what} s3://${this.bucket}/${name} failed: ${describe(e)}`,
      { cause: e },
    );
  }
}

/** The HTTP status of an SDK error, when it has one. */
function status(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('$metadata' in e))
    return undefined;
  const metadata = (e as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = status(e);
  return `${e.name}${code ? ` (HTTP ${code})` : ''}: ${e.message}`;
}
