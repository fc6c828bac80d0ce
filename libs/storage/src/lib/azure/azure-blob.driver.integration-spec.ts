import { BlobServiceClient } from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import {
  makeTempDir,
  startAzurite,
  ThrowawayAzurite,
} from '@portfolio/testing';

import { bytes, storageDriverContract } from '../storage-contract.testing';
import { createStorageDriver } from '../storage-driver.factory';
import {
  AzureBlobDriverOptions,
  AzureBlobStorageDriver,
} from './azure-blob.driver';

const MiB = 1024 * 1024;

/** The Azure Blob driver against azurite (one per file). */
describe(AzureBlobStorageDriver.name, () => {
  let server: ThrowawayAzurite;
  const savedEnv = { ...process.env };
  const workDirs: string[] = [];

  beforeAll(async () => {
    server = await startAzurite();
    // The account the way the Azure tools take it by default.
    process.env['AZURE_STORAGE_CONNECTION_STRING'] = server.connectionString;
    // Containers are the operator's to make, not the driver's.
    const service = BlobServiceClient.fromConnectionString(
      server.connectionString,
    );
    for (const name of ['models', 'whole'])
      await service.getContainerClient(name).createIfNotExists();
  });
  afterAll(async () => {
    process.env = savedEnv;
    await server?.stop();
  });
  afterEach(() => {
    for (const dir of workDirs.splice(0))
      rmSync(dir, { recursive: true, force: true });
  });

  async function makeDriver(
    options: Partial<AzureBlobDriverOptions> = {},
  ): Promise<{ driver: AzureBlobStorageDriver; workDir: string }> {
    const workDir = makeTempDir('azure-driver');
    workDirs.push(workDir);
    const driver = new AzureBlobStorageDriver({
      container: 'models',
      prefix: `t/${randomBytes(6).toString('hex')}`,
      workDir,
      // So that the contract's large artifact goes up in staged blocks.
      blockSizeBytes: MiB,
      listPageSize: 3,
      ...options,
    });
    await driver.init();
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
      { recordsSha256: true },
    );
  });

  it('addresses az://<container>/<prefix>/<key>, and the whole container without a prefix', async () => {
    const { driver: inPrefix } = await makeDriver({ prefix: 'a/b' });
    const { driver: whole } = await makeDriver({
      container: 'whole',
      prefix: '',
    });
    expect(inPrefix.uriFor('m/1/x.onnx')).toBe('az://models/a/b/m/1/x.onnx');
    const stored = await whole.put(Readable.from([bytes(10)]), 'm/1/x.onnx');
    expect(stored.uri).toBe('az://whole/m/1/x.onnx');
    expect((await whole.stat(stored.uri)).sizeBytes).toBe(10);
  });

  it('takes an account URL with the key in AZURE_STORAGE_KEY', async () => {
    const { driver: writer } = await makeDriver({ prefix: 'shared' });
    const { uri } = await writer.put(Readable.from([bytes(7)]), 'm/1/x');
    const { driver: reader } = await makeDriver({
      prefix: 'shared',
      accountUrl: server.accountUrl,
      env: { AZURE_STORAGE_KEY: server.accountKey },
    });
    expect((await reader.stat(uri)).sizeBytes).toBe(7);
  });

  it('reports a wrong account key as IO', async () => {
    const { driver } = await makeDriver({
      accountUrl: server.accountUrl,
      env: { AZURE_STORAGE_KEY: Buffer.from('wrong').toString('base64') },
    });
    await expect(driver.stat(driver.uriFor('m/1/x'))).rejects.toMatchObject({
      code: 'IO',
    });
  });

  it('is made by the factory from the storage settings', async () => {
    const workDir = makeTempDir('azure-factory');
    workDirs.push(workDir);
    const driver = await createStorageDriver({
      driver: 'azure',
      workDir,
      local: { root: '/unused' },
      s3: {
        bucket: null,
        prefix: '',
        region: null,
        endpoint: null,
        forcePathStyle: false,
      },
      gcs: { bucket: null, prefix: '', projectId: null, endpoint: null },
      azure: { container: 'models', prefix: 'factory', accountUrl: null },
    });
    const { uri } = await driver.put(Readable.from([bytes(3)]), 'm/1/x');
    expect(uri).toBe('az://models/factory/m/1/x');
    expect(await driver.exists(uri)).toBe(true);
  });
});
