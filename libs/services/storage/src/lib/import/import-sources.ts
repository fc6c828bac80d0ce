import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { PortfolioError } from '@portfolio/contracts';
import {
  createStorageDriver,
  StorageDriver,
  StorageError,
  StorageSettings,
} from '@portfolio/storage';

import {
  FileSink,
  safeRelativePath,
  UnpackedFile,
  UnpackLimits,
} from '../unpack/artifact-unpack';

/**
 * Where versions may be registered from by URI (`storage.import.sources`): local
 * directories (`file:///srv/models`) and buckets or folders of the cloud stores
 * (`s3://incoming/models`, `gs://...`, `az://<container>/...`). A URI is accepted only
 * under one of them, at a path boundary; anything else is refused before a byte is read.
 */
export interface ImportSources {
  readonly sources: readonly string[];
  /** A driver reading the bucket (or container) of a cloud source, with no prefix. */
  driverFor(scheme: 's3' | 'gs' | 'az', bucket: string): Promise<StorageDriver>;
}

/** One file of an artifact to import: its path inside the artifact, and its bytes. */
interface SourceFile {
  readonly path: string;
  open(): Promise<Readable>;
}

const CLOUD = /^(s3|gs|az):\/\/([^/]+)\/?(.*)$/;

/**
 * Copies the artifact at `uri` (a file, or every file under a directory or folder)
 * into `dir`, hashing and counting each file against `limits`; resolves to the files
 * in path order. INVALID_REQUEST for a URI outside the sources, ARTIFACT_NOT_FOUND when
 * nothing is there.
 */
export async function importFromUri(
  uri: string,
  sources: ImportSources,
  dir: string,
  limits: UnpackLimits,
): Promise<UnpackedFile[]> {
  const files = await sourceFiles(uri, sources);
  if (files.length === 0)
    throw new PortfolioError(
      'ARTIFACT_NOT_FOUND',
      `nothing is stored at ${shown(uri)}`,
    );
  if (files.length > limits.maxFiles)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${shown(uri)} holds more than ${limits.maxFiles} files`,
    );
  await mkdir(dir, { recursive: true });
  // Copied as it is, not unpacked: no expansion ratio to watch.
  const sink = new FileSink(dir, limits, Infinity);
  for (const f of files) {
    let data: Readable;
    try {
      data = await f.open();
    } catch (e) {
      throw unreadable(uri, e);
    }
    await sink.add(f.path, data).catch((e: unknown) => {
      throw e instanceof PortfolioError ? e : unreadable(uri, e);
    });
  }
  return sink.files();
}

/** The source failed while it was read: where it is, and what it said. */
function unreadable(uri: string, e: unknown): PortfolioError {
  return e instanceof StorageError && e.code === 'NOT_FOUND'
    ? new PortfolioError(
        'ARTIFACT_NOT_FOUND',
        `nothing is stored at ${shown(uri)}`,
      )
    : new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `${shown(uri)} could not be read: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`,
      );
}

async function sourceFiles(
  uri: string,
  sources: ImportSources,
): Promise<SourceFile[]> {
  const source = sources.sources.find((s) => under(uri, s));
  if (!source || uri.split('/').some((p) => p === '..' || p === '.'))
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${shown(uri)} is not under a source this server imports from (storage.import.sources)`,
    );
  if (uri.startsWith('file://')) return localFiles(uri, source);
  const match = CLOUD.exec(uri);
  if (!match)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${shown(uri)} is not a file://, s3://, gs:// or az:// URI`,
    );
  const [, scheme, bucket, key] = match;
  const driver = await sources.driverFor(scheme as 's3' | 'gs' | 'az', bucket);
  return cloudFiles(driver, key.replace(/\/+$/, ''), uri);
}

/** A file, or the files under a directory, never through a link. */
async function localFiles(uri: string, source: string): Promise<SourceFile[]> {
  let path: string;
  let root: string;
  try {
    path = fileURLToPath(uri);
    root = await realpath(fileURLToPath(source));
  } catch {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${shown(uri)} is not a file URI`,
    );
  }
  const stat = await lstat(path).catch(() => null);
  if (!stat)
    throw new PortfolioError(
      'ARTIFACT_NOT_FOUND',
      `nothing is at ${shown(uri)}`,
    );
  // The real path too: a link inside the root must not lead out of it.
  const real = await realpath(path);
  if (real !== root && !real.startsWith(root + sep))
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${shown(uri)} leads out of its import source`,
    );
  if (stat.isFile())
    return [{ path: basename(real), open: async () => createReadStream(real) }];
  if (!stat.isDirectory())
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${shown(uri)} is neither a file nor a directory`,
    );
  const files: SourceFile[] = [];
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const abs = join(d, entry.name);
      if (entry.isDirectory()) await walk(abs);
      else if (entry.isFile()) {
        const rel = relative(real, abs).split(sep).join('/');
        const checked = safeRelativePath(rel);
        if (checked)
          files.push({
            path: checked,
            open: async () => createReadStream(abs),
          });
      } else
        throw new PortfolioError(
          'INVALID_ARTIFACT',
          `${shown(uri)} holds "${relative(real, abs).slice(0, 200)}", which is not a file (links are not followed)`,
        );
    }
  };
  await walk(real);
  return files;
}

/** The object at `key`, or every object under `key/`. */
async function cloudFiles(
  driver: StorageDriver,
  key: string,
  uri: string,
): Promise<SourceFile[]> {
  const folder: SourceFile[] = [];
  try {
    for await (const o of driver.list(key)) {
      // An object named exactly so is the artifact, whatever lies under `key/`.
      if (o.key === key)
        return [
          {
            path: basename(key),
            open: () => driver.read(driver.uriFor(o.key)),
          },
        ];
      if (!o.key.startsWith(`${key}/`)) continue;
      const path = safeRelativePath(o.key.slice(key.length + 1));
      if (path)
        folder.push({ path, open: () => driver.read(driver.uriFor(o.key)) });
    }
  } catch (e) {
    if (e instanceof PortfolioError) throw e;
    throw new PortfolioError(
      'SERVICE_UNAVAILABLE',
      `${shown(uri)} cannot be listed: ${e instanceof StorageError ? e.message : String(e)}`,
    );
  }
  return folder;
}

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || 'artifact';
}

function under(uri: string, source: string): boolean {
  const base = source.replace(/\/+$/, '');
  return uri === base || uri.startsWith(`${base}/`);
}

function shown(uri: string): string {
  return JSON.stringify(uri.slice(0, 300));
}

const DRIVER_OF_SCHEME = { s3: 's3', gs: 'gcs', az: 'azure' } as const;

/**
 * Import sources as configured: cloud sources are read with the settings of their
 * driver's section (region, endpoint, credentials), on a driver of their own per bucket.
 */
export function configuredImportSources(
  sources: readonly string[],
  settings: StorageSettings,
): ImportSources {
  const drivers = new Map<string, Promise<StorageDriver>>();
  return {
    sources,
    driverFor(scheme, bucket) {
      const id = `${scheme}://${bucket}`;
      let driver = drivers.get(id);
      if (!driver) {
        const kind = DRIVER_OF_SCHEME[scheme];
        const section =
          kind === 'azure'
            ? { ...settings.azure, container: bucket, prefix: '' }
            : { ...settings[kind], bucket, prefix: '' };
        driver = createStorageDriver({
          ...settings,
          driver: kind,
          [kind]: section,
        });
        drivers.set(id, driver);
        driver.catch(() => drivers.delete(id));
      }
      return driver;
    },
  };
}
