import { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { LoadModelRequest, PortfolioError } from '@portfolio/contracts';
import { artifactManifestDigest, S3StorageDriver } from '@portfolio/storage';
import { Tensor } from '@portfolio/tensor';
import {
  buildLargeModel,
  buildMlpModel,
  makeTempDir,
  mlpReference,
  S3RVER_CREDENTIALS,
  startS3rver,
  ThrowawayStorageServer,
} from '@portfolio/testing';

import { ModelHostService } from './model-host.service';
import {
  closeHost,
  expectClose,
  sampleInput,
  testRuntimeSettings,
} from './runtime.testing';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
const SIDE_WEIGHT_BYTES = 64 * 1024;

const sha256 = (data: Uint8Array) =>
  createHash('sha256').update(data).digest('hex');

/**
 * A runtime that shares no volume with storage: it reads an S3 store (s3rver, a real S3
 * protocol server) through its artifact cache. Loads fetch the artifact into the cache
 * and serve from there, a later load needs no store, and a cached file that was
 * corrupted is never loaded: fetched again when the store has it, a failed load when not.
 */
describe(`${ModelHostService.name} with a remote store and its artifact cache`, () => {
  let server: ThrowawayStorageServer;
  let store: S3StorageDriver;
  let workDir: string;
  let cacheDir: string;
  let sut: ModelHostService;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = await startS3rver(['models']);
    process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
    workDir = makeTempDir('runtime-s3-work');
    cacheDir = makeTempDir('runtime-artifact-cache');
    store = new S3StorageDriver({
      bucket: 'models',
      prefix: 'artifacts',
      endpoint: server.url,
      region: 'us-east-1',
      forcePathStyle: true,
      workDir,
    });
    await store.init();
    sut = new ModelHostService(
      testRuntimeSettings({
        artifactCache: { dir: cacheDir, maxBytes: 64 * 1024 * 1024 },
      }),
      store,
    );
  });
  afterAll(async () => {
    if (sut) await closeHost(sut);
    store?.destroy();
    await server?.stop();
    process.env = savedEnv;
    for (const dir of [workDir, cacheDir])
      if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Stored as the storage service stores a single file: under its own sha256. */
  async function storeMlp(modelId: string): Promise<LoadModelRequest> {
    const data = buildMlpModel(MLP);
    const digest = sha256(data);
    const { uri } = await store.put(
      Readable.from([data]),
      `${modelId}/${digest}/model.onnx`,
    );
    return {
      model_id: modelId,
      version: 1,
      format: 'onnx',
      artifact_uri: uri,
      sha256: digest,
      size_bytes: data.length,
      memory_estimate_bytes: 0,
    };
  }

  async function predictsMlp(modelId: string): Promise<void> {
    const x = sampleInput(2 * MLP.inputSize, 3);
    const input: Tensor = { datatype: 'FP32', shape: [2, 4], data: x };
    const { outputs } = await sut.infer(modelId, 1, { x: input });
    expectClose(outputs['y'].data as Float32Array, mlpReference(MLP, x, 2));
  }

  it('loads from the cache, from the store on a miss only, and never loads a corrupted cached file', async () => {
    const req = await storeMlp('mlp');
    const cached = join(cacheDir, 'mlp', req.sha256, 'model.onnx');

    // A miss: fetched from the store into the cache, then loaded from there.
    await sut.load(req);
    await predictsMlp('mlp');
    expect(sha256(readFileSync(cached))).toBe(req.sha256);
    expect(sut.artifactCacheStats()).toEqual({
      usedBytes: req.size_bytes,
      maxBytes: 64 * 1024 * 1024,
      entries: 1,
      inUseBytes: req.size_bytes, // the loaded model holds it
    });
    // Not through the driver's own (unbounded) download folder.
    expect(readdirSync(workDir).filter((f) => f !== '.ingest')).toEqual([]);
    await sut.unload('mlp', 1);
    expect(sut.artifactCacheStats()?.inUseBytes).toBe(0);

    // A hit: the store no longer has it, the cache does.
    expect(await store.delete(req.artifact_uri)).toBe(true);
    await sut.load(req);
    await predictsMlp('mlp');
    await sut.unload('mlp', 1);

    // Corrupted in the cache (same size), and not in the store: the load fails.
    chmodSync(cached, 0o644);
    const good = readFileSync(cached);
    writeFileSync(cached, Buffer.alloc(good.length, 7));
    const failed = await sut.load(req).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(PortfolioError);
    expect(failed).toMatchObject({ code: 'MODEL_LOAD_FAILED' });
    expect(existsSync(cached)).toBe(false);
    expect(sut.artifactCacheStats()).toMatchObject({ entries: 0 });

    // Back in the store: fetched again, verified, loaded.
    await store.put(Readable.from([good]), store.keyOf(req.artifact_uri));
    await sut.load(req);
    await predictsMlp('mlp');
    expect(sha256(readFileSync(cached))).toBe(req.sha256);
    await sut.unload('mlp', 1);
  });

  it('loads a several-file artifact (ONNX with external data) verified by its manifest digest', async () => {
    const local = makeTempDir('runtime-s3-several');
    try {
      buildLargeModel({
        weightBytes: SIDE_WEIGHT_BYTES,
        externalData: true,
        dir: local,
        name: 'model',
      });
      const files = readdirSync(local).map((path) => {
        const data = readFileSync(join(local, path));
        return { path, data, sizeBytes: data.length, sha256: sha256(data) };
      });
      expect(files.map((f) => f.path).sort()).toEqual([
        'model.data',
        'model.onnx',
      ]);
      const digest = artifactManifestDigest(files);
      for (const f of files)
        await store.put(Readable.from([f.data]), `side/${digest}/${f.path}`);
      const req: LoadModelRequest = {
        model_id: 'side',
        version: 1,
        format: 'onnx',
        artifact_uri: store.uriFor(`side/${digest}/model.onnx`),
        sha256: digest,
        size_bytes: files.reduce((n, f) => n + f.sizeBytes, 0),
        memory_estimate_bytes: 0,
      };

      await sut.load(req);

      const side = Math.floor(Math.sqrt(SIDE_WEIGHT_BYTES / 4));
      const { outputs } = await sut.infer('side', 1, {
        x: {
          datatype: 'FP32',
          shape: [1, side],
          data: sampleInput(side),
        },
      });
      expect(outputs['y'].shape).toEqual([1, side]);
      expect(statSync(join(cacheDir, 'side', digest, 'model.data')).size).toBe(
        files.find((f) => f.path === 'model.data')?.sizeBytes,
      );
      await sut.unload('side', 1);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });

  it('refuses to start reading a remote store without an artifact cache', () => {
    expect(() => new ModelHostService(testRuntimeSettings(), store)).toThrow(
      /needs an artifact cache/,
    );
  });
});
