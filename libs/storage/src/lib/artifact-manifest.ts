import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** One file of an artifact, as its manifest lists it. */
export interface ManifestFile {
  /** Relative to the artifact folder, `/`-separated. */
  readonly path: string;
  readonly sizeBytes: number;
  /** Of the file's bytes, hex. */
  readonly sha256: string;
}

/**
 * The digest of a several-file artifact, under which the storage service stores it
 * (`<model id>/<digest>/<path>`) and which its version records as sha256: sha256 over
 * one line per file (its sha256, size and path, in path order, compared by UTF-16 code
 * units), so the same files give the same digest however they were packed, and any
 * change to a byte, a name or the set of files changes it. A single-file artifact is
 * stored under the file's own sha256 instead (see artifactDigest).
 */
export function artifactManifestDigest(files: readonly ManifestFile[]): string {
  const hash = createHash('sha256');
  for (const f of [...files].sort((a, b) => compare(a.path, b.path)))
    hash.update(`${f.sha256}  ${f.sizeBytes}  ${f.path}\n`);
  return hash.digest('hex');
}

/**
 * What a version's sha256 is for these files: the file's own sha256 when there is one,
 * else the manifest digest.
 */
export function artifactDigest(files: readonly ManifestFile[]): string {
  return files.length === 1 ? files[0].sha256 : artifactManifestDigest(files);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The sha256 of a file's bytes, hex, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}
