import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

import { AzureBlobStorageDriver } from './azure/azure-blob.driver';
import { GcsStorageDriver } from './gcs/gcs.driver';
import { LocalStorageDriver } from './local/local.driver';
import { S3StorageDriver } from './s3/s3.driver';
import { createStorageDriver, StorageSettings } from './storage-driver.factory';

describe(createStorageDriver.name, () => {
  const savedEnv = { ...process.env };
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portfolio-storage-factory-'));
    // No credentials or regions of the machine the tests run on.
    for (const name of Object.keys(process.env))
      if (/^(AWS_|AZURE_STORAGE_)/.test(name)) delete process.env[name];
    // The SDK's notice that its later versions need Node 22 (this one is pinned).
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
    process.env['AWS_CONFIG_FILE'] = join(dir, 'no-aws-config');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(
      dir,
      'no-aws-credentials',
    );
  });
  afterEach(() => {
    process.env = { ...savedEnv };
    rmSync(dir, { recursive: true, force: true });
  });

  const settings = (over: Partial<StorageSettings>): StorageSettings => ({
    driver: 'local',
    workDir: join(dir, 'work'),
    local: { root: join(dir, 'artifacts') },
    s3: {
      bucket: 'models',
      prefix: 'p',
      region: 'eu-west-1',
      endpoint: null,
      forcePathStyle: false,
    },
    gcs: {
      bucket: 'models',
      prefix: '',
      projectId: 'demo-portfolio',
      endpoint: null,
    },
    azure: { container: 'models', prefix: 'p', accountUrl: null },
    ...over,
  });

  it('makes the local driver, its root ready', async () => {
    const driver = await createStorageDriver(settings({ driver: 'local' }));
    expect(driver).toBeInstanceOf(LocalStorageDriver);
    expect(statSync(join(dir, 'artifacts', '.ingest')).isDirectory()).toBe(
      true,
    );
  });

  it('makes each cloud driver from its section, contacting no store', async () => {
    process.env['AZURE_STORAGE_CONNECTION_STRING'] =
      'DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.windows.net';
    const s3 = await createStorageDriver(settings({ driver: 's3' }));
    const gcs = await createStorageDriver(settings({ driver: 'gcs' }));
    const azure = await createStorageDriver(settings({ driver: 'azure' }));
    expect(s3).toBeInstanceOf(S3StorageDriver);
    expect(gcs).toBeInstanceOf(GcsStorageDriver);
    expect(azure).toBeInstanceOf(AzureBlobStorageDriver);
    expect(s3.uriFor('m/1/x')).toBe('s3://models/p/m/1/x');
    expect(gcs.uriFor('m/1/x')).toBe('gs://models/m/1/x');
    expect(azure.uriFor('m/1/x')).toBe('az://models/p/m/1/x');
    expect(statSync(join(dir, 'work', '.ingest')).isDirectory()).toBe(true);
    (s3 as S3StorageDriver).destroy();
  });

  it.each<[StorageSettings['driver'], Partial<StorageSettings>, string]>([
    [
      's3',
      {
        s3: {
          bucket: null,
          prefix: '',
          region: 'x',
          endpoint: null,
          forcePathStyle: false,
        },
      },
      'storage.s3.bucket (PORTFOLIO_STORAGE_S3_BUCKET) is required with this storage driver',
    ],
    [
      'gcs',
      { gcs: { bucket: null, prefix: '', projectId: null, endpoint: null } },
      'storage.gcs.bucket (PORTFOLIO_STORAGE_GCS_BUCKET) is required with this storage driver',
    ],
    [
      'azure',
      { azure: { container: null, prefix: '', accountUrl: null } },
      'storage.azure.container (PORTFOLIO_STORAGE_AZURE_CONTAINER) is required with this storage driver',
    ],
    [
      's3',
      {
        s3: {
          bucket: 'models',
          prefix: '',
          region: null,
          endpoint: null,
          forcePathStyle: false,
        },
      },
      'S3 needs a region: set storage.s3.region (PORTFOLIO_STORAGE_S3_REGION), AWS_REGION, or a region in the AWS profile',
    ],
    [
      'azure',
      {},
      'Azure Blob storage needs an account: set storage.azure.account_url (PORTFOLIO_STORAGE_AZURE_ACCOUNT_URL) or AZURE_STORAGE_CONNECTION_STRING',
    ],
  ])(
    'refuses %s settings it cannot work with, naming the setting',
    async (driver, over, message) => {
      await expect(
        createStorageDriver(settings({ driver, ...over })),
      ).rejects.toMatchObject({
        name: 'StorageError',
        code: 'CONFIG',
        message: expect.stringContaining(message),
      });
    },
  );

  it('takes the region from AWS_REGION, as the SDK does', async () => {
    process.env['AWS_REGION'] = 'ap-south-1';
    const driver = await createStorageDriver(
      settings({
        driver: 's3',
        s3: {
          bucket: 'models',
          prefix: '',
          region: null,
          endpoint: null,
          forcePathStyle: false,
        },
      }),
    );
    expect(driver).toBeInstanceOf(S3StorageDriver);
    (driver as S3StorageDriver).destroy();
  });

  it("works in a directory of this user's under the temp directory by default", async () => {
    const driver = await createStorageDriver(
      settings({ driver: 'gcs', workDir: null }),
    );
    const expected = join(tmpdir(), `portfolio-storage-${userInfo().username}`);
    expect(statSync(join(expected, '.ingest')).isDirectory()).toBe(true);
    expect(statSync(expected).mode & 0o077).toBe(0);
    expect(driver.scheme).toBe('gs');
  });
});
