import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

/**
 * The files under `dir` as a tar stream, paths relative to it: how a model directory
 * named in the configuration file (a TF.js model, a HuggingFace model) is uploaded, as
 * an archive of its files. Read file by file while it is sent, never whole in memory.
 * Links are refused (storage would refuse them inside an archive too).
 */
export function tarOfDirectory(dir: string): AsyncIterable<Uint8Array> {
  const pack = tar.pack();
  const fill = async () => {
    const walk = async (folder: string): Promise<void> => {
      const entries = await readdir(folder, { withFileTypes: true });
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const entry of entries) {
        const path = join(folder, entry.name);
        const info = await lstat(path);
        if (info.isSymbolicLink())
          throw new Error(
            `${relative(dir, path)} is a link; a model directory holds plain files`,
          );
        if (info.isDirectory()) await walk(path);
        else if (info.isFile()) {
          const name = relative(dir, path).split(sep).join('/');
          const sink = pack.entry({ name, size: info.size, mode: 0o644 });
          await pipeline(createReadStream(path), sink);
        }
      }
    };
    await walk(dir);
    pack.finalize();
  };
  fill().catch((e: unknown) => pack.destroy(e as Error));
  return pack as unknown as AsyncIterable<Uint8Array>;
}
