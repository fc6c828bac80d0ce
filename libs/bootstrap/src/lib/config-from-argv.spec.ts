import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { configFromArgv } from './config-from-argv';

describe(configFromArgv.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'portfolio-bootstrap-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, 'gateway:\n  port: 9123\nlog:\n  level: warn\n');

  it.each([[['--config', file]], [[`--config=${file}`]], [['-c', file]]])(
    'reads the file named by %p',
    (argv) => {
      const config = configFromArgv(argv);
      expect(config.source).toBe(file);
      expect(config.gateway.port).toBe(9123);
    },
  );
});
