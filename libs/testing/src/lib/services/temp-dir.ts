import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Creates a fresh directory `portfolio-<label>-XXXXXX` under os.tmpdir() and
 * returns its absolute path. The caller removes it (rmSync recursive).
 */
export function makeTempDir(label: string): string {
  const safe = label.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40) || 'tmp';
  return mkdtempSync(join(tmpdir(), `portfolio-${safe}-`));
}
