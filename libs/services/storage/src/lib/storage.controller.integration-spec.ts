import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { PortfolioError, Storage } from '@portfolio/contracts';
import { Messaging, NatsBus } from '@portfolio/messaging';
import {
  buildGenericModel,
  buildMlpModel,
  ElemType,
  makeTempDir,
  testNatsUrl,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

import { StorageController } from './storage.controller';
import {
  chunksOf,
  filesUnder,
  ingest,
  sendChunk,
  startStorage,
  StorageUnderTest,
} from './storage.testing';

const KiB = 1024;
const sha256 = (bytes: Uint8Array) =>
  createHash('sha256').update(bytes).digest('hex');

/** The ingest protocol between two NATS connections, with the server's real max payload. */
describe(`${StorageController.name} over NATS`, () => {
  /** Over 1 MiB: more than one NATS message at the default max payload. */
  const model = buildMlpModel({
    inputSize: 512,
    hidden: [512],
    outputSize: 64,
  });
  let root: string;
  let serverBus: NatsBus;
  let clientBus: NatsBus;
  let client: Messaging;
  let storage: StorageUnderTest;

  beforeAll(async () => {
    root = makeTempDir('storage-nats');
    const prefix = uniqueSubjectPrefix('storage.handlers');
    [serverBus, clientBus] = await Promise.all([
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'storage-handlers-test-server',
      }),
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'storage-handlers-test-client',
      }),
    ]);
    storage = await startStorage({ bus: serverBus, prefix, root });
    client = new Messaging(clientBus, prefix, 10_000);
    // The ping subscription is made last: once it answers, the server knows every subject.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.call(Storage.ping, {}, { timeoutMs: 1000 });
        break;
      } catch (e) {
        if (attempt >= 50) throw e;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  afterAll(async () => {
    await storage?.close();
    await Promise.all([serverBus?.close(), clientBus?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('offers chunks that fit one NATS message with room for headers', async () => {
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'probe',
      format: 'onnx',
    });
    await client.call(
      Storage.ingestAbort,
      { ingest_id: begun.ingest_id },
      { target: begun.instance },
    );

    expect(begun.max_chunk_bytes).toBeLessThanOrEqual(
      clientBus.maxPayloadBytes() - 16 * KiB,
    );
    expect(model.byteLength).toBeGreaterThan(clientBus.maxPayloadBytes());
  });

  it('stores a model larger than one message, sent in chunks at the limit', async () => {
    const res = await ingest(client, 'big', model);

    const sha = sha256(model);
    expect(res).toMatchObject({
      artifact_uri: `local:big/${sha}/model.onnx`,
      sha256: sha,
      size_bytes: model.byteLength,
      created: true,
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 512] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 64] }],
      },
    });
    expect(
      readFileSync(join(root, 'big', sha, 'model.onnx')).equals(model),
    ).toBe(true);
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('answers created false for bytes it already holds', async () => {
    await ingest(client, 'again', model);

    await expect(
      ingest(client, 'again', model, { chunkBytes: 300 * KiB }),
    ).resolves.toMatchObject({ created: false });
    expect(filesUnder(join(root, 'again'))).toHaveLength(1);
  });

  it('aborts on an out-of-order chunk and leaves no temporary file', async () => {
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'disorder',
      format: 'onnx',
    });
    const chunks = chunksOf(model, 256 * KiB);
    await sendChunk(client, begun.instance, begun.ingest_id, 0, chunks[0]);

    const error = await sendChunk(
      client,
      begun.instance,
      begun.ingest_id,
      2,
      chunks[2],
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
    expect(filesUnder(root).some((f) => f.startsWith('disorder'))).toBe(false);
  });

  it('refuses a chunk above its limit that NATS would still carry', async () => {
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'oversize',
      format: 'onnx',
    });
    const chunk = randomBytes(begun.max_chunk_bytes + 1);
    expect(chunk.byteLength).toBeLessThan(clientBus.maxPayloadBytes());

    await expect(
      sendChunk(client, begun.instance, begun.ingest_id, 0, chunk),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('exceeds'),
    });
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('cannot send a chunk larger than the NATS max payload at all', async () => {
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'huge',
      format: 'onnx',
    });

    await expect(
      sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        0,
        randomBytes(clientBus.maxPayloadBytes() + 1),
      ),
    ).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    await client.call(
      Storage.ingestAbort,
      { ingest_id: begun.ingest_id },
      { target: begun.instance },
    );
  });

  it('answers a commit sent to another instance with SERVICE_UNAVAILABLE, and leaves the upload to its own', async () => {
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'addressed',
      format: 'onnx',
    });
    const chunks = chunksOf(model, begun.max_chunk_bytes);
    for (const [seq, chunk] of chunks.entries())
      await sendChunk(client, begun.instance, begun.ingest_id, seq, chunk);

    const misdirected = await client
      .call(
        Storage.ingestCommit,
        { ingest_id: begun.ingest_id, chunks: chunks.length },
        { target: 'storage-elsewhere' },
      )
      .catch((e: unknown) => e);

    expect(misdirected).toBeInstanceOf(PortfolioError);
    expect(misdirected).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      details: { bus: 'no_responders' },
    });
    await expect(
      client.call(
        Storage.ingestCommit,
        { ingest_id: begun.ingest_id, chunks: chunks.length },
        { target: begun.instance },
      ),
    ).resolves.toMatchObject({ created: true, size_bytes: model.byteLength });
  });

  it('refuses random bytes as INVALID_ARTIFACT', async () => {
    await expect(
      ingest(client, 'noise', randomBytes(300 * KiB)),
    ).rejects.toMatchObject({ code: 'INVALID_ARTIFACT' });
    expect(filesUnder(root).some((f) => f.startsWith('noise'))).toBe(false);
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it("refuses a well-formed model that cannot load, in its framework's words, and stores nothing", async () => {
    const cannotLoad = buildGenericModel({
      inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['n', 2] }],
      outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['n', 2] }],
      nodes: [{ opType: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }],
    });

    const e = await ingest(client, 'unknown-op', cannotLoad).catch(
      (error: unknown) => error,
    );

    expect(e).toMatchObject({ code: 'INVALID_ARTIFACT' });
    expect((e as Error).message).toMatch(
      /^the model does not load: .*NoSuchOperator/,
    );
    expect(filesUnder(root).some((f) => f.startsWith('unknown-op'))).toBe(
      false,
    );
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('deletes an artifact once', async () => {
    const stored = await ingest(client, 'doomed', model);

    await expect(
      client.call(Storage.deleteArtifact, {
        artifact_uri: stored.artifact_uri,
      }),
    ).resolves.toEqual({ deleted: true });
    await expect(
      client.call(Storage.deleteArtifact, {
        artifact_uri: stored.artifact_uri,
      }),
    ).resolves.toEqual({ deleted: false });
    expect(filesUnder(root).some((f) => f.startsWith('doomed'))).toBe(false);
  });
});
