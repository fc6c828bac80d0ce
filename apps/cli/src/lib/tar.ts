import { createReadStream, promises as fs } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';

import { LocalError } from './errors';

export interface TarFile {
  /** Path inside the archive, `/`-separated. */
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
}

/**
 * The regular files under `dir`, recursively, sorted by archive path. Links are
 * followed (their targets are sent as files); anything else that is not a file
 * or a directory is refused.
 */
export async function listFiles(dir: string): Promise<TarFile[]> {
  const files: TarFile[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = (await fs.readdir(current)).sort();
    for (const entry of entries) {
      const path = join(current, entry);
      const stat = await fs.stat(path);
      if (stat.isDirectory()) await walk(path);
      else if (stat.isFile())
        files.push({
          name: relative(dir, path).split(sep).join('/'),
          path,
          size: stat.size,
          mode: stat.mode & 0o777,
          mtime: stat.mtime,
        });
      else throw new LocalError(`${path} is neither a file nor a directory`);
    }
  };
  await walk(dir);
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (files.length === 0) throw new LocalError(`${dir} holds no files`);
  return files;
}

/**
 * What the tar of these files weighs: a 512-byte header per file and its data
 * padded to 512 bytes, then two empty blocks. Paths too long for a ustar header
 * add a pax header, so this is the progress bar's total, not a Content-Length.
 */
export function tarSize(files: readonly TarFile[]): number {
  return (
    files.reduce((sum, f) => sum + 512 + Math.ceil(f.size / 512) * 512, 0) +
    1024
  );
}

/**
 * A tar stream of the files, each read from disk as the archive is consumed
 * (one file at a time; nothing is held in memory beyond the streams' buffers).
 */
export function tarStream(files: readonly TarFile[]): Readable {
  const pack = tarPack();
  const fill = async () => {
    for (const file of files) {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry(
          {
            name: file.name,
            size: file.size,
            mode: file.mode,
            mtime: file.mtime,
            type: 'file',
          },
          (err) => (err ? reject(err) : resolve()),
        );
        const source = createReadStream(file.path);
        // The pack (and the upload reading it) fails with it: see fill's catch.
        // The entry's error also comes through the callback above; without a
        // listener, the streamx entry would throw it as an uncaught 'error' event.
        source.on('error', reject);
        entry.on('error', () => undefined);
        source.pipe(entry);
      });
    }
    pack.finalize();
  };
  fill().catch((err: Error) => pack.destroy(err));
  // The error reaches the reader through Readable.from (same reason as above).
  pack.on('error', () => undefined);
  // tar-stream's streams are streamx streams: Node's Readable.from makes one of ours.
  return Readable.from(pack);
}
