import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

/** One entry of a test archive: a file (`data`), a directory, or a link. */
export interface ArchiveEntry {
  readonly name: string;
  readonly data?: Uint8Array | string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  /** What a link points at. */
  readonly target?: string;
}

/** A POSIX tar archive of `entries`, gzipped when asked. */
export async function buildTar(
  entries: readonly ArchiveEntry[],
  options: { gzip?: boolean } = {},
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file')
      pack.entry({ name: e.name, type }, Buffer.from(e.data ?? ''));
    else if (type === 'directory') pack.entry({ name: e.name, type });
    else pack.entry({ name: e.name, type, linkname: e.target ?? '' });
  }
  pack.finalize();
  await collected;
  const body = Buffer.concat(chunks);
  return options.gzip ? gzipSync(body) : body;
}

/**
 * A zip archive of `entries` (deflated files; links as Unix symlink entries), written
 * here so that tests need no zip tool: local headers, the central directory, its end.
 */
export function buildZip(entries: readonly ArchiveEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const type = e.type ?? 'file';
    const name = Buffer.from(
      type === 'directory' && !e.name.endsWith('/') ? `${e.name}/` : e.name,
    );
    const raw = Buffer.from(
      type === 'symlink' ? (e.target ?? '') : (e.data ?? ''),
    );
    const deflate = type === 'file' && raw.length > 0;
    const body = deflate ? deflateRawSync(raw) : raw;
    const crc = crc32(raw);
    const mode =
      type === 'symlink' ? 0o120777 : type === 'directory' ? 0o40755 : 0o100644;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    // Made by Unix (3), so that the mode in the external attributes counts.
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * A multipart/form-data body with one part per file, in field `field`, each named by
 * its path; and the Content-Type header that goes with it.
 */
export function buildMultipart(
  files: readonly { name: string; data: Uint8Array | string }[],
  field = 'artifact',
): { body: Buffer; contentType: string } {
  const boundary = `----portfolio-test-${files.length}-boundary`;
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(f.data),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(parts),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
