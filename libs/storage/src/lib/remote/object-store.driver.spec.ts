import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';

import { bytes, storageDriverContract } from '../storage-contract.testing';
import { ArtifactDigest, ArtifactStat } from '../storage-driver';
import {
  exactRange,
  ObjectRange,
  ObjectStoreDriver,
  ObjectStoreOptions,
  StoredObject,
} from './object-store.driver';

/** The store-independent half of the cloud drivers over a Map: what the base class adds. */
class MemoryStoreDriver extends ObjectStoreDriver {
  readonly scheme = 'mem';
  readonly bucket = 'bucket';
  readonly objects = new Map<
    string,
    { data: Buffer; modified: Date; sha256?: string }
  >();
  gets = 0;

  constructor(options: ObjectStoreOptions) {
    super(options);
  }

  protected async headObject(name: string): Promise<ArtifactStat | null> {
    const o = this.objects.get(name);
    if (!o) return null;
    const stat = { sizeBytes: o.data.length, modified: o.modified };
    return o.sha256 ? { ...stat, sha256: o.sha256 } : stat;
  }

  protected async getObject(
    name: string,
    range?: ObjectRange,
  ): Promise<Readable> {
    this.gets++;
    const o = this.objects.get(name);
    if (!o) throw this.notFound(`mem://bucket/${name}`);
    // Always the whole object, as a server that ignores ranges would answer.
    const body = Readable.from([o.data.subarray(0, 7), o.data.subarray(7)]);
    return range ? exactRange(body, range, undefined) : body;
  }

  protected async uploadFile(
    name: string,
    path: string,
    digest: ArtifactDigest,
  ): Promise<boolean> {
    if (this.objects.has(name)) return false;
    this.objects.set(name, {
      data: readFileSync(path),
      modified: new Date(),
      sha256: digest.sha256,
    });
    return true;
  }

  protected async deleteObject(name: string): Promise<boolean> {
    return this.objects.delete(name);
  }

  protected async *listObjects(
    namePrefix: string,
  ): AsyncIterable<StoredObject> {
    for (const [name, o] of this.objects)
      if (name.startsWith(namePrefix))
        yield { name, sizeBytes: o.data.length, modified: o.modified };
  }
}

