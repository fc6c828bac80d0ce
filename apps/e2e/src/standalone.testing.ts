import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { AppProcess, freePort } from '@portfolio/testing';

export interface StartedStandalone {
  readonly app: AppProcess;
  /** `http://127.0.0.1:<port>` of its gateway. */
  readonly url: string;
}

/**
 * The built standalone app on a free port, with its own data directory and admin key,
 * from a configuration file written into `dir` (`extraConfig`: more YAML lines at the
 * top level, e.g. a `models:` section whose relative paths resolve against `dir`).
 */
export async function startStandalone(options: {
  dir: string;
  dataDir: string;
  adminKey: string;
  extraConfig?: readonly string[];
}): Promise<StartedStandalone> {
  const port = await freePort();
  const configFile = join(options.dir, 'portfolio.yaml');
  writeFileSync(
    configFile,
    [
      `data_dir: ${options.dataDir}`,
      ...(options.extraConfig ?? []),
      'gateway:',
      '  host: 127.0.0.1',
      `  port: ${port}`,
      `  admin_key: ${options.adminKey}`,
      '',
    ].join('\n'),
  );
  const app = new AppProcess({
    name: 'portfolio',
    app: 'portfolio',
    args: ['--config', configFile],
    env: { MALLOC_MMAP_THRESHOLD_: '131072' },
    readyLine: 'portfolio ready',
  });
  await app.start();
  return { app, url: `http://127.0.0.1:${port}` };
}
