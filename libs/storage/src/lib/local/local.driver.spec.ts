import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StorageError } from '../storage-driver';
import { LocalStorageDriver } from './local.driver';

describe(LocalStorageDriver.name, () => {
  let root: string;
  let sut: LocalStorageDriver;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'portfolio-local-driver-'));
    sut = new LocalStorageDriver(root);
    await sut.init();
  });

  const bytes = (n: number, seed = 1) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

  async function store(key: string, chunks: Uint8Array[]) {
    const w = await sut.createWriter();
    for (const c of chunks) await w.write(c);
    const done = await w.finish();
    return { ...done, ...(await w.commit(key)) };
  }

  it('hashes while writing and commits atomically to the key', async () => {
    const a = bytes(300_000);
    const b = bytes(1234, 7);
    const result = await store('m/abc/model.onnx', [a, b]);
    const expected = createHash('sha256').update(a).update(b).digest('hex');
    expect(result).toMatchObject({
      sha256: expected,
      sizeBytes: a.length + b.length,
      uri: 'local:m/abc/model.onnx',
      created: true,
    });
    const path = await sut.localPath(result.uri);
    expect(path).toBe(join(root, 'm', 'abc', 'model.onnx'));
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(
      expected,
    );
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('stores identical bytes under the same key once', async () => {
    await store('m/k/model.onnx', [bytes(10)]);
    const again = await store('m/k/model.onnx', [bytes(10)]);
    expect(again.created).toBe(false);
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('leaves nothing behind when aborted', async () => {
    const w = await sut.createWriter();
    await w.write(bytes(100));
    await w.abort();
    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('has created its temporary file when createWriter resolves, so an abort at once leaves nothing', async () => {
    // The file is opened in the background by the stream; before the writer waited for
    // it, this listing was often empty and an abort could run before the file appeared.
    const w = await sut.createWriter();
    expect(readdirSync(join(root, '.ingest'))).toHaveLength(1);

    await w.abort();

    expect(readdirSync(join(root, '.ingest'))).toEqual([]);
  });

  it('deletes an artifact and its empty folders, and says when there was nothing', async () => {
    const { uri } = await store('m/x/model.onnx', [bytes(5)]);
    await expect(sut.delete(uri)).resolves.toBe(true);
    expect(existsSync(join(root, 'm'))).toBe(false);
    await expect(sut.delete(uri)).resolves.toBe(false);
    await expect(sut.exists(uri)).resolves.toBe(false);
    await expect(sut.localPath(uri)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it.each([
    '../escape',
    '/abs/path',
    'a/../../b',
    'a//b',
    '.ingest/x',
    'a/./b',
    '',
  ])('refuses the key %p', (key) => {
    expect(() => sut.uriFor(key)).toThrow(StorageError);
  });

  it('refuses URIs of other schemes', async () => {
    await expect(sut.localPath('s3://bucket/key')).rejects.toMatchObject({
      code: 'INVALID_URI',
    });
  });
});
