import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ensureDirectory } from './ensure-directory';
import { StartupError } from './startup-error';

describe(ensureDirectory.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'portfolio-ensure-dir-'));

  it('creates a folder and its missing parents, and accepts one that exists', () => {
    const path = join(dir, 'a', 'b', 'c');

    ensureDirectory(path, 'data folder');
    ensureDirectory(path, 'data folder');

    expect(statSync(path).isDirectory()).toBe(true);
  });

  it('refuses a path below a file with a StartupError naming the folder and why', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    const path = join(file, 'data');

    const attempt = () => ensureDirectory(path, 'data folder (data_dir)');

    expect(attempt).toThrow(StartupError);
    expect(attempt).toThrow(
      `cannot create the data folder (data_dir) ${path}: a part of the path is a file, not a folder`,
    );
    expect(existsSync(path)).toBe(false);
  });
});
