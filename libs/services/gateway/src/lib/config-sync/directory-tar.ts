import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

import { artifactDigest, fileSha256, ManifestFile } from '@portfolio/storage';

interface DirectoryFile {
  /** Relative to the directory, `/`-separated: the name it has in the tar. */
  readonly path: string;
  readonly absolutePath: string;
  readonly sizeBytes: number;
}

/**
 * The plain files under `dir`, in name order, depth first. Links are refused (storage
 * would refuse them inside an archive too).
 */
async function* filesOf(dir: string): AsyncGenerator<DirectoryFile> {
  async function* walk(folder: string): AsyncGenerator<DirectoryFile> {
    const entries = await readdir(folder, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const info = await lstat(path);
      if (info.isSymbolicLink())
        throw new Error(
          `${relative(dir, path)} is a link; a model directory holds plain files`,
        );
      if (info.isDirectory()) yield* walk(path);
      else if (info.isFile())
        yield {
          path: relative(dir, path).split(sep).join('/'),
          absolutePath: path,
          sizeBytes: info.size,
        };
    }
  }
  yield* walk(dir);
}

/**
 * The files under `dir` as a tar stream, paths relative to it: how a model directory
 * named in the configuration file (a TF.js model, a HuggingFace model) is uploaded, as
 * an archive of its files. Read file by file while it is sent, never whole in memory.
 */
export function tarOfDirectory(dir: string): AsyncIterable<Uint8Array> {
  const pack = tar.pack();
  const fill = async () => {
    for await (const f of filesOf(dir)) {
      const sink = pack.entry({ name: f.path, size: f.sizeBytes, mode: 0o644 });
      await pipeline(createReadStream(f.absolutePath), sink);
    }
    pack.finalize();
  };
  fill().catch((e: unknown) => pack.destroy(e as Error));
  return pack as unknown as AsyncIterable<Uint8Array>;
}

/**
 * The sha256 the storage service gives the upload of `tarOfDirectory(dir)` (its
 * manifest digest over the same files, or the file's own for a directory of one), read
 * here without uploading anything: a configured directory that is already a version
 * is recognized at start instead of being sent again.
 */
export async function directoryDigest(dir: string): Promise<string> {
  const files: ManifestFile[] = [];
  for await (const f of filesOf(dir))
    files.push({
      path: f.path,
      sizeBytes: f.sizeBytes,
      sha256: await fileSha256(f.absolutePath),
    });
  return artifactDigest(files);
}