describe(ObjectStoreDriver.name, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function make(prefix = 'p'): { driver: MemoryStoreDriver; workDir: string } {
    const workDir = mkdtempSync(join(tmpdir(), 'portfolio-object-store-'));
    dirs.push(workDir);
    return { driver: new MemoryStoreDriver({ workDir, prefix }), workDir };
  }

  describe('the storage driver contract, over a store in memory', () => {
    storageDriverContract(
      async () => {
        const { driver, workDir } = make();
        await driver.init();
        return {
          driver,
          leftovers: async () => readdirSync(join(workDir, '.ingest')),
        };
      },
      { recordsSha256: true },
    );
  });

  it('refuses a file whose bytes are not those recorded at commit, keeping nothing', async () => {
    const { driver, workDir } = make();
    const digest = 'ab'.repeat(32);
    const { uri } = await driver.put(
      Readable.from([bytes(100)]),
      `m/${digest}/model.onnx`,
    );
    await driver.put(Readable.from([bytes(5)]), `m/${digest}/w.bin`);
    const stored = driver.objects.get(`p/m/${digest}/w.bin`);
    if (stored) stored.data = Buffer.from('tampered');

    await expect(driver.localPath(uri)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });

    expect(readdirSync(join(workDir, 'mem', 'bucket', 'p', 'm'))).toEqual([]);
  });

  it("refuses an artifact's only file, unrecorded, whose bytes are not those its key names", async () => {
    const { driver } = make();
    const key = `m/${'cd'.repeat(32)}/model.onnx`;
    driver.objects.set(`p/${key}`, {
      data: Buffer.from('other tools wrote this'),
      modified: new Date(),
    });
    await expect(driver.localPath(driver.uriFor(key))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  it('downloads an artifact once, for callers at once and later', async () => {
    const { driver } = make();
    const { uri } = await driver.put(
      Readable.from([bytes(50_000)]),
      (d) => `m/${d.sha256}/model.onnx`,
    );

    await Promise.all([driver.localPath(uri), driver.localPath(uri)]);
    await driver.localPath(uri);

    expect(driver.gets).toBe(1);
  });

  it('adds what a copy made by another process lacks, without replacing it', async () => {
    const { driver, workDir } = make();
    const digest = 'ef'.repeat(32);
    await driver.put(Readable.from([bytes(10, 1)]), `m/${digest}/w.bin`);
    const { uri } = await driver.put(
      Readable.from([bytes(10, 2)]),
      `m/${digest}/model.onnx`,
    );
    // Another process's copy, made before the entry point was stored.
    const folder = join(workDir, 'mem', 'bucket', 'p', 'm', digest);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'w.bin'), Buffer.from(bytes(10, 1)));

    const path = await driver.localPath(uri);

    expect(readFileSync(path)).toEqual(Buffer.from(bytes(10, 2)));
    expect(readdirSync(folder).sort()).toEqual(['model.onnx', 'w.bin']);
    expect(readdirSync(dirname(folder))).toEqual([digest]);
  });

  it('downloads an artifact under any other key again, as its object may have changed', async () => {
    const { driver } = make();
    const { uri } = await driver.put(Readable.from([bytes(10, 1)]), 'm/v/x');
    const first = await driver.localPath(uri);
    driver.objects.set('p/m/v/x', {
      data: Buffer.from('new'),
      modified: new Date(),
    });

    expect(readFileSync(await driver.localPath(uri), 'utf8')).toBe('new');
    expect(first).toBe(await driver.localPath(uri));
  });

  it('says where its URIs start when refusing one', async () => {
    const { driver } = make('a/b');
    await expect(driver.stat('mem://bucket/a/c/m/1/x')).rejects.toThrow(
      'mem://bucket/a/c/m/1/x is not in this store (its URIs start with mem://bucket/a/b/)',
    );
  });

  it('skips objects of the bucket it could not address', async () => {
    const { driver } = make('');
    driver.objects.set('folder/', {
      data: Buffer.alloc(0),
      modified: new Date(),
    });
    driver.objects.set('a//b', { data: Buffer.alloc(1), modified: new Date() });
    driver.objects.set('ok/1/m', {
      data: Buffer.alloc(2),
      modified: new Date(),
    });
    const keys: string[] = [];
    for await (const item of driver.list('')) keys.push(item.key);
    expect(keys).toEqual(['ok/1/m']);
  });
});

describe(exactRange.name, () => {
  const whole = Buffer.from('0123456789');
  const read = async (stream: Readable) => {
    const parts: Buffer[] = [];
    for await (const p of stream) parts.push(p as Buffer);
    return Buffer.concat(parts).toString();
  };
  const chunks = () =>
    Readable.from([
      whole.subarray(0, 3),
      whole.subarray(3, 4),
      whole.subarray(4),
    ]);

  it('passes an exact answer through', async () => {
    const body = Readable.from([Buffer.from('345')]);
    expect(exactRange(body, { start: 3, end: 6 }, 'bytes 3-5/10')).toBe(body);
  });

  it.each<[number, number, string | undefined, string]>([
    [0, 1, 'bytes 0-9/10', '0'],
    [2, 5, undefined, '234'],
    [3, 4, undefined, '3'],
    [4, 10, 'bytes 0-9/10', '456789'],
    [5, 7, 'bytes 2-9/10', '56'],
  ])(
    'cuts [%i, %i) out of a wider answer (%s)',
    async (start, end, header, expected) => {
      const body =
        header === 'bytes 2-9/10'
          ? Readable.from([whole.subarray(2)])
          : chunks();
      expect(await read(exactRange(body, { start, end }, header))).toBe(
        expected,
      );
    },
  );

  it('refuses an answer that starts after the range', () => {
    expect(() =>
      exactRange(Readable.from([]), { start: 1, end: 3 }, 'bytes 2-3/10'),
    ).toThrow('asked for bytes 1-2, the store sent bytes 2-3/10');
  });
});
