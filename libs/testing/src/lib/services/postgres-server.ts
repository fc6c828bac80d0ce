import {
  accessSync,
  appendFileSync,
  constants,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';
import { runCommand } from './run-command';
import { makeTempDir } from './temp-dir';
import { startWatchdog } from './watchdog';

export const POSTGRES_ROOT = '/usr/lib/postgresql';

export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
  version: string;
}

/**
 * initdb and pg_ctl of the highest installed major version under
 * `<root>/<version>/bin` (Debian's layout, which keeps them off PATH).
 */
export function findPostgresBinaries(root = POSTGRES_ROOT): PostgresBinaries {
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((entry) => /^\d+(\.\d+)?$/.test(entry))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const initdb = join(root, version, 'bin', 'initdb');
    const pgCtl = join(root, version, 'bin', 'pg_ctl');
    if (isExecutable(initdb) && isExecutable(pgCtl))
      return { initdb, pgCtl, version };
  }
  throw new Error(
    `PostgreSQL server binaries not found (looked in ${root}/*/bin): install the Debian package 'postgresql'`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * initdb refuses to run as root, and a cluster must be operated by the user
 * that owns it, so as root every server command runs as 'postgres'.
 */
function asServerUser(argv: string[]): string[] {
  return process.getuid?.() === 0
    ? ['runuser', '-u', 'postgres', '--', ...argv]
    : argv;
}

async function run(argv: string[], timeoutMs?: number): Promise<void> {
  const [command, ...args] = asServerUser(argv);
  await runCommand(command, args, timeoutMs);
}

export interface ThrowawayPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, no password). */
  url: string;
  port: number;
  version: string;
  dir: string;
  /**
   * `pg_ctl stop -m fast` and nothing more: every connection is cut and new ones are
   * refused until resume(); the data stays (fault tests that need the outage to last).
   */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port, with the same data. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory, for good. */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

/**
 * Creates a cluster in a fresh temp dir and starts it on a free port of
 * 127.0.0.1 with durability off (fsync, synchronous_commit, full_page_writes,
 * and initdb --no-sync): the data is thrown away, so flushing it only costs time.
 * stop() is `pg_ctl stop -m fast` and removes the directory; a watchdog does
 * the same if this process dies first.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const binaries = findPostgresBinaries();
  const dir = makeTempDir('pg');
  const dataDir = join(dir, 'data');
  try {
    if (process.getuid?.() === 0) await runCommand('chown', ['postgres:', dir]);
    await run(
      [
        binaries.initdb,
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      120_000,
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const logFile = join(dir, `postgres-${attempt}.log`);
    // Settings go into postgresql.conf rather than `pg_ctl -o`, which pastes
    // its argument into a shell command line (paths would need quoting).
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# portfolio throwaway test server',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir.replace(/'/g, "''")}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 200',
        '',
      ].join('\n'),
    );
    const watchdog = startWatchdog({
      pids: [],
      commands: [
        asServerUser([
          binaries.pgCtl,
          'stop',
          '-D',
          dataDir,
          '-m',
          'immediate',
        ]),
      ],
      dirs: [dir],
    });
    try {
      await run(
        [
          binaries.pgCtl,
          'start',
          '-D',
          dataDir,
          '-l',
          logFile,
          '-w',
          '-t',
          '60',
        ],
        90_000,
      );
    } catch (error) {
      watchdog.cancel();
      lastError = new Error(
        `${error instanceof Error ? error.message : String(error)}\n${tail(logFile)}`,
      );
      // The setting of a later attempt overrides this one (last wins in postgresql.conf).
      if (/could not bind|address already in use/i.test(tail(logFile)))
        continue;
      break;
    }
    let stopped = false;
    let halted = false;
    const pgCtl = (...args: string[]) =>
      run([binaries.pgCtl, ...args, '-D', dataDir, '-w', '-t', '60'], 90_000);
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      version: binaries.version,
      dir,
      halt: async () => {
        await pgCtl('stop', '-m', 'fast');
        halted = true;
      },
      resume: async () => {
        await pgCtl('start', '-l', logFile);
        halted = false;
      },
      stop: async () => {
        if (stopped) return;
        stopped = true;
        watchdog.cancel();
        try {
          if (!halted) await pgCtl('stop', '-m', 'fast');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
