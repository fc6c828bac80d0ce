import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import {
  makeTempDir,
  startGcsEmulator,
  ThrowawayStorageServer,
} from '@portfolio/testing';

import { bytes, storageDriverContract } from '../storage-contract.testing';
import { createStorageDriver } from '../storage-driver.factory';
import { GcsDriverOptions, GcsStorageDriver } from './gcs.driver';

const MiB = 1024 * 1024;

/**
 * The GCS driver against the Cloud Storage emulator of firebase-tools (one per file),
 * reached the way the SDK reaches emulators: STORAGE_EMULATOR_HOST.
 */
describe(GcsStorageDriver.name, () => {
  let server: ThrowawayStorageServer;
  const savedEnv = { ...process.env };
  const workDirs: string[] = [];

  beforeAll(async () => {
    server = await startGcsEmulator();
    process.env['STORAGE_EMULATOR_HOST'] = server.url;
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
    options: Partial<GcsDriverOptions> = {},
  ): Promise<{ driver: GcsStorageDriver; workDir: string }> {
    const workDir = makeTempDir('gcs-driver');
    workDirs.push(workDir);
    const driver = new GcsStorageDriver({
      bucket: 'models',
      prefix: `t/${randomBytes(6).toString('hex')}`,
      workDir,
      // So that the contract's large artifact goes up as a resumable upload.
      resumableAboveBytes: MiB,
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

  it('addresses gs://<bucket>/<prefix>/<key>, and the whole bucket without a prefix', async () => {
    const { driver: inPrefix } = await makeDriver({ prefix: 'a/b' });
    const { driver: whole } = await makeDriver({
      bucket: 'whole-bucket',
      prefix: '',
    });
    expect(inPrefix.uriFor('m/1/x.onnx')).toBe('gs://models/a/b/m/1/x.onnx');
    const stored = await whole.put(Readable.from([bytes(10)]), 'm/1/x.onnx');
    expect(stored.uri).toBe('gs://whole-bucket/m/1/x.onnx');
    expect((await whole.stat(stored.uri)).sizeBytes).toBe(10);
  });

  it('is made by the factory from the storage settings', async () => {
    const workDir = makeTempDir('gcs-factory');
    workDirs.push(workDir);
    const driver = await createStorageDriver({
      driver: 'gcs',
      workDir,
      local: { root: '/unused' },
      s3: {
        bucket: null,
        prefix: '',
        region: null,
        endpoint: null,
        forcePathStyle: false,
      },
      gcs: {
        bucket: 'models',
        prefix: 'factory',
        projectId: 'demo-portfolio',
        endpoint: null,
      },
      azure: { container: null, prefix: '', accountUrl: null },
    });
    const { uri } = await driver.put(Readable.from([bytes(3)]), 'm/1/x');
    expect(uri).toBe('gs://models/factory/m/1/x');
    expect(await driver.exists(uri)).toBe(true);
  });
});
