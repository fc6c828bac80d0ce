import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import {
  makeTempDir,
  S3RVER_CREDENTIALS,
  startS3rver,
  ThrowawayStorageServer,
} from '@portfolio/testing';

import { bytes, storageDriverContract } from '../storage-contract.testing';
import {
  createStorageDriver,
  StorageSettings,
} from '../storage-driver.factory';
import { S3DriverOptions, S3StorageDriver } from './s3.driver';

const MiB = 1024 * 1024;

/** The S3 driver against s3rver, a real S3 protocol server (one per file). */
describe(S3StorageDriver.name, () => {
  let server: ThrowawayStorageServer;
  const savedEnv = { ...process.env };
  const open: { driver: S3StorageDriver; workDir: string }[] = [];

  beforeAll(async () => {
    server = await startS3rver(['models', 'whole']);
    // Credentials the way the SDK reads them by default: from the environment.
    process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
    // The SDK's notice that its later versions need Node 22 (this one is pinned).
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  });
  afterAll(async () => {
    process.env = savedEnv;
    await server?.stop();
  });
  afterEach(() => {
    for (const { driver, workDir } of open.splice(0)) {
      driver.destroy();
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  async function makeDriver(
    options: Partial<S3DriverOptions> = {},
  ): Promise<{ driver: S3StorageDriver; workDir: string }> {
    const workDir = makeTempDir('s3-driver');
    const driver = new S3StorageDriver({
      bucket: 'models',
      prefix: `t/${randomBytes(6).toString('hex')}`,
      endpoint: server.url,
      region: 'us-east-1',
      forcePathStyle: true,
      workDir,
      // The smallest S3 allows, so that the contract's large artifact goes up in parts.
      partSizeBytes: 5 * MiB,
      listPageSize: 3,
      ...options,
    });
    await driver.init();
    open.push({ driver, workDir });
    return { driver, workDir };
  }

  describe('the storage driver contract', () => {
    storageDriverContract(
      async () => {
        const { driver, workDir } = await makeDriver();
        return {
          driver,
          leftovers: async () => readdirSync(join(workDir, '.ingest')),
        };
      },
      { largeBytes: 6 * MiB + 17, recordsSha256: true },
    );
  });

  it('addresses s3://<bucket>/<prefix>/<key>, and the whole bucket without a prefix', async () => {
    const { driver: inPrefix } = await makeDriver({ prefix: 'a/b' });
    const { driver: whole } = await makeDriver({
      bucket: 'whole',
      prefix: '',
    });
    expect(inPrefix.uriFor('m/1/x.onnx')).toBe('s3://models/a/b/m/1/x.onnx');
    const stored = await whole.put(Readable.from([bytes(10)]), 'm/1/x.onnx');
    expect(stored.uri).toBe('s3://whole/m/1/x.onnx');
    expect((await whole.stat(stored.uri)).sizeBytes).toBe(10);
  });

  it('keeps stores of different prefixes apart', async () => {
    const { driver: one } = await makeDriver();
    const { driver: two } = await makeDriver();
    const { uri } = await one.put(Readable.from([bytes(10)]), 'm/1/x.onnx');

    const seen: string[] = [];
    for await (const item of two.list('')) seen.push(item.key);

    expect(seen).toEqual([]);
    await expect(two.stat(uri)).rejects.toMatchObject({ code: 'INVALID_URI' });
  });

  it('is made by the factory from the storage settings', async () => {
    const workDir = makeTempDir('s3-factory');
    const settings: StorageSettings = {
      driver: 's3',
      workDir,
      local: { root: '/unused' },
      s3: {
        bucket: 'models',
        prefix: 'factory',
        region: 'us-east-1',
        endpoint: server.url,
        forcePathStyle: true,
      },
      gcs: { bucket: null, prefix: '', projectId: null, endpoint: null },
      azure: { container: null, prefix: '', accountUrl: null },
    };
    const driver = await createStorageDriver(settings);
    try {
      const { uri } = await driver.put(Readable.from([bytes(3)]), 'm/1/x');
      expect(uri).toBe('s3://models/factory/m/1/x');
      expect(await driver.exists(uri)).toBe(true);
    } finally {
      (driver as S3StorageDriver).destroy();
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('reports a store it cannot reach as IO, naming the object', async () => {
    const { driver } = await makeDriver({ endpoint: 'http://127.0.0.1:9' });
    await expect(driver.stat(driver.uriFor('m/1/x'))).rejects.toMatchObject({
      code: 'IO',
      message: expect.stringContaining('s3://models/'),
    });
  });
});
