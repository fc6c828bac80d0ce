import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';

import { LocalError } from './errors';
import { listFiles, tarSize, tarStream } from './tar';

describe('tar of a directory', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-tar-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function unpack(tar: Buffer): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    const ex = extract();
    const done = (async () => {
      for await (const entry of ex) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        expect(entry.header.type).toBe('file');
        files[entry.header.name] = Buffer.concat(chunks).toString('latin1');
      }
    })();
    Readable.from([tar]).pipe(ex as unknown as NodeJS.WritableStream);
    await done;
    return files;
  }

  it('holds every file under the directory, with its path and bytes', async () => {
    const big = Buffer.alloc(300_000, 7);
    mkdirSync(join(dir, 'onnx', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{"a":1}');
    writeFileSync(join(dir, 'onnx', 'model.onnx'), big);
    writeFileSync(join(dir, 'onnx', 'deep', 'empty.txt'), '');

    const files = await listFiles(dir);
    expect(files.map((f) => [f.name, f.size])).toEqual([
      ['config.json', 7],
      ['onnx/deep/empty.txt', 0],
      ['onnx/model.onnx', 300_000],
    ]);

    const chunks: Buffer[] = [];
    const stream = tarStream(files);
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((resolve) => stream.on('end', resolve));
    const tar = Buffer.concat(chunks);
    expect(tar.length).toBe(tarSize(files));

    expect(await unpack(tar)).toEqual({
      'config.json': '{"a":1}',
      'onnx/deep/empty.txt': '',
      'onnx/model.onnx': big.toString('latin1'),
    });
  });

  it('refuses an empty directory', async () => {
    await expect(listFiles(dir)).rejects.toBeInstanceOf(LocalError);
  });

  it('fails the stream when a file goes away while it is read', async () => {
    writeFileSync(join(dir, 'a.bin'), 'abc');
    const files = await listFiles(dir);
    rmSync(join(dir, 'a.bin'));
    const stream = tarStream(files);
    await expect(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
    ).rejects.toThrow(/ENOENT/);
  });
});
