import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Writes model bytes to `<dir>/<fileName>` (creating dir) and returns the absolute path. */
export function writeModel(
  dir: string,
  fileName: string,
  bytes: Uint8Array,
): string {
  const absoluteDir = resolve(dir);
  mkdirSync(absoluteDir, { recursive: true });
  const path = resolve(absoluteDir, fileName);
  writeFileSync(path, bytes);
  return path;
}
