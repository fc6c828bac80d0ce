import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { PortfolioError } from '@portfolio/contracts';
import {
  ArchiveEntry,
  buildMultipart,
  buildTar,
  buildZip,
  makeTempDir,
} from '@portfolio/testing';

import {
  DEFAULT_UNPACK_LIMITS,
  detectPackaging,
  manifestDigest,
  safeRelativePath,
  UnpackLimits,
  unpackUpload,
} from './artifact-unpack';

const FILES: ArchiveEntry[] = [
  { name: 'model.onnx', data: 'graph bytes' },
  { name: 'weights/w.data', data: 'weight bytes' },
];

describe('unpacking an upload', () => {
  let root: string;
  let n = 0;
  beforeAll(() => (root = makeTempDir('unpack')));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Writes `bytes` as an upload body; the directory to unpack into does not exist yet. */
  const body = (bytes: Buffer) => {
    const source = join(root, `body-${++n}`);
    writeFileSync(source, bytes);
    return { source, dir: join(root, `out-${n}`) };
  };
  const unpack = async (
    bytes: Buffer,
    options: { contentType?: string; limits?: UnpackLimits } = {},
  ) => {
    const { source, dir } = body(bytes);
    return { files: await unpackUpload(source, dir, options), dir };
  };
  const refused = async (
    bytes: Buffer,
    options: { contentType?: string; limits?: UnpackLimits } = {},
  ): Promise<PortfolioError> => {
    const { source, dir } = body(bytes);
    const e = await unpackUpload(source, dir, options).then(
      () => {
        throw new Error('unpacked');
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PortfolioError);
    return e as PortfolioError;
  };
  const contents = (files: { path: string; absolutePath: string }[]) =>
    Object.fromEntries(
      files.map((f) => [f.path, readFileSync(f.absolutePath, 'utf8')]),
    );

  it.each([
    ['a tar archive', () => buildTar(FILES)],
    ['a gzipped tar archive', () => buildTar(FILES, { gzip: true })],
    ['a zip archive', async () => buildZip(FILES)],
  ])('unpacks %s with the same files, digest and all', async (_what, build) => {
    const { files } = await unpack(await build());

    expect(contents(files)).toEqual({
      'model.onnx': 'graph bytes',
      'weights/w.data': 'weight bytes',
    });
    expect(files.map((f) => f.sizeBytes)).toEqual([11, 12]);
    // The same files give the same digest, however they were packed.
    expect(manifestDigest(files)).toBe(
      manifestDigest((await unpack(buildZip([...FILES].reverse()))).files),
    );
  });

  it('unpacks a multipart body: files by their paths, or one archive sent as a file', async () => {
    const multi = buildMultipart([
      { name: 'model.onnx', data: 'graph bytes' },
      { name: 'weights/w.data', data: 'weight bytes' },
    ]);
    const direct = await unpack(multi.body, { contentType: multi.contentType });
    expect(contents(direct.files)).toEqual({
      'model.onnx': 'graph bytes',
      'weights/w.data': 'weight bytes',
    });

    const packed = buildMultipart([
      { name: 'model.tar.gz', data: await buildTar(FILES, { gzip: true }) },
    ]);
    const archived = await unpack(packed.body, {
      contentType: packed.contentType,
    });
    expect(manifestDigest(archived.files)).toBe(manifestDigest(direct.files));
  });

  it('skips directory entries and macOS metadata, and changes the digest with any byte or name', async () => {
    const { files } = await unpack(
      buildZip([
        { name: 'weights', type: 'directory' },
        ...FILES,
        { name: '__MACOSX/._model.onnx', data: 'junk' },
        { name: '.DS_Store', data: 'junk' },
      ]),
    );
    expect(files.map((f) => f.path)).toEqual(['model.onnx', 'weights/w.data']);

    const renamed = await unpack(
      buildZip([FILES[0], { name: 'weights/x.data', data: 'weight bytes' }]),
    );
    const changed = await unpack(
      buildZip([FILES[0], { name: 'weights/w.data', data: 'weight bytez' }]),
    );
    const digests = new Set(
      [files, renamed.files, changed.files].map(manifestDigest),
    );
    expect(digests.size).toBe(3);
  });

  describe('refuses, naming the entry, and writes nothing outside its directory', () => {
    it.each([
      ['a path leading out', '../evil.onnx', /leads out of the upload/],
      ['a path leading out further in', 'a/../../evil', /leads out/],
      ['an absolute path', '/etc/passwd', /absolute path/],
      ['a Windows drive', 'C:/evil', /absolute path/],
      ['a backslash', 'a\\..\\evil', /backslash/],
      ['an empty segment', 'a//b', /empty or "\." segment/],
      ['a control character', 'a\u0001b', /control character/],
    ])('%s in a tar', async (_what, name, message) => {
      const e = await refused(await buildTar([FILES[0], { name, data: 'x' }]));
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(message);
      expect(existsSync(join(root, 'evil.onnx'))).toBe(false);
    });

    it('a path leading out in a zip and in a multipart file name', async () => {
      // yauzl checks zip names itself, in its own words.
      expect(
        (await refused(buildZip([{ name: '../../evil', data: 'x' }]))).message,
      ).toMatch(/invalid relative path: \.\.\/\.\.\/evil/);
      const multi = buildMultipart([{ name: '../evil.onnx', data: 'x' }]);
      expect(
        (await refused(multi.body, { contentType: multi.contentType })).message,
      ).toMatch(/leads out/);
      expect(existsSync(join(root, 'evil.onnx'))).toBe(false);
    });

    it.each([
      [
        'a symbolic link in a tar',
        async () =>
          buildTar([{ name: 'l', type: 'symlink', target: '/etc/passwd' }]),
      ],
      [
        'a hard link in a tar',
        async () =>
          buildTar([
            FILES[0],
            { name: 'l', type: 'link', target: 'model.onnx' },
          ]),
      ],
      [
        'a symbolic link in a zip',
        async () =>
          buildZip([{ name: 'l', type: 'symlink', target: '/etc/passwd' }]),
      ],
    ])('%s', async (_what, build) => {
      const e = await refused(await build());
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/links are not accepted/);
    });

    it('a file twice, and a name that is both a file and a directory', async () => {
      expect(
        (await refused(await buildTar([FILES[0], FILES[0]]))).message,
      ).toMatch(/holds "model.onnx" twice/);
      expect(
        (
          await refused(
            await buildTar([
              { name: 'a', data: 'x' },
              { name: 'a/b', data: 'y' },
            ]),
          )
        ).message,
      ).toMatch(/both a file and a directory/);
    });

    it('more files than the limit', async () => {
      const limits = { ...DEFAULT_UNPACK_LIMITS, maxFiles: 3 };
      const many = Array.from({ length: 4 }, (_, i) => ({
        name: `f${i}`,
        data: 'x',
      }));
      expect((await refused(await buildTar(many), { limits })).message).toMatch(
        /more than 3 files/,
      );
    });

    it('a decompression bomb, stopped as it passes the ratio, and more bytes than the limit', async () => {
      // 32 MiB of zeros packs into a few tens of KiB.
      const zeros = new Uint8Array(32 * 1024 * 1024);
      const limits: UnpackLimits = {
        ...DEFAULT_UNPACK_LIMITS,
        ratioFloorBytes: 1024 * 1024,
      };
      const bomb = buildZip([{ name: 'model.onnx', data: zeros }]);
      expect(bomb.length).toBeLessThan(zeros.length / 100);
      const e = await refused(bomb, { limits });
      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/decompression bomb/);

      const small = { ...DEFAULT_UNPACK_LIMITS, maxExpandedBytes: 1000 };
      expect(
        (
          await refused(
            await buildTar([{ name: 'big', data: 'x'.repeat(2000) }]),
            { limits: small },
          )
        ).message,
      ).toMatch(/expands to more than 1000 bytes/);
    });

    it('a corrupt archive, and a body that is no archive', async () => {
      const tarred = await buildTar(FILES, { gzip: true });
      const cut = tarred.subarray(0, tarred.length - 30);
      expect((await refused(cut)).message).toMatch(
        /gzipped tar archive cannot be read/,
      );
      expect((await refused(gzipSync(Buffer.from('not a tar')))).code).toBe(
        'INVALID_ARTIFACT',
      );
      expect((await refused(Buffer.from('plain bytes'))).message).toMatch(
        /neither a tar nor a zip/,
      );
    });

    it('a multipart body with another field, text fields, no file, or no boundary', async () => {
      const other = buildMultipart([{ name: 'm.onnx', data: 'x' }], 'file');
      const e = await refused(other.body, { contentType: other.contentType });
      expect(e.code).toBe('INVALID_REQUEST');
      expect(e.message).toMatch(/field "file".*field "artifact"/);

      const empty = buildMultipart([]);
      expect(
        (await refused(empty.body, { contentType: empty.contentType })).message,
      ).toMatch(/no file in field "artifact"/);

      const text = Buffer.from(
        '--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b--\r\n',
      );
      expect(
        (
          await refused(text, {
            contentType: 'multipart/form-data; boundary=b',
          })
        ).message,
      ).toMatch(/text field/);
      expect(
        (await refused(text, { contentType: 'multipart/form-data' })).code,
      ).toBe('INVALID_REQUEST');
    });
  });

  it('detects what a body is by its first bytes', async () => {
    const cases: [Buffer, string][] = [
      [await buildTar(FILES), 'tar'],
      [await buildTar(FILES, { gzip: true }), 'gzip'],
      [buildZip(FILES), 'zip'],
      [Buffer.from([0x08, 0x07, 0x12, 0x00]), 'file'],
    ];
    for (const [bytes, kind] of cases)
      expect(await detectPackaging(body(bytes).source)).toBe(kind);
  });

  it('validates names without touching the disk', () => {
    expect(safeRelativePath('./a/b.onnx')).toBe('a/b.onnx');
    expect(safeRelativePath('dir/')).toBeNull();
    expect(() => safeRelativePath('a/./b')).toThrow(/"\." segment/);
    expect(readdirSync(root).every((f) => !f.includes('evil'))).toBe(true);
  });
});
