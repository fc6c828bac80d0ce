import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
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

export interface AzureBlobDriverOptions extends ObjectStoreOptions {
  readonly container: string;
  /**
   * `https://<account>.blob.core.windows.net` (a SAS token in its query string, or the
   * account key in AZURE_STORAGE_KEY). Unset: AZURE_STORAGE_CONNECTION_STRING.
   */
  readonly accountUrl?: string;
  /** The environment credentials are read from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Files up to this size go up in one request, larger ones in blocks of this size. Default 16 MiB. */
  readonly blockSizeBytes?: number;
}

/** Blocks uploaded at once: each is read from the spooled file, not held whole. */
const BLOCK_CONCURRENCY = 4;

/**
 * Artifacts as block blobs of one Azure Blob Storage container
 * (`az://<container>/<prefix>/<key>`; the account comes from the connection string or
 * the account URL), through `@azure/storage-blob`. Credentials follow the Azure tools'
 * variables: AZURE_STORAGE_CONNECTION_STRING (an account key or a SAS), or
 * `storage.azure.account_url` with a SAS token in it or with AZURE_STORAGE_KEY (the
 * account name from AZURE_STORAGE_ACCOUNT, else the URL). Entra ID identities would
 * need @azure/identity, which is not a dependency.
 */
export class AzureBlobStorageDriver extends ObjectStoreDriver {
  readonly scheme = 'az';
  readonly bucket: string;
  private readonly container: ContainerClient;
  private readonly blockSizeBytes: number;

  constructor(options: AzureBlobDriverOptions) {
    super(options);
    this.bucket = bucketName('Azure container', options.container);
    this.blockSizeBytes = options.blockSizeBytes ?? 16 * 1024 * 1024;
    this.container = serviceClient(
      options.accountUrl,
      options.env ?? process.env,
    ).getContainerClient(options.container);
  }

  protected async headObject(name: string): Promise<ArtifactStat | null> {
    try {
      const properties = await this.container
        .getBlobClient(name)
        .getProperties();
      return {
        sizeBytes: properties.contentLength ?? 0,
        modified: properties.lastModified ?? new Date(0),
        ...recordedSha256(properties.metadata?.[SHA256_METADATA]),
      };
    } catch (e) {
      if (status(e) === 404) return null;
      throw this.failure('reading the properties of', name, e);
    }
  }

  protected async getObject(
    name: string,
    range?: ObjectRange,
  ): Promise<Readable> {
    try {
      const response = await this.container
        .getBlobClient(name)
        .download(
          range?.start ?? 0,
          range ? range.end - range.start : undefined,
        );
      const body = response.readableStreamBody;
      if (!(body instanceof Readable))
        throw new Error('the response has no readable body');
      return range ? exactRange(body, range, response.contentRange) : body;
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
      // Blocks are staged invisibly; the blob appears when the block list is committed.
      await this.container.getBlockBlobClient(name).uploadFile(path, {
        blockSize: this.blockSizeBytes,
        maxSingleShotSize: this.blockSizeBytes,
        concurrency: BLOCK_CONCURRENCY,
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
        metadata: { [SHA256_METADATA]: digest.sha256 },
        // Create-only: 409 BlobAlreadyExists when the blob exists.
        conditions: { ifNoneMatch: '*' },
      });
      return true;
    } catch (e) {
      const code = status(e);
      if (code === 409 || code === 412) return false;
      throw this.failure('uploading', name, e);
    }
  }

  protected async deleteObject(name: string): Promise<boolean> {
    try {
      return (await this.container.getBlobClient(name).deleteIfExists())
        .succeeded;
    } catch (e) {
      throw this.failure('deleting', name, e);
    }
  }

  protected async *listObjects(
    namePrefix: string,
  ): AsyncIterable<StoredObject> {
    const pages = this.container
      .listBlobsFlat({ prefix: namePrefix })
      .byPage(this.listPageSize ? { maxPageSize: this.listPageSize } : {});
    try {
      for await (const page of pages)
        for (const blob of page.segment.blobItems)
          yield {
            name: blob.name,
            sizeBytes: blob.properties.contentLength ?? 0,
            modified: blob.properties.lastModified,
          };
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw this.failure('listing', `${namePrefix}*`, e);
    }
  }

  private failure(what: string, name: string, e: unknown): StorageError {
    return new StorageError(
      'IO',
      `Azure Blob: ${what} az://${this.bucket}/${name} failed: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

function serviceClient(
  accountUrl: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): BlobServiceClient {
  if (accountUrl) {
    const key = env['AZURE_STORAGE_KEY'];
    if (!key)
      return new BlobServiceClient(accountUrl, new AnonymousCredential());
    const account = env['AZURE_STORAGE_ACCOUNT'] ?? accountNameOf(accountUrl);
    return new BlobServiceClient(
      accountUrl,
      new StorageSharedKeyCredential(account, key),
    );
  }
  const connectionString = env['AZURE_STORAGE_CONNECTION_STRING'];
  if (!connectionString)
    throw new StorageError(
      'CONFIG',
      'Azure Blob storage needs an account: set storage.azure.account_url (PORTFOLIO_STORAGE_AZURE_ACCOUNT_URL) or AZURE_STORAGE_CONNECTION_STRING',
    );
  try {
    return BlobServiceClient.fromConnectionString(connectionString);
  } catch (e) {
    throw new StorageError(
      'CONFIG',
      `AZURE_STORAGE_CONNECTION_STRING is not a valid connection string: ${(e as Error).message}`,
    );
  }
}

/**
 * The account of `https://<account>.blob.core.windows.net`, or of an emulator's
 * path-style `http://127.0.0.1:10000/<account>`.
 */
function accountNameOf(accountUrl: string): string {
  const url = new URL(accountUrl);
  const pathStyle = /^[\d.]+$|^\[|^localhost$/.test(url.hostname);
  const name = pathStyle
    ? url.pathname.split('/').filter(Boolean)[0]
    : url.hostname.split('.')[0];
  if (!name)
    throw new StorageError(
      'CONFIG',
      `cannot tell the storage account from ${url.origin}${url.pathname}: set AZURE_STORAGE_ACCOUNT`,
    );
  return name;
}

/** The HTTP status of a RestError, when it has one. */
function status(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('statusCode' in e))
    return undefined;
  const code = (e as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}
