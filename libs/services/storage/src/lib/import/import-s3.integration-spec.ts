import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { Storage } from '@portfolio/contracts';
import { InProcessBus, Messaging } from '@portfolio/messaging';
import { StorageSettings } from '@portfolio/storage';
import {
  buildLargeModel,
  buildMlpModel,
  makeTempDir,
  S3RVER_CREDENTIALS,
  startS3rver,
  ThrowawayStorageServer,
} from '@portfolio/testing';

import {
  filesUnder,
  ingest,
  startStorage,
  StorageUnderTest,
} from '../storage.testing';
import { configuredImportSources } from './import-sources';

const MODEL = buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2 });

/**
 * Registration by URI from an S3 bucket (s3rver, a real S3 protocol server), read with
 * the configured S3 settings while artifacts are stored on the local driver.
 */
describe('importing an artifact from an S3 source', () => {
  let server: ThrowawayStorageServer;
  let root: string;
  let bus: InProcessBus;
  let storage: StorageUnderTest;
  let client: Messaging;
  let graph: Buffer;
  let weights: Buffer;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    server = await startS3rver(['incoming']);
    process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
    const s3 = new S3Client({
      endpoint: server.url,
      region: 'us-east-1',
      forcePathStyle: true,
    });
    const dir = makeTempDir('s3-import-model');
    buildLargeModel({
      weightBytes: 16 * 1024,
      externalData: true,
      dir,
      name: 'big',
    });
    graph = readFileSync(join(dir, 'big.onnx'));
    weights = readFileSync(join(dir, 'big.data'));
    rmSync(dir, { recursive: true, force: true });
    for (const [key, body] of [
      ['models/iris.onnx', MODEL],
      ['models/big/big.onnx', graph],
      ['models/big/big.data', weights],
      ['elsewhere/iris.onnx', MODEL],
    ] as const)
      await s3.send(
        new PutObjectCommand({ Bucket: 'incoming', Key: key, Body: body }),
      );
    s3.destroy();

    root = makeTempDir('s3-import-store');
    const settings: StorageSettings = {
      driver: 'local',
      workDir: makeTempDir('s3-import-work'),
      local: { root },
      s3: {
        bucket: null,
        prefix: '',
        region: 'us-east-1',
        endpoint: server.url,
        forcePathStyle: true,
      },
      gcs: { bucket: null, prefix: '', projectId: null, endpoint: null },
      azure: { container: null, prefix: '', accountUrl: null },
    };
    bus = new InProcessBus();
    storage = await startStorage({
      bus,
      prefix: 'test',
      root,
      importSources: configuredImportSources(
        ['s3://incoming/models'],
        settings,
      ),
    });
    client = new Messaging(bus, 'test', 20_000);
  }, 60_000);
  afterAll(async () => {
    process.env = savedEnv;
    await storage?.close();
    await bus?.close();
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const importUri = (uri: string) =>
    client.call(
      Storage.importUri,
      { model_id: 'iris', format: 'onnx', uri },
      { timeoutMs: 20_000 },
    );

  it('imports an object as the artifact an upload of its bytes makes', async () => {
    const uploaded = await ingest(client, 'iris', MODEL);

    expect(await importUri('s3://incoming/models/iris.onnx')).toEqual({
      ...uploaded,
      created: false,
    });
  });

  it('imports a folder as one artifact, the model with its external data', async () => {
    const res = await importUri('s3://incoming/models/big/');

    expect(res.artifact_uri).toBe(`local:iris/${res.sha256}/big.onnx`);
    expect(readFileSync(join(root, 'iris', res.sha256, 'big.data'))).toEqual(
      weights,
    );
  });

  it('refuses the same bucket outside the source folder, and a missing object', async () => {
    await expect(
      importUri('s3://incoming/elsewhere/iris.onnx'),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    await expect(
      importUri('s3://incoming/models/nope.onnx'),
    ).rejects.toMatchObject({
      code: 'ARTIFACT_NOT_FOUND',
    });
    expect(filesUnder(root).filter((f) => f.includes('nope'))).toEqual([]);
  });
});
