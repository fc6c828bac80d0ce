import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigOn } from './load-config';
import { defaultNodeId } from './resolve-config';
import { NODE_ID_PATTERN } from './config.constants';

describe('defaultNodeId', () => {
  it('is the short host name and the pid', () => {
    expect(
      defaultNodeId({ hostname: 'worker-3', pid: 4242, parallelism: 1 }),
    ).toBe('worker-3-4242');
    expect(
      defaultNodeId({
        hostname: 'worker-3.cluster.local',
        pid: 7,
        parallelism: 1,
      }),
    ).toBe('worker-3-7');
  });

  it('always fits the node id rule, whatever the host name', () => {
    for (const hostname of [
      '',
      '.',
      'host name with spaces',
      'ünïcødé',
      'x'.repeat(200),
      'a:b/c',
    ]) {
      const id = defaultNodeId({ hostname, pid: 123456, parallelism: 1 });
      expect(id).toMatch(NODE_ID_PATTERN);
      expect(id.endsWith('-123456')).toBe(true);
    }
    expect(defaultNodeId({ hostname: '', pid: 1, parallelism: 1 })).toBe(
      'runtime-1',
    );
  });
});

describe('host-dependent defaults', () => {
  const cwd = path.join(os.tmpdir(), 'portfolio-config-host');

  it.each<[number, number]>([
    [1, 1],
    [2, 2],
    [16, 2],
  ])('with %p CPUs, workers defaults to %p', (parallelism, workers) => {
    const config = loadConfigOn(
      { file: null, env: {}, cwd },
      { hostname: 'h', pid: 1, parallelism },
    );
    expect(config.runtime.workers).toBe(workers);
    expect(config.runtime.nodeId).toBe('h-1');
  });

  it('does not apply the defaults when the values are set', () => {
    const config = loadConfigOn(
      {
        file: null,
        env: {
          PORTFOLIO_RUNTIME_WORKERS: '7',
          PORTFOLIO_RUNTIME_NODE_ID: 'edge',
        },
        cwd,
      },
      { hostname: 'h', pid: 1, parallelism: 1 },
    );
    expect(config.runtime).toMatchObject({ workers: 7, nodeId: 'edge' });
  });
});
