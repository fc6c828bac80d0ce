import { ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import { connect } from 'nats';
import { freePort } from './free-port';
import { makeTempDir } from './temp-dir';
import { startWatchdog } from './watchdog';

/** Where Debian's package installs it, which is not on every user's PATH. */
export const DEBIAN_NATS_SERVER = '/usr/sbin/nats-server';

/** nats-server from PATH, else Debian's location. */
export function findNatsServer(
  path = process.env['PATH'] ?? '',
  fallback = DEBIAN_NATS_SERVER,
): string {
  const candidates = [
    ...path
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'nats-server')),
    fallback,
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    "nats-server not found: install the Debian package 'nats-server'",
  );
}

/**
 * Resolves once a client can connect, polling for up to timeoutMs; rejects
 * early if `exited()` reports the server process gone.
 */
export async function waitForNats(
  url: string,
  timeoutMs = 10_000,
  exited: () => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exited())
      throw new Error(
        `nats-server exited before accepting connections on ${url}`,
      );
    try {
      const nc = await connect({
        servers: url,
        timeout: 1_000,
        reconnect: false,
      });
      await nc.close();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(
    `NATS at ${url} did not accept connections within ${timeoutMs} ms: ${String(lastError)}`,
  );
}

export interface ThrowawayNats {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  /** Stops the server and starts a new one on the same port and store (fault tests). */
  restart(): Promise<void>;
  /**
   * Stops the server and nothing more: clients lose their connections and cannot
   * reconnect until resume() (fault tests that need the outage to last).
   */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and store. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

/**
 * Spawns `nats-server -a 127.0.0.1 -p <free port> -js -sd <tmp>` (JetStream
 * on, stored in a fresh temp dir) as a child process and waits until it
 * accepts connections. stop() sends SIGTERM (SIGKILL after 5 s) and removes
 * the directory; a watchdog does the same if this process dies first.
 */
export async function startThrowawayNats(): Promise<ThrowawayNats> {
  const executable = findNatsServer();
  const dir = makeTempDir('nats');
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const logFile = join(dir, `nats-${attempt}.log`);
    const logFd = openSync(logFile, 'w');
    let child = spawnNats(executable, port, dir, logFd);
    closeSync(logFd);
    // Tests must not be kept alive by the server; stop() or the watchdog ends it.
    child.unref();
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));
    const watch = (pid: number | undefined) =>
      pid === undefined
        ? undefined
        : startWatchdog({ pids: [pid], commands: [], dirs: [dir] });
    let watchdog = watch(child.pid);
    try {
      await waitForNats(
        url,
        10_000,
        () =>
          spawnError !== undefined ||
          child.exitCode !== null ||
          child.signalCode !== null,
      );
    } catch (error) {
      watchdog?.cancel();
      await stopChild(child);
      const log = readLog(logFile);
      const reason = error instanceof Error ? error.message : String(error);
      lastError = new Error(
        `${reason}${spawnError ? ` (${spawnError.message})` : ''}\n${log}`,
      );
      if (/address already in use/i.test(log)) continue;
      break;
    }
    let stopped = false;
    const halt = () => stopChild(child);
    const resume = async () => {
      const fd = openSync(join(dir, `nats-restart-${Date.now()}.log`), 'w');
      child = spawnNats(executable, port, dir, fd);
      closeSync(fd);
      child.unref();
      // The watchdog guards a process id: the new server's.
      watchdog?.cancel();
      watchdog = watch(child.pid);
      await waitForNats(
        url,
        10_000,
        () => child.exitCode !== null || child.signalCode !== null,
      );
    };
    return {
      url,
      port,
      dir,
      restart: async () => {
        await halt();
        await resume();
      },
      halt: () => halt(),
      resume: () => resume(),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        watchdog?.cancel();
        try {
          await stopChild(child);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (
    child.exitCode !== null ||
    child.signalCode !== null ||
    child.pid === undefined
  )
    return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

function spawnNats(
  executable: string,
  port: number,
  dir: string,
  logFd: number,
): ChildProcess {
  return spawn(
    executable,
    [
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-js',
      '-sd',
      join(dir, 'jetstream'),
    ],
    {
      stdio: ['ignore', logFd, logFd],
    },
  );
}
