import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bytes, storageDriverContract } from '../storage-contract.testing';
import { LocalStorageDriver } from './local.driver';

describe(LocalStorageDriver.name, () => {
  describe('the storage driver contract', () => {
    storageDriverContract(async () => {
      const root = mkdtempSync(join(tmpdir(), 'portfolio-local-contract-'));
      const driver = new LocalStorageDriver(root);
      await driver.init();
      return {
        driver,
        leftovers: async () => readdirSync(join(root, '.ingest')),
        close: async () => rmSync(root, { recursive: true, force: true }),
      };
    });
  });

  let root: string;
  let sut: LocalStorageDriver;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'portfolio-local-driver-'));
    sut = new LocalStorageDriver(root);
    await sut.init();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function store(key: string, chunks: Uint8Array[]) {
    const w = await sut.createWriter();
    for (const c of chunks) await w.write(c);
    const done = await w.finish();
    return { ...done, ...(await w.commit(key)) };
  }

  it('keeps the artifact as a file under the root, which localPath returns', async () => {
    const a = bytes(300_000);
    const result = await store('m/abc/model.onnx', [a]);
    expect(result.uri).toBe('local:m/abc/model.onnx');
    expect(await sut.localPath(result.uri)).toBe(
      join(root, 'm', 'abc', 'model.onnx'),
    );
    expect(result.sha256).toBe(createHash('sha256').update(a).digest('hex'));
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

  it('removes the folders a deletion empties', async () => {
    const { uri } = await store('m/x/model.onnx', [bytes(5)]);
    await sut.delete(uri);
    expect(existsSync(join(root, 'm'))).toBe(false);
    expect(existsSync(join(root, '.ingest'))).toBe(true);
  });

  it('lists regular files only: not the ingest folder, not links', async () => {
    await store('m/x/model.onnx', [bytes(5)]);
    const w = await sut.createWriter();
    await w.write(bytes(5));
    mkdirSync(join(root, 'n'));
    writeFileSync(join(tmpdir(), 'portfolio-outside.txt'), 'outside');
    symlinkSync(
      join(tmpdir(), 'portfolio-outside.txt'),
      join(root, 'n', 'link'),
    );

    const keys: string[] = [];
    for await (const item of sut.list('')) keys.push(item.key);

    expect(keys).toEqual(['m/x/model.onnx']);
    await w.abort();
  });

  it('says what it has not when a key names a folder', async () => {
    await store('m/x/model.onnx', [bytes(5)]);
    await expect(sut.stat('local:m/x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(sut.localPath('local:m/x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
