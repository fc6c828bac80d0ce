import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { eventually, makeTempDir } from '@portfolio/testing';

import { artifactManifestDigest } from '../artifact-manifest';
import { LocalStorageDriver } from '../local/local.driver';
import { bytes } from '../storage-contract.testing';
import { ArtifactCache, ArtifactCacheLogger } from './artifact-cache';

const sha256 = (data: Uint8Array) =>
  createHash('sha256').update(data).digest('hex');

/** The cache against a real driver: the local one, on a temp root of its own. */
describe(ArtifactCache.name, () => {
  let root: string;
  let dir: string;
  let store: LocalStorageDriver;
  let logs: { level: 'log' | 'warn'; message: string }[];
  const logger: ArtifactCacheLogger = {
    log: (message) => logs.push({ level: 'log', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
  };
  const warnings = () =>
    logs.filter((l) => l.level === 'warn').map((l) => l.message);

  beforeEach(async () => {
    root = makeTempDir('cache-store');
    dir = makeTempDir('cache-dir');
    store = new LocalStorageDriver(root);
    await store.init();
    logs = [];
  });
  afterEach(() => {
    // The cache makes its files read-only; their folders stay writable.
    rmSync(root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const cacheOf = (maxBytes = 1024 * 1024) =>
    new ArtifactCache(store, { dir, maxBytes, logger });

  /** A single-file artifact as the storage service stores it. */
  async function single(model: string, size: number, seed = 1) {
    const data = bytes(size, seed);
    const digest = sha256(data);
    const { uri } = await store.put(
      Readable.from([data]),
      `${model}/${digest}/model.onnx`,
    );
    return { uri, sha256: digest, modelId: model, data };
  }

  /** A several-file artifact stored under its manifest digest. */
  async function several(model: string) {
    const files = [
      { path: 'model.onnx', data: bytes(300, 7) },
      { path: 'weights/w.bin', data: bytes(5000, 8) },
    ];
    const digest = artifactManifestDigest(
      files.map((f) => ({
        path: f.path,
        sizeBytes: f.data.length,
        sha256: sha256(f.data),
      })),
    );
    for (const f of files)
      await store.put(Readable.from([f.data]), `${model}/${digest}/${f.path}`);
    return {
      uri: store.uriFor(`${model}/${digest}/model.onnx`),
      sha256: digest,
      modelId: model,
      files,
    };
  }

  it('downloads on a miss, verified, and serves the same file on a hit without the store', async () => {
    const a = await single('m', 4000);
    const reads = jest.spyOn(store, 'read');
    const sut = cacheOf();

    const first = await sut.acquire(a);
    expect(first.fetched).toBe(true);
    expect(first.path).toBe(join(dir, 'm', a.sha256, 'model.onnx'));
    expect(readFileSync(first.path)).toEqual(Buffer.from(a.data));
    first.release();
    const second = await sut.acquire(a);

    expect(second).toMatchObject({ path: first.path, fetched: false });
    expect(reads).toHaveBeenCalledTimes(1);
    expect(sut.stats()).toEqual({
      usedBytes: 4000,
      maxBytes: 1024 * 1024,
      entries: 1,
      inUseBytes: 4000,
    });
    second.release();
    second.release(); // idempotent
    expect(sut.stats().inUseBytes).toBe(0);
    // Nothing left behind in its temporary folder.
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
  });

  it('shares one download among concurrent misses of one artifact', async () => {
    const a = await single('m', 200_000);
    const reads = jest.spyOn(store, 'read');
    const sut = cacheOf();

    const leases = await Promise.all(
      Array.from({ length: 5 }, () => sut.acquire(a)),
    );

    expect(reads).toHaveBeenCalledTimes(1);
    expect(new Set(leases.map((l) => l.path)).size).toBe(1);
    expect(sut.stats().entries).toBe(1);
  });

  it('fetches a corrupted cached file again and never hands it out', async () => {
    const a = await single('m', 4000);
    const sut = cacheOf();
    const lease = await sut.acquire(a);
    lease.release();
    // The same size, other bytes: only a hash tells.
    chmodSync(lease.path, 0o644);
    writeFileSync(lease.path, bytes(4000, 99));

    const again = await sut.acquire(a);

    expect(again.fetched).toBe(true);
    expect(sha256(readFileSync(again.path))).toBe(a.sha256);
    expect(warnings()).toEqual([
      expect.stringContaining(
        `the cached artifact m/${a.sha256} failed verification`,
      ),
    ]);
  });

  it('hashes every entry on its first use after a restart: corruption hidden from stat is caught too', async () => {
    const a = await single('m', 4000);
    const before = await cacheOf().acquire(a);
    const { mtime, atime } = statSync(before.path);
    chmodSync(before.path, 0o644);
    writeFileSync(before.path, bytes(4000, 99));
    utimesSync(before.path, atime, mtime);
    const reads = jest.spyOn(store, 'read');

    const restarted = cacheOf();
    await restarted.init();
    expect(restarted.stats()).toMatchObject({ entries: 1, usedBytes: 4000 });
    const lease = await restarted.acquire(a);

    expect(lease.fetched).toBe(true);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(sha256(readFileSync(lease.path))).toBe(a.sha256);
    // And a sound entry is hashed once, then trusted while its files are unchanged.
    lease.release();
    expect((await restarted.acquire(a)).fetched).toBe(false);
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it('refuses bytes in the store that are not the version, keeping nothing', async () => {
    const a = await single('m', 4000);
    const other = sha256(bytes(4000, 5));
    const sut = cacheOf();

    // The key names the artifact's folder, the version another sha256: one object.
    await expect(sut.acquire({ ...a, sha256: other })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect(sut.stats()).toMatchObject({ entries: 0, usedBytes: 0 });
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
    expect(existsSync(join(dir, 'm', other))).toBe(false);
  });

  it('verifies a several-file artifact by its manifest digest, its files side by side', async () => {
    const art = await several('multi');
    const sut = cacheOf();

    const lease = await sut.acquire(art);

    expect(lease.path).toBe(join(dir, 'multi', art.sha256, 'model.onnx'));
    expect(
      readFileSync(join(dir, 'multi', art.sha256, 'weights/w.bin')),
    ).toEqual(Buffer.from(art.files[1].data));
    expect(sut.stats().usedBytes).toBe(5300);
    lease.release();

    // A file the manifest does not list (the store's folder changed): refused.
    await store.put(
      Readable.from([bytes(10)]),
      `multi/${art.sha256}/extra.bin`,
    );
    rmSync(join(dir, 'multi'), { recursive: true, force: true });
    await expect(cacheOf().acquire(art)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining('3 files hash to'),
    });
  });

  it('catches a changed file of a several-file artifact, not only the entry point', async () => {
    const art = await several('multi');
    const sut = cacheOf();
    (await sut.acquire(art)).release();
    const weights = join(dir, 'multi', art.sha256, 'weights/w.bin');
    chmodSync(weights, 0o644);
    writeFileSync(weights, bytes(5000, 1));

    const again = await sut.acquire(art);

    expect(again.fetched).toBe(true);
    expect(readFileSync(weights)).toEqual(Buffer.from(art.files[1].data));
  });

  it('deletes least recently used entries no lease holds when over its limit', async () => {
    const sut = cacheOf(10_000);
    const a = await single('a', 4000, 1);
    const b = await single('b', 4000, 2);
    const c = await single('c', 4000, 3);
    const held = await sut.acquire(a); // the oldest, but in use
    (await sut.acquire(b)).release();

    const lease = await sut.acquire(c);

    expect(existsSync(held.path)).toBe(true);
    expect(existsSync(join(dir, 'b'))).toBe(false);
    expect(existsSync(lease.path)).toBe(true);
    expect(sut.stats()).toMatchObject({ entries: 2, usedBytes: 8000 });
    expect(warnings()).toEqual([]);
    // b comes back on its next use.
    lease.release();
    const back = await sut.acquire(b);
    expect(back.fetched).toBe(true);
    expect(existsSync(join(dir, 'c'))).toBe(false);
    expect(existsSync(held.path)).toBe(true);
  });

  it('keeps last use across restarts: the least recently used goes first', async () => {
    const first = cacheOf();
    const a = await single('a', 4000, 1);
    const b = await single('b', 4000, 2);
    (await first.acquire(b)).release();
    (await first.acquire(a)).release();
    // b used before a: its folder's time says so.
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'b', b.sha256), old, old);

    const sut = cacheOf(8500);
    await sut.init();
    (await sut.acquire(await single('c', 1000, 3))).release();

    expect(existsSync(join(dir, 'b'))).toBe(false);
    expect(existsSync(join(dir, 'a', a.sha256))).toBe(true);
  });

  it('goes over its limit rather than delete what is in use, says so, and cleans up on release', async () => {
    const sut = cacheOf(5000);
    const a = await single('a', 4000, 1);
    const b = await single('b', 4000, 2);
    const holdA = await sut.acquire(a);

    const holdB = await sut.acquire(b);

    expect(existsSync(holdA.path) && existsSync(holdB.path)).toBe(true);
    expect(sut.stats()).toMatchObject({
      usedBytes: 8000,
      inUseBytes: 8000,
      entries: 2,
    });
    expect(warnings()).toEqual([
      expect.stringContaining('over its limit of 5000'),
    ]);
    holdA.release();
    await eventually('a deleted', () => !existsSync(join(dir, 'a')) || null);
    expect(existsSync(holdB.path)).toBe(true);
    expect(sut.stats()).toMatchObject({ usedBytes: 4000, entries: 1 });
  });

  it('caches an object outside an artifact folder under the version, as one file', async () => {
    const data = bytes(1000, 4);
    const { uri } = await store.put(Readable.from([data]), 'loose/x.onnx');
    const sut = cacheOf();

    const lease = await sut.acquire({
      uri,
      sha256: sha256(data),
      modelId: 'loose-model',
    });

    expect(lease.path).toBe(join(dir, 'loose-model', sha256(data), 'x.onnx'));
    expect(readFileSync(lease.path)).toEqual(Buffer.from(data));
  });

  it('says NOT_FOUND for an artifact the store does not have, and INVALID_URI for another store', async () => {
    const sut = cacheOf();
    const missing = sha256(bytes(3));
    await expect(
      sut.acquire({
        uri: store.uriFor(`m/${missing}/model.onnx`),
        sha256: missing,
        modelId: 'm',
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      sut.acquire({
        uri: `s3://bucket/m/${missing}/model.onnx`,
        sha256: missing,
        modelId: 'm',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_URI' });
    expect(sut.stats()).toMatchObject({ entries: 0, inUseBytes: 0 });
  });
});
