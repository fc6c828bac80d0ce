import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { PortfolioError, Storage } from '@portfolio/contracts';
import { InProcessBus, Messaging } from '@portfolio/messaging';
import {
  buildLargeModel,
  buildMlpModel,
  buildMultipart,
  buildTar,
  buildZip,
  makeTempDir,
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
/** About 37 KB: several chunks of 8 KiB. */
const MODEL = buildMlpModel({ inputSize: 64, hidden: [128], outputSize: 10 });
const sha256 = (bytes: Uint8Array) =>
  createHash('sha256').update(bytes).digest('hex');

describe(StorageController.name, () => {
  let root: string;
  let bus: InProcessBus;
  let storage: StorageUnderTest;
  let client: Messaging;

  /** A fresh storage service on a fresh in-process bus (and root) for each test. */
  async function start(
    options: { maxPayloadBytes?: number; idleTimeoutMs?: number } = {},
  ): Promise<void> {
    root = makeTempDir('storage-handlers');
    bus = new InProcessBus(options.maxPayloadBytes);
    storage = await startStorage({ bus, prefix: 'test', root, ...options });
    client = new Messaging(bus, 'test', 5_000);
  }

  /** Nothing stored and nothing half-written: no file anywhere under the root. */
  function expectNothingStored(): void {
    expect(filesUnder(root)).toEqual([]);
    const ingestDir = join(root, '.ingest');
    expect(existsSync(ingestDir) ? readdirSync(ingestDir) : []).toEqual([]);
  }

  async function begin(
    fields: { model_id?: string; expected_size_bytes?: number } = {},
  ) {
    return client.call(Storage.ingestBegin, {
      model_id: 'iris',
      format: 'onnx',
      ...fields,
    });
  }

  /** A client's abort, sent to the instance that began the upload. */
  function abort(begun: { ingest_id: string; instance: string }) {
    return client.call(
      Storage.ingestAbort,
      { ingest_id: begun.ingest_id },
      { target: begun.instance },
    );
  }

  afterEach(async () => {
    await storage?.close();
    await bus?.close();
    rmSync(root, { recursive: true, force: true });
  });

  describe('with default settings', () => {
    beforeEach(() => start());

    it('stores a valid model sent in several chunks under its model id and sha256, with its signature', async () => {
      expect(chunksOf(MODEL, 8 * KiB).length).toBeGreaterThanOrEqual(4);

      const res = await ingest(client, 'iris', MODEL, { chunkBytes: 8 * KiB });

      const sha = sha256(MODEL);
      expect(res).toEqual({
        artifact_uri: `local:iris/${sha}/model.onnx`,
        sha256: sha,
        size_bytes: MODEL.byteLength,
        format: 'onnx',
        signature: {
          inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 64] }],
          outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 10] }],
        },
        created: true,
      });
      expect(filesUnder(root)).toEqual([join('iris', sha, 'model.onnx')]);
      expect(
        readFileSync(join(root, 'iris', sha, 'model.onnx')).equals(MODEL),
      ).toBe(true);
      expect(readdirSync(join(root, '.ingest'))).toEqual([]);
    });

    it('acknowledges each chunk with the bytes received so far', async () => {
      const begun = await begin();
      const chunks = chunksOf(MODEL, 10 * KiB);

      const acks: number[] = [];
      for (const [seq, chunk] of chunks.entries())
        acks.push(
          (await sendChunk(client, begun.instance, begun.ingest_id, seq, chunk))
            .received_bytes,
        );

      expect(acks).toEqual(
        chunks.map((_, i) => Math.min((i + 1) * 10 * KiB, MODEL.byteLength)),
      );
      await expect(
        client.call(
          Storage.ingestCommit,
          { ingest_id: begun.ingest_id, chunks: chunks.length },
          { target: begun.instance },
        ),
      ).resolves.toMatchObject({
        size_bytes: MODEL.byteLength,
      });
    });

    it('answers begin with its instance, chunk limit and idle timeout', async () => {
      const begun = await begin();

      expect(begun).toEqual({
        ingest_id: expect.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
        instance: expect.stringMatching(/^storage-/),
        max_chunk_bytes: expect.any(Number),
        idle_timeout_ms: 60_000,
      });
      expect(begun.max_chunk_bytes).toBeLessThanOrEqual(
        bus.maxPayloadBytes() - 16 * KiB,
      );
    });

    it('stores identical bytes once and says so the second time', async () => {
      const first = await ingest(client, 'iris', MODEL);

      const second = await ingest(client, 'iris', MODEL, {
        chunkBytes: 5 * KiB,
      });

      expect(second).toEqual({ ...first, created: false });
      expect(filesUnder(root)).toEqual([
        join('iris', first.sha256, 'model.onnx'),
      ]);
      expect(readdirSync(join(root, '.ingest'))).toEqual([]);
    });

    it('keeps the same bytes under two model ids apart', async () => {
      const a = await ingest(client, 'a', MODEL);
      const b = await ingest(client, 'b', MODEL);

      expect(b.created).toBe(true);
      expect(filesUnder(root)).toEqual(
        [a.artifact_uri, b.artifact_uri]
          .map((u) => u.slice('local:'.length))
          .sort(),
      );
    });

    describe('archives and forms', () => {
      /** An ONNX model whose weights sit in `weights.data` beside it. */
      let graph: Buffer;
      let weights: Buffer;
      beforeAll(() => {
        const dir = makeTempDir('storage-external');
        buildLargeModel({
          weightBytes: 64 * KiB,
          externalData: true,
          dir,
          name: 'weights',
        });
        graph = readFileSync(join(dir, 'weights.onnx'));
        weights = readFileSync(join(dir, 'weights.data'));
        rmSync(dir, { recursive: true, force: true });
      });
      const files = () => [
        { name: 'net/weights.onnx', data: graph },
        { name: 'net/weights.data', data: weights },
        { name: 'README.md', data: 'about the model' },
      ];

      it('stores the files of a tar, a zip or a form as one artifact, named by its entry point', async () => {
        const tarred = await ingest(
          client,
          'ext',
          await buildTar(files(), { gzip: true }),
        );
        const zipped = await ingest(client, 'ext', buildZip(files()));
        const form = buildMultipart(files());
        const posted = await ingest(client, 'ext', form.body, {
          contentType: form.contentType,
        });

        expect(tarred).toMatchObject({
          artifact_uri: `local:ext/${tarred.sha256}/net/weights.onnx`,
          size_bytes: graph.length + weights.length + 15,
          created: true,
          signature: { inputs: [{ name: 'x', datatype: 'FP32' }] },
        });
        // The same files, however packed: the same digest, stored once.
        expect(zipped).toEqual({ ...tarred, created: false });
        expect(posted).toEqual({ ...tarred, created: false });
        expect(filesUnder(root).filter((f) => !f.startsWith('.'))).toEqual(
          [
            join('ext', tarred.sha256, 'README.md'),
            join('ext', tarred.sha256, 'net', 'weights.data'),
            join('ext', tarred.sha256, 'net', 'weights.onnx'),
          ].sort(),
        );
        expect(
          readFileSync(join(root, 'ext', tarred.sha256, 'net', 'weights.data')),
        ).toEqual(weights);
        expect(filesUnder(join(root, '.unpack'))).toEqual([]);
      });

      it('stores a form with one file as that file sent alone', async () => {
        const alone = await ingest(client, 'iris', MODEL);
        const form = buildMultipart([{ name: 'whatever.onnx', data: MODEL }]);

        const posted = await ingest(client, 'iris', form.body, {
          contentType: form.contentType,
        });

        expect(posted).toEqual({ ...alone, created: false });
      });

      it.each([
        [
          'weights without the file they live in',
          async () => buildTar([{ name: 'weights.onnx', data: graph }]),
          /upload the model together with that file/,
        ],
        [
          'two models',
          async () =>
            buildZip([
              { name: 'a.onnx', data: MODEL },
              { name: 'b.onnx', data: MODEL },
            ]),
          /holds 2 \.onnx files/,
        ],
        [
          'a path leading out',
          async () => buildTar([...files(), { name: '../x', data: 'x' }]),
          /leads out of the upload/,
        ],
        [
          'a link',
          async () =>
            buildTar([
              ...files(),
              { name: 'net/l', type: 'symlink', target: '/etc/passwd' },
            ]),
          /links are not accepted/,
        ],
      ])(
        'refuses %s with INVALID_ARTIFACT, storing nothing',
        async (_what, build, message) => {
          const e = await ingest(client, 'ext', await build()).catch(
            (err: unknown) => err,
          );

          expect(e).toBeInstanceOf(PortfolioError);
          expect(e).toMatchObject({ code: 'INVALID_ARTIFACT' });
          expect((e as Error).message).toMatch(message);
          expectNothingStored();
        },
      );
    });

    it('runs concurrent ingests independently', async () => {
      const other = buildMlpModel({
        inputSize: 8,
        hidden: [8],
        outputSize: 2,
        seed: 9,
      });
      const [a, b] = await Promise.all([
        ingest(client, 'a', MODEL, { chunkBytes: 4 * KiB }),
        ingest(client, 'b', other, { chunkBytes: 100 }),
      ]);

      expect(a).toMatchObject({
        sha256: sha256(MODEL),
        size_bytes: MODEL.byteLength,
      });
      expect(b).toMatchObject({
        sha256: sha256(other),
        size_bytes: other.byteLength,
      });
      expect(filesUnder(root)).toHaveLength(2);
    });

    it('aborts the upload on an out-of-order chunk and removes its temporary file', async () => {
      const begun = await begin();
      const chunks = chunksOf(MODEL, 8 * KiB);
      await sendChunk(client, begun.instance, begun.ingest_id, 0, chunks[0]);
      expect(readdirSync(join(root, '.ingest'))).toHaveLength(1);

      const error = await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        2,
        chunks[2],
      ).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('chunk 2 arrived, expected 1'),
      });
      expectNothingStored();
      await expect(
        sendChunk(client, begun.instance, begun.ingest_id, 1, chunks[1]),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('no upload in progress'),
      });
    });

    it('refuses a commit that counts the chunks wrong and stores nothing', async () => {
      const begun = await begin();
      const chunks = chunksOf(MODEL, 8 * KiB);
      for (const [seq, chunk] of chunks.entries())
        await sendChunk(client, begun.instance, begun.ingest_id, seq, chunk);

      const error = await client
        .call(
          Storage.ingestCommit,
          { ingest_id: begun.ingest_id, chunks: chunks.length + 1 },
          { target: begun.instance },
        )
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(`${chunks.length} chunks received`),
      });
      expectNothingStored();
      // The ingest is over: a corrected commit finds nothing.
      await expect(
        client.call(
          Storage.ingestCommit,
          { ingest_id: begun.ingest_id, chunks: chunks.length },
          { target: begun.instance },
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('no upload in progress'),
      });
    });

    it('refuses an upload shorter than announced at commit and stores nothing', async () => {
      const error = await ingest(client, 'iris', MODEL, {
        expectedSizeBytes: MODEL.byteLength + 1,
      }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(
          `of the announced ${MODEL.byteLength + 1} bytes`,
        ),
      });
      expectNothingStored();
    });

    it('refuses an upload longer than announced at the chunk that overflows and stores nothing', async () => {
      const announced = MODEL.byteLength - 1;

      const error = await ingest(client, 'iris', MODEL, {
        expectedSizeBytes: announced,
        chunkBytes: 8 * KiB,
      }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(
          `longer than the announced ${announced} bytes`,
        ),
      });
      expectNothingStored();
    });

    it('accepts an upload of exactly the announced size', async () => {
      await expect(
        ingest(client, 'iris', MODEL, { expectedSizeBytes: MODEL.byteLength }),
      ).resolves.toMatchObject({ created: true });
    });

    it('refuses random bytes as INVALID_ARTIFACT and stores nothing', async () => {
      const error = await ingest(client, 'iris', randomBytes(20 * KiB), {
        chunkBytes: 8 * KiB,
      }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringContaining('not a valid ONNX model'),
      });
      expectNothingStored();
    });

    it('refuses an empty artifact as INVALID_ARTIFACT', async () => {
      const error = await ingest(client, 'iris', new Uint8Array(0)).catch(
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: expect.stringContaining('empty'),
      });
      expectNothingStored();
    });

    it('refuses an ONNX model declared as another format, by its content, and stores nothing', async () => {
      const error = await ingest(client, 'iris', MODEL, {
        format: 'pytorch',
      }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({ code: 'INVALID_ARTIFACT' });
      expect((error as Error).message).toMatch(/ONNX/);
      expectNothingStored();
    });

    it('leaves nothing behind after an abort, and forgets the upload', async () => {
      const begun = await begin();
      await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        0,
        MODEL.subarray(0, 8 * KiB),
      );

      await expect(abort(begun)).resolves.toEqual({});

      expectNothingStored();
      await expect(
        sendChunk(
          client,
          begun.instance,
          begun.ingest_id,
          1,
          MODEL.subarray(8 * KiB),
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
      });
      await expect(
        client.call(
          Storage.ingestCommit,
          { ingest_id: begun.ingest_id, chunks: 1 },
          { target: begun.instance },
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
      });
      // Aborting twice is harmless.
      await expect(abort(begun)).resolves.toEqual({});
    });

    it('refuses a chunk without its ingest headers', async () => {
      const begun = await begin();

      const error = await client
        .requestRaw(
          `test.storage.${begun.instance}.ingest.chunk.v1`,
          MODEL.subarray(0, 100),
        )
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('Portfolio-Ingest-Id'),
      });
    });

    it('refuses a chunk for an upload it never began', async () => {
      const begun = await begin();

      await expect(
        sendChunk(
          client,
          begun.instance,
          'no-such-ingest',
          0,
          MODEL.subarray(0, 100),
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(
          'no upload in progress with id no-such-ingest',
        ),
      });
    });

    it('deletes an artifact, and answers deleted false the second time', async () => {
      const stored = await ingest(client, 'iris', MODEL);
      const path = join(root, 'iris', stored.sha256, 'model.onnx');
      expect(existsSync(path)).toBe(true);

      const first = await client.call(Storage.deleteArtifact, {
        artifact_uri: stored.artifact_uri,
      });
      const second = await client.call(Storage.deleteArtifact, {
        artifact_uri: stored.artifact_uri,
      });

      expect(first).toEqual({ deleted: true });
      expect(second).toEqual({ deleted: false });
      expect(existsSync(path)).toBe(false);
      expect(readdirSync(root)).toEqual(['.ingest']);
    });

    it('answers a ping', async () => {
      await expect(client.call(Storage.ping, {})).resolves.toMatchObject({
        service: 'storage',
        instance: expect.stringMatching(/^storage-/),
      });
    });

    it('aborts the uploads in progress when it shuts down', async () => {
      const begun = await begin();
      await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        0,
        MODEL.subarray(0, 8 * KiB),
      );

      await storage.close();

      expectNothingStored();
    });
  });

  describe('with a small bus', () => {
    const maxPayloadBytes = 64 * KiB;

    beforeEach(() => start({ maxPayloadBytes }));

    it('keeps chunks well below the bus max payload', async () => {
      const begun = await begin();

      expect(begun.max_chunk_bytes).toBeLessThanOrEqual(
        maxPayloadBytes - 16 * KiB,
      );
      expect(begun.max_chunk_bytes).toBeGreaterThan(0);
    });

    it('accepts a chunk of exactly the limit and refuses a larger one, aborting the upload', async () => {
      const begun = await begin();
      const bytes = randomBytes(begun.max_chunk_bytes + 1);
      await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        0,
        bytes.subarray(0, begun.max_chunk_bytes),
      );

      const error = await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        1,
        bytes,
      ).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(PortfolioError);
      expect(error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(`exceeds ${begun.max_chunk_bytes}`),
      });
      expectNothingStored();
    });

    it('still ingests a model larger than one message', async () => {
      const large = buildMlpModel({
        inputSize: 128,
        hidden: [256],
        outputSize: 10,
      });
      expect(large.byteLength).toBeGreaterThan(maxPayloadBytes);

      await expect(ingest(client, 'large', large)).resolves.toMatchObject({
        size_bytes: large.byteLength,
        sha256: sha256(large),
      });
    });
  });

  describe('with a short idle timeout', () => {
    // The idle timer runs on jest's fake clock, so a loaded machine cannot stretch a
    // gap between chunks past the timeout, and the tests wait for nothing real. Only
    // timers and Date are faked: the in-process bus delivers with setImmediate, and
    // the file system's callbacks are real.
    const idleTimeoutMs = 500;

    beforeEach(async () => {
      jest.useFakeTimers({
        doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'],
      });
      await start({ idleTimeoutMs });
    });

    afterEach(() => {
      jest.useRealTimers();
    });

    it('drops an upload that goes quiet, with its temporary file', async () => {
      const begun = await begin();
      expect(begun.idle_timeout_ms).toBe(idleTimeoutMs);
      await sendChunk(
        client,
        begun.instance,
        begun.ingest_id,
        0,
        MODEL.subarray(0, 8 * KiB),
      );

      jest.advanceTimersByTime(idleTimeoutMs);

      await expect(
        sendChunk(
          client,
          begun.instance,
          begun.ingest_id,
          1,
          MODEL.subarray(8 * KiB, 16 * KiB),
        ),
      ).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('no upload in progress'),
      });
      // The timer dropped the upload already (the chunk above was refused); a client's
      // abort now answers once that drop has removed the temporary file, and cannot
      // remove it itself.
      await expect(abort(begun)).resolves.toEqual({});
      expectNothingStored();
    });

    it('keeps an upload alive while its chunks keep coming', async () => {
      const begun = await begin();
      const chunks = chunksOf(MODEL, 4 * KiB);
      const gapMs = idleTimeoutMs - 100;

      // Together well past the timeout; each gap within it.
      for (const [seq, chunk] of chunks.entries()) {
        jest.advanceTimersByTime(gapMs);
        await sendChunk(client, begun.instance, begun.ingest_id, seq, chunk);
      }
      expect(gapMs * chunks.length).toBeGreaterThan(idleTimeoutMs * 5);

      await expect(
        client.call(
          Storage.ingestCommit,
          { ingest_id: begun.ingest_id, chunks: chunks.length },
          { target: begun.instance },
        ),
      ).resolves.toMatchObject({ created: true, size_bytes: MODEL.byteLength });
    });
  });
});
