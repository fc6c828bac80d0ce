import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

import {
  createTestDatabase,
  freePort,
  makeTempDir,
  REPO_ROOT,
  testNatsUrl,
  uniqueSubjectPrefix,
  type TestDatabase,
} from '@portfolio/testing';

/**
 * `npm run cluster` (tools/cluster/main.ts, after its build step): the distributed
 * topology of these tests as local processes, on the servers PORTFOLIO_DATABASE_URL and
 * PORTFOLIO_NATS_URL name, until Ctrl-C.
 */
describe('tools/cluster', () => {
  let database: TestDatabase;
  let tool: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;

  const waitFor = (text: string, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const check = () => {
        if (!output.includes(text)) return;
        clearTimeout(timer);
        resolve();
      };
      tool.stdout?.on('data', check);
      void exited.then((code) => {
        clearTimeout(timer);
        if (!output.includes(text))
          reject(new Error(`the tool exited (${code}) first:\n${output}`));
      });
      check();
    });

  beforeAll(async () => {
    database = await createTestDatabase('cluster_tool');
  });

  afterAll(async () => {
    if (tool?.exitCode === null) tool.kill('SIGKILL');
    await database?.drop();
  });

  it('starts the topology, prints where each service is, and stops it all on SIGINT', async () => {
    const port = await freePort();
    tool = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        join(REPO_ROOT, 'tools/cluster/main.ts'),
        '--runtimes',
        '1',
        '--port',
        String(port),
        '--data-dir',
        makeTempDir('cluster-tool'),
      ],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? '/tmp',
          SWC_NODE_PROJECT: 'tsconfig.base.json',
          PORTFOLIO_DATABASE_URL: database.url,
          PORTFOLIO_NATS_URL: testNatsUrl(),
          PORTFOLIO_NATS_SUBJECT_PREFIX: uniqueSubjectPrefix('cluster-tool'),
          PORTFOLIO_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    exited = new Promise((resolve) =>
      tool.once('exit', (code) => resolve(code)),
    );
    tool.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    tool.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

    await waitFor('Ctrl-C stops everything.', 120_000);
    const url = `http://127.0.0.1:${port}`;
    expect(output).toContain(`gateway          pid`);
    expect(output).toContain(`${url}  (metrics: ${url}/metrics)`);
    const health = (await (await fetch(`${url}/v1/health`)).json()) as {
      status: string;
      components: { runtimes: { alive: number } };
    };
    expect(health.status).toBe('ok');
    expect(health.components.runtimes.alive).toBe(1);

    // Every service but the gateway serves its metrics on the port printed for it.
    const services = [
      'model-registry',
      'storage',
      'cache-manager',
      'runtime-1',
    ];
    for (const name of services) {
      const metrics = new RegExp(
        `^  ${name} +pid (\\d+) +metrics: (http://127\\.0\\.0\\.1:\\d+/metrics)$`,
        'm',
      ).exec(output);
      expect(metrics).not.toBeNull();
      const res = await fetch(metrics?.[2] ?? '');
      expect(res.status).toBe(200);
    }
    const pids = [...output.matchAll(/^ {2}\S+ +pid (\d+) /gm)].map((m) =>
      Number(m[1]),
    );
    expect(pids).toHaveLength(services.length + 1);

    tool.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('Stopped.');
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  }, 180_000);
});
