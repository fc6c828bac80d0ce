import { mkdirSync } from 'node:fs';

import { StartupError } from './startup-error';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file of that name is in the way',
  ENOSPC: 'no space left on the device',
};

/**
 * Creates the folder `path` (and its parents) unless it exists. A folder that cannot
 * be created is an operator's error: a StartupError naming the folder, what it is for
 * (`what`, with the setting that chooses it) and why, rather than whatever the first
 * component to use it would make of the missing folder later.
 */
export function ensureDirectory(path: string, what: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const reason = REASONS[code] ?? (e as Error).message;
    throw new StartupError(`cannot create the ${what} ${path}: ${reason}`);
  }
}
