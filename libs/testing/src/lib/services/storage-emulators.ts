import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from './free-port';
import { makeTempDir } from './temp-dir';
import { startWatchdog, Watchdog } from './watchdog';

/**
 * Real servers of the cloud storage protocols, on 127.0.0.1, for the storage drivers'
 * integration tests: s3rver (S3), azurite (Azure Blob) and the Cloud Storage emulator
 * of firebase-tools (GCS, through gcs-emulator.cjs). Each runs as a child process on a
 * free port with a temp directory of its own, and is ready when its start resolves.
 * stop() ends it (SIGTERM, SIGKILL after 5 s) and removes the directory; a watchdog
 * does the same if the test process dies first. A failed start leaves nothing running.
 */
export interface ThrowawayStorageServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface ThrowawayAzurite extends ThrowawayStorageServer {
  readonly accountName: string;
  readonly accountKey: string;
  /** `http://127.0.0.1:<port>/<account>` */
  readonly accountUrl: string;
  /** For BlobServiceClient.fromConnectionString / AZURE_STORAGE_CONNECTION_STRING. */
  readonly connectionString: string;
}

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = Object.freeze({
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
});

/**
 * s3rver with `buckets` made at start. Its list continuation tokens are DES-encrypted,
 * which Node's OpenSSL 3 only does with the legacy provider: without it, any listing
 * that spans pages fails with a 500.
 */
export function startS3rver(
  buckets: readonly string[],
): Promise<ThrowawayStorageServer> {
  const script = require.resolve('s3rver/bin/s3rver.js');
  return startServer({
    label: 's3rver',
    args: (port, dir) => [
      script,
      '--address',
      '127.0.0.1',
      '--port',
      String(port),
      '--directory',
      join(dir, 'data'),
      '--silent',
      ...buckets.flatMap((bucket) => ['--configure-bucket', bucket]),
    ],
    env: { NODE_OPTIONS: '--openssl-legacy-provider' },
    // A bucket answers only once s3rver has made it.
    ready: async (url) =>
      (
        await Promise.all(
          buckets.map(async (b) => (await probe(`${url}/${b}`)) === 200),
        )
      ).every(Boolean),
  });
}

/** Azurite's well-known development account. */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * azurite's Blob service, in memory. `--disableTelemetry` also matters for stopping it:
 * without it azurite ignores SIGTERM.
 */
export async function startAzurite(): Promise<ThrowawayAzurite> {
  const script = require.resolve('azurite/dist/src/blob/main.js');
  const server = await startServer({
    label: 'azurite',
    args: (port) => [
      script,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      // Nothing on disk (it runs in its temp dir, in case it writes anything).
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
    ],
    // Any HTTP answer (an unauthenticated request gets 403) means it listens.
    ready: async (url) =>
      (await probe(`${url}/${AZURITE_ACCOUNT}?comp=list`)) !== undefined,
  });
  const accountUrl = `${server.url}/${AZURITE_ACCOUNT}`;
  return {
    ...server,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    accountUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountUrl};`,
  };
}

/**
 * The Cloud Storage emulator of firebase-tools (see gcs-emulator.cjs). Point the SDK at
 * it with STORAGE_EMULATOR_HOST=<url>. Buckets need not be made: they appear with their
 * first object.
 */
export function startGcsEmulator(): Promise<ThrowawayStorageServer> {
  return startServer({
    label: 'gcs-emulator',
    args: (port) => [
      join(__dirname, 'gcs-emulator.cjs'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    // The emulator keeps its blobs under $TMPDIR/firebase: one TMPDIR per instance.
    env: (dir: string) => ({ TMPDIR: dir }),
    ready: async (url) =>
      (await probe(`${url}/storage/v1/b/probe/o`)) !== undefined,
  });
}

interface ServerSpec {
  readonly label: string;
  /** Node arguments (a script first) for a server on `port` keeping its files in `dir`. */
  readonly args: (port: number, dir: string) => string[];
  readonly env?:
    | Readonly<Record<string, string>>
    | ((dir: string) => Readonly<Record<string, string>>);
  /** True once the server answers as it should. */
  readonly ready: (url: string) => Promise<boolean>;
}

const START_ATTEMPTS = 3;
const START_TIMEOUT_MS = 20_000;

async function startServer(spec: ServerSpec): Promise<ThrowawayStorageServer> {
  const dir = makeTempDir(spec.label);
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logFile = join(dir, `${spec.label}-${attempt}.log`);
    const logFd = openSync(logFile, 'w');
    const extraEnv =
      typeof spec.env === 'function' ? spec.env(dir) : (spec.env ?? {});
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, spec.args(port, dir), {
        cwd: dir,
        // Not the test process's NODE_OPTIONS (jest's VM flags): only what the server needs.
        env: { ...process.env, NODE_OPTIONS: '', ...extraEnv },
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    // Tests must not be kept alive by the server; stop() or the watchdog ends it.
    child.unref();
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));
    const watchdog: Watchdog | undefined =
      child.pid === undefined
        ? undefined
        : startWatchdog({ pids: [child.pid], commands: [], dirs: [dir] });
    const gone = () =>
      spawnError !== undefined ||
      child.exitCode !== null ||
      child.signalCode !== null;
    try {
      await waitUntilReady(spec, url, gone);
    } catch (error) {
      watchdog?.cancel();
      await stopChild(child);
      const log = readTail(logFile);
      lastError = new Error(
        `${spec.label} did not start on ${url}: ${(error as Error).message}${spawnError ? ` (${spawnError.message})` : ''}\n${log}`,
      );
      if (/EADDRINUSE|address already in use/i.test(log)) continue;
      break;
    }
    let stopped = false;
    return {
      url,
      port,
      dir,
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

async function waitUntilReady(
  spec: ServerSpec,
  url: string,
  gone: () => boolean,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone()) throw new Error('the process exited');
    if (await spec.ready(url).catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not ready within ${START_TIMEOUT_MS} ms`);
}

/** The status of a GET, or undefined when nothing answered. */
async function probe(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
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

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
