import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';

import { ArtifactWriter, StorageDriver, StorageError } from './storage-driver';

/** A driver under test, on a store of its own (an empty root, or a fresh prefix). */
export interface ContractSubject {
  readonly driver: StorageDriver;
  /**
   * The temporary files or objects the driver holds right now (its ingest folder, its
   * spool): empty whenever no writer is open.
   */
  leftovers(): Promise<string[]>;
  /** Releases what the subject holds (clients, directories). */
  close?(): Promise<void>;
}

/**
 * The behaviour every storage driver must share (see StorageDriver). Run against the
 * local driver by a unit test and against each cloud driver and a real server of its
 * protocol by integration tests. `makeSubject` is called before each test.
 *
 * `largeBytes` is the size of the "few MiB" artifact: the cloud tests pick it above
 * their drivers' single-request limit so that multipart, resumable and block uploads
 * are what is tested. `recordsSha256`: stat gives the sha256 recorded at commit.
 */
export function storageDriverContract(
  makeSubject: () => Promise<ContractSubject>,
  {
    largeBytes = 3 * 1024 * 1024 + 17,
    recordsSha256 = false,
  }: { largeBytes?: number; recordsSha256?: boolean } = {},
): void {
  let subject: ContractSubject;
  let sut: StorageDriver;

  beforeEach(async () => {
    subject = await makeSubject();
    sut = subject.driver;
  });
  afterEach(async () => {
    await subject?.close?.();
  });

  const sha256 = (...parts: Uint8Array[]) => {
    const hash = createHash('sha256');
    for (const p of parts) hash.update(p);
    return hash.digest('hex');
  };
  const keyFor = (model: string, sha: string, file = 'model.onnx') =>
    `${model}/${sha}/${file}`;

  async function writeAll(w: ArtifactWriter, chunks: Uint8Array[]) {
    for (const c of chunks) await w.write(c);
    return w.finish();
  }

  async function store(key: string, data: Uint8Array) {
    return sut.put(Readable.from([data]), key);
  }

  async function readAll(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }

  async function listAll(prefix: string) {
    const items = [];
    for await (const item of sut.list(prefix)) items.push(item);
    return items.sort((a, b) => a.key.localeCompare(b.key));
  }

  describe('writing', () => {
    it('hashes while writing and commits to the key, readable at once', async () => {
      const a = bytes(70_000, 1);
      const b = bytes(1234, 7);
      const w = await sut.createWriter();
      const done = await writeAll(w, [a, b]);
      const expected = sha256(a, b);
      expect(done).toMatchObject({
        sha256: expected,
        sizeBytes: a.length + b.length,
      });
      expect(w.bytesWritten).toBe(a.length + b.length);
      // The storage service inspects the artifact from here before it commits.
      expect(sha256(readFileSync(done.tempPath))).toBe(expected);

      const key = keyFor('m', expected);
      const committed = await w.commit(key);

      expect(committed).toEqual({ uri: sut.uriFor(key), created: true });
      expect(await readAll(await sut.read(committed.uri))).toEqual(
        Buffer.concat([a, b]),
      );
      const stat = await sut.stat(committed.uri);
      expect(stat.sizeBytes).toBe(a.length + b.length);
      // Recorded by the cloud drivers; the local driver has no place for it.
      expect(stat.sha256).toBe(recordsSha256 ? expected : undefined);
      expect(Math.abs(stat.modified.getTime() - Date.now())).toBeLessThan(
        5 * 60_000,
      );
      expect(await sut.exists(committed.uri)).toBe(true);
      expect(await subject.leftovers()).toEqual([]);
    });

    it('streams a few MiB in and out, the key named by the digest', async () => {
      const chunk = 64 * 1024;
      const total = largeBytes;
      const hash = createHash('sha256');
      async function* source() {
        for (let at = 0; at < total; at += chunk) {
          const piece = bytes(Math.min(chunk, total - at), at);
          hash.update(piece);
          yield piece;
        }
      }

      const result = await sut.put(source(), (d) => keyFor('big', d.sha256));

      const expected = hash.digest('hex');
      expect(result).toEqual({
        uri: sut.uriFor(keyFor('big', expected)),
        created: true,
        sha256: expected,
        sizeBytes: total,
      });
      const back = createHash('sha256');
      let length = 0;
      for await (const piece of await sut.read(result.uri)) {
        back.update(piece as Buffer);
        length += (piece as Buffer).length;
      }
      expect({ sha256: back.digest('hex'), length }).toEqual({
        sha256: expected,
        length: total,
      });
      const stat = await sut.stat(result.uri);
      expect(stat.sizeBytes).toBe(total);
      expect(stat.sha256).toBe(recordsSha256 ? expected : undefined);
      expect(await subject.leftovers()).toEqual([]);
    });

    it('stores the same bytes under the same key once: the second commit says created false', async () => {
      const data = bytes(5000, 3);
      const key = keyFor('m', sha256(data));
      const first = await store(key, data);
      const second = await store(key, data);
      expect(first.created).toBe(true);
      expect(second).toMatchObject({ uri: first.uri, created: false });
      expect(await readAll(await sut.read(first.uri))).toEqual(
        Buffer.from(data),
      );
      expect(await listAll('')).toHaveLength(1);
      expect(await subject.leftovers()).toEqual([]);
    });

    it('leaves nothing behind when aborted, written to or not', async () => {
      const untouched = await sut.createWriter();
      await untouched.abort();
      const written = await sut.createWriter();
      await written.write(bytes(100_000));
      await written.abort();
      const finished = await sut.createWriter();
      await writeAll(finished, [bytes(10)]);
      await finished.abort();

      expect(await subject.leftovers()).toEqual([]);
      expect(await listAll('')).toEqual([]);
    });

    it('refuses bytes of another sha256 than expected, and stores nothing', async () => {
      const error = await sut
        .put(Readable.from([bytes(10)]), 'm/x/model.onnx', {
          expectedSha256: '0'.repeat(64),
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
      expect(await listAll('')).toEqual([]);
      expect(await subject.leftovers()).toEqual([]);
    });

    it('takes the expected sha256 in any case', async () => {
      const data = bytes(10);
      const result = await sut.put(Readable.from([data]), 'm/y/model.onnx', {
        expectedSha256: sha256(data).toUpperCase(),
      });
      expect(result.created).toBe(true);
    });

    it('aborts when the source fails, rejecting with its error', async () => {
      async function* failing() {
        yield bytes(1000);
        throw new Error('connection reset');
      }
      await expect(sut.put(failing(), 'm/z/model.onnx')).rejects.toThrow(
        'connection reset',
      );
      expect(await listAll('')).toEqual([]);
      expect(await subject.leftovers()).toEqual([]);
    });
  });

  describe('reading', () => {
    const data = bytes(1000, 9);
    let uri: string;
    beforeEach(async () => {
      uri = (await store('r/k/model.onnx', data)).uri;
    });

    it.each<[string, number, number | undefined, number, number]>([
      ['the middle', 100, 50, 100, 150],
      ['from an offset to the end', 990, undefined, 990, 1000],
      ['the first byte', 0, 1, 0, 1],
      ['the whole artifact', 0, 1000, 0, 1000],
      ['a range running past the end, clipped', 900, 500, 900, 1000],
      ['a range starting at the end: nothing', 1000, 10, 1000, 1000],
      ['a range starting past the end: nothing', 5000, undefined, 0, 0],
      ['an empty range: nothing', 10, 0, 0, 0],
    ])('reads %s', async (_what, offset, length, from, to) => {
      const got = await readAll(
        await sut.read(
          uri,
          length === undefined ? { offset } : { offset, length },
        ),
      );
      expect(got).toEqual(Buffer.from(data.subarray(from, to)));
    });

    it('refuses a negative or fractional range', async () => {
      for (const range of [
        { offset: -1 },
        { offset: 0, length: -5 },
        { offset: 1.5 },
      ])
        await expect(sut.read(uri, range)).rejects.toMatchObject({
          code: 'INVALID_RANGE',
        });
    });

    it('gives a local file with the bytes, verified, the same path each time', async () => {
      const content = bytes(20_000, 4);
      const key = keyFor('lp', sha256(content));
      const { uri: stored } = await store(key, content);

      const paths = await Promise.all([
        sut.localPath(stored),
        sut.localPath(stored),
        sut.localPath(stored),
      ]);

      expect(new Set(paths).size).toBe(1);
      expect(readFileSync(paths[0] as string)).toEqual(Buffer.from(content));
      expect(await sut.localPath(stored)).toBe(paths[0]);
    });

    it("gives a file of a several-file artifact with the artifact's other files beside it", async () => {
      // A several-file upload: the files under the digest of their manifest, the entry
      // point last (see the storage service); onnxruntime finds external data beside it.
      const digest = sha256(Buffer.from('manifest'));
      const weights = bytes(30_000, 5);
      const extra = bytes(10, 6);
      const model = bytes(2_000, 7);
      await store(`m/${digest}/weights.bin`, weights);
      await store(`m/${digest}/data/extra.bin`, extra);
      const { uri: entry } = await store(`m/${digest}/model.onnx`, model);

      const path = await sut.localPath(entry);

      expect(readFileSync(path)).toEqual(Buffer.from(model));
      expect(readFileSync(join(dirname(path), 'weights.bin'))).toEqual(
        Buffer.from(weights),
      );
      expect(readFileSync(join(dirname(path), 'data', 'extra.bin'))).toEqual(
        Buffer.from(extra),
      );
      expect(
        await sut.localPath(sut.uriFor(`m/${digest}/data/extra.bin`)),
      ).toBe(join(dirname(path), 'data', 'extra.bin'));
    });

    it('gives a local file for a key that names no digest, too', async () => {
      expect(readFileSync(await sut.localPath(uri))).toEqual(Buffer.from(data));
    });
  });

  describe('listing', () => {
    it('lists the artifacts whose keys start with a prefix, with size and time', async () => {
      await store('a/1/x.onnx', bytes(10));
      await store('a/2/y.onnx', bytes(20));
      await store('ab/1/z.onnx', bytes(30));
      await store('b/1/w.onnx', bytes(40));

      const all = await listAll('');
      expect(all.map((i) => [i.key, i.sizeBytes])).toEqual([
        ['a/1/x.onnx', 10],
        ['a/2/y.onnx', 20],
        ['ab/1/z.onnx', 30],
        ['b/1/w.onnx', 40],
      ]);
      for (const item of all) {
        expect(item.uri).toBe(sut.uriFor(item.key));
        // A Date, maybe of the main realm (see the test environment): not toBeInstanceOf.
        expect(Number.isFinite(item.modified.getTime())).toBe(true);
        expect((await sut.stat(item.uri)).sizeBytes).toBe(item.sizeBytes);
      }
      expect((await listAll('a/')).map((i) => i.key)).toEqual([
        'a/1/x.onnx',
        'a/2/y.onnx',
      ]);
      expect((await listAll('a')).map((i) => i.key)).toEqual([
        'a/1/x.onnx',
        'a/2/y.onnx',
        'ab/1/z.onnx',
      ]);
      expect((await listAll('a/2/y')).map((i) => i.key)).toEqual([
        'a/2/y.onnx',
      ]);
      expect(await listAll('zzz')).toEqual([]);
      expect(await listAll('zzz/')).toEqual([]);
    });

    it('lists nothing of a writer that has not committed', async () => {
      await store('done/1/m.onnx', bytes(10));
      const open = await sut.createWriter();
      await open.write(bytes(1000));
      await open.finish();
      expect((await listAll('')).map((i) => i.key)).toEqual(['done/1/m.onnx']);
      await open.abort();
    });

    it('pages through more artifacts than fit one page', async () => {
      const keys = Array.from({ length: 7 }, (_, i) => `p/${i}/m.onnx`);
      for (const key of keys) await store(key, bytes(5, keys.indexOf(key)));
      expect((await listAll('p/')).map((i) => i.key)).toEqual(keys);
    });

    it('refuses a prefix that would reach outside the store', async () => {
      for (const prefix of ['../', 'a/../../', '.ingest/']) {
        const listing = (async () => listAll(prefix))();
        await expect(listing).rejects.toMatchObject({ code: 'INVALID_URI' });
      }
    });
  });

  describe('deleting', () => {
    it('deletes an artifact and says whether there was one', async () => {
      const { uri } = await store('d/1/model.onnx', bytes(10));
      await sut.localPath(uri);

      await expect(sut.delete(uri)).resolves.toBe(true);

      await expect(sut.delete(uri)).resolves.toBe(false);
      await expect(sut.exists(uri)).resolves.toBe(false);
      expect(await listAll('d/')).toEqual([]);
      await expect(sut.localPath(uri)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });
  });

  describe('what is not there', () => {
    it('answers NOT_FOUND for a missing artifact, and false where it asks', async () => {
      const uri = sut.uriFor('missing/1/model.onnx');
      for (const attempt of [
        () => sut.read(uri),
        () => sut.read(uri, { offset: 0, length: 10 }),
        () => sut.stat(uri),
        () => sut.localPath(uri),
      ])
        await expect(attempt()).rejects.toMatchObject({
          name: 'StorageError',
          code: 'NOT_FOUND',
        });
      await expect(sut.exists(uri)).resolves.toBe(false);
      await expect(sut.delete(uri)).resolves.toBe(false);
    });

    it.each([
      '../escape',
      '/abs/path',
      'a/../../b',
      'a//b',
      '.ingest/x',
      'a/./b',
      '',
      'a/',
    ])('refuses the key %p', (key) => {
      expect(() => sut.uriFor(key)).toThrow(StorageError);
    });

    it('refuses URIs that are not its own', async () => {
      const foreign = [
        'file:///etc/passwd',
        'http://example.com/m.onnx',
        sut.scheme === 's3' ? 'gs://bucket/m/1/x' : 's3://bucket/m/1/x',
        `${sut.uriFor('m/1/x').replace(/x$/, '')}../../x`,
      ];
      for (const uri of foreign)
        for (const attempt of [
          () => sut.read(uri),
          () => sut.stat(uri),
          () => sut.exists(uri),
          () => sut.localPath(uri),
          () => sut.delete(uri),
        ])
          await expect(attempt()).rejects.toMatchObject({
            code: 'INVALID_URI',
          });
    });
  });
}

/** Deterministic, varied bytes (not all alike, so a misplaced range shows). */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = Math.imul(seed, 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
