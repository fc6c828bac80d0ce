import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { redactUrl, testNatsUrl, testPgUrl } from './env';
import { freePort } from './free-port';
import { findNatsServer } from './nats-server';
import { findPostgresBinaries } from './postgres-server';
import { runCommand } from './run-command';
import { makeTempDir } from './temp-dir';
import { uniqueSubjectPrefix } from './unique-subject-prefix';

describe('uniqueSubjectPrefix', () => {
  const validSubject = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

  it('is t.<label>.<random>, different every time', () => {
    const a = uniqueSubjectPrefix('runtime');
    const b = uniqueSubjectPrefix('runtime');
    expect(a).toMatch(/^t\.runtime\.[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('keeps only valid subject tokens whatever the label', () => {
    for (const label of [
      undefined,
      '',
      'a b*c>',
      '..x..y.',
      'gateway.infer v1',
      '*',
      '>',
    ]) {
      expect(uniqueSubjectPrefix(label)).toMatch(validSubject);
    }
    expect(uniqueSubjectPrefix('a b*c>')).toMatch(/^t\.a_b_c_\.[0-9a-f]{12}$/);
    expect(uniqueSubjectPrefix('..x..y.')).toMatch(/^t\.x\.y\.[0-9a-f]{12}$/);
    expect(uniqueSubjectPrefix()).toMatch(/^t\.[0-9a-f]{12}$/);
  });
});

describe('freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('makeTempDir', () => {
  it('creates a fresh absolute directory under os.tmpdir() named after the label', () => {
    const dirs = [makeTempDir('my label/../x'), makeTempDir('my label/../x')];
    try {
      expect(isAbsolute(dirs[0])).toBe(true);
      expect(dirs[0].startsWith(join(tmpdir(), 'portfolio-my-label-x-'))).toBe(
        true,
      );
      expect(statSync(dirs[0]).isDirectory()).toBe(true);
      expect(dirs[1]).not.toBe(dirs[0]);
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('server binary lookup', () => {
  let root: string;
  beforeEach(() => (root = makeTempDir('bin-lookup')));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function fakeExecutable(path: string): void {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
  }

  it('picks initdb and pg_ctl of the highest complete PostgreSQL version', () => {
    for (const version of ['9.6', '13', '15']) {
      fakeExecutable(join(root, version, 'bin', 'initdb'));
      fakeExecutable(join(root, version, 'bin', 'pg_ctl'));
    }
    fakeExecutable(join(root, '16', 'bin', 'initdb')); // no pg_ctl: incomplete install
    mkdirSync(join(root, 'not-a-version'));
    expect(findPostgresBinaries(root)).toEqual({
      initdb: join(root, '15', 'bin', 'initdb'),
      pgCtl: join(root, '15', 'bin', 'pg_ctl'),
      version: '15',
    });
  });

  it('says which package to install when PostgreSQL is missing', () => {
    expect(() => findPostgresBinaries(join(root, 'absent'))).toThrow(
      `PostgreSQL server binaries not found (looked in ${join(root, 'absent')}/*/bin): install the Debian package 'postgresql'`,
    );
  });

  it('finds nats-server on PATH before the Debian location', () => {
    fakeExecutable(join(root, 'b', 'nats-server'));
    fakeExecutable(join(root, 'sbin', 'nats-server'));
    expect(
      findNatsServer(
        `${join(root, 'a')}:${join(root, 'b')}`,
        join(root, 'sbin', 'nats-server'),
      ),
    ).toBe(join(root, 'b', 'nats-server'));
    expect(
      findNatsServer(join(root, 'a'), join(root, 'sbin', 'nats-server')),
    ).toBe(join(root, 'sbin', 'nats-server'));
  });

  it('says which package to install when nats-server is missing', () => {
    expect(() => findNatsServer(join(root, 'a'), join(root, 'nope'))).toThrow(
      "nats-server not found: install the Debian package 'nats-server'",
    );
  });
});

describe('published URLs', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('tell the developer to run through jest when the global setup did not run', () => {
    delete process.env['PORTFOLIO_TEST_NATS_URL'];
    delete process.env['PORTFOLIO_TEST_PG_URL'];
    expect(() => testNatsUrl()).toThrow(
      /PORTFOLIO_TEST_NATS_URL is not set: .*Run tests through jest/,
    );
    expect(() => testPgUrl()).toThrow(/PORTFOLIO_TEST_PG_URL is not set/);
  });

  it('are read from the environment', () => {
    process.env['PORTFOLIO_TEST_NATS_URL'] = 'nats://127.0.0.1:1';
    expect(testNatsUrl()).toBe('nats://127.0.0.1:1');
  });

  it('hide passwords in messages', () => {
    expect(redactUrl('postgres://user:secret@db:5432/x')).toBe(
      'postgres://user:***@db:5432/x',
    );
    expect(redactUrl('not a url')).toBe('<unparseable URL>');
  });
});

describe('runCommand', () => {
  it('returns output and reports failures with stderr', async () => {
    await expect(
      runCommand('sh', ['-c', 'echo out; echo err >&2']),
    ).resolves.toEqual({ stdout: 'out\n', stderr: 'err\n' });
    await expect(
      runCommand('sh', ['-c', 'echo broken >&2; exit 3']),
    ).rejects.toThrow(/failed \(exit 3\):\nbroken/);
    await expect(runCommand('sleep', ['5'], 100)).rejects.toThrow(
      /timed out after 100 ms/,
    );
  });
});
