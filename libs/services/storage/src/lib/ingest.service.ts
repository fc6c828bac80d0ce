import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';

import {
  assertSupportedFormat,
  IngestBeginResponse,
  IngestCommitResponse,
  ModelFormat,
  PortfolioError,
  Signature,
} from '@portfolio/contracts';
import {
  entryPointOf,
  inspectArtifact,
  isWholeArtifact,
  trialLoad,
  TrialLoadOptions,
} from '@portfolio/model-formats';
import { ArtifactWriter, StorageDriver } from '@portfolio/storage';

import { ImportSources, importFromUri } from './import/import-sources';
import { StorageMetrics } from './storage.metrics';
import {
  DEFAULT_UNPACK_LIMITS,
  detectPackaging,
  manifestDigest,
  UnpackedFile,
  UnpackLimits,
  unpackUpload,
} from './unpack/artifact-unpack';

/** Trial results remembered (a few KiB each). */
const TRIAL_CACHE_SIZE = 1000;

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');
export const INGEST_SETTINGS = Symbol('INGEST_SETTINGS');

export interface IngestSettings {
  /** This instance's id: chunks, commit and abort are addressed to it. */
  readonly instance: string;
  readonly maxChunkBytes: number;
  readonly idleTimeoutMs: number;
  /** Where archives and forms are unpacked before their files are stored (default: the OS's). */
  readonly unpackDir?: string;
  readonly unpackLimits?: UnpackLimits;
  /** Where versions may be registered from by URI; none: only uploads. */
  readonly importSources?: ImportSources;
  /** How artifacts are tried before their version is registered; none: not tried. */
  readonly trialLoad?: TrialLoadOptions;
}

interface Ingest {
  readonly id: string;
  readonly modelId: string;
  readonly format: ModelFormat;
  readonly expectedSizeBytes: number | undefined;
  /** A form's content type: the body is unpacked at commit. */
  readonly contentType: string | undefined;
  readonly writer: ArtifactWriter;
  nextSeq: number;
  /** performance.now() at its begin. */
  readonly startedAt: number;
  /** Chunks are written strictly one after another; this is the write in progress. */
  pending: Promise<void>;
  idleTimer: NodeJS.Timeout;
}

/**
 * Receives artifacts in chunks (see the ingest protocol in @portfolio/contracts),
 * hashing as it writes, and validates them for their format before anything becomes
 * visible. Nothing is left behind by an ingest that fails, is aborted or goes idle.
 */
@Injectable()
export class IngestService implements OnModuleDestroy {
  private readonly logger = new Logger('IngestService');
  private readonly ingests = new Map<string, Ingest>();
  /** Aborts under way (the idle timer's, say), until their temporary file is gone. */
  private readonly aborting = new Map<string, Promise<void>>();
  /** Settles once the last trial load asked for is over: the next waits for it. */
  private trials: Promise<void> = Promise.resolve();
  /** Signatures of artifacts that loaded in a trial, by format and digest. */
  private readonly trialCache = new Map<string, Signature>();

  constructor(
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    @Inject(INGEST_SETTINGS) private readonly settings: IngestSettings,
    private readonly metrics: StorageMetrics,
  ) {}

  async begin(
    modelId: string,
    format: ModelFormat,
    expectedSizeBytes?: number,
    contentType?: string,
  ): Promise<IngestBeginResponse> {
    // Before a single byte travels.
    assertSupportedFormat(format);
    const writer = await this.driver.createWriter();
    const id = randomBytes(12).toString('hex');
    const ingest: Ingest = {
      id,
      modelId,
      format,
      expectedSizeBytes,
      contentType,
      writer,
      nextSeq: 0,
      startedAt: performance.now(),
      pending: Promise.resolve(),
      idleTimer: this.idleTimer(id),
    };
    this.ingests.set(id, ingest);
    return {
      ingest_id: id,
      instance: this.settings.instance,
      max_chunk_bytes: this.settings.maxChunkBytes,
      idle_timeout_ms: this.settings.idleTimeoutMs,
    };
  }

  async chunk(
    id: string,
    seq: number,
    data: Uint8Array,
  ): Promise<{ received_bytes: number }> {
    const ingest = this.get(id);
    if (seq !== ingest.nextSeq) {
      await this.abort(id);
      throw new PortfolioError(
        'INVALID_REQUEST',
        `ingest ${id}: chunk ${seq} arrived, expected ${ingest.nextSeq}; the upload was aborted`,
      );
    }
    if (data.byteLength > this.settings.maxChunkBytes) {
      await this.abort(id);
      throw new PortfolioError(
        'INVALID_REQUEST',
        `ingest ${id}: chunk of ${data.byteLength} bytes exceeds ${this.settings.maxChunkBytes}`,
      );
    }
    ingest.nextSeq++;
    ingest.idleTimer.refresh();
    const written = ingest.pending.then(() => ingest.writer.write(data));
    ingest.pending = written;
    try {
      await written;
    } catch (e) {
      await this.abort(id);
      throw e;
    }
    this.metrics.received(data.byteLength);
    if (
      ingest.expectedSizeBytes !== undefined &&
      ingest.writer.bytesWritten > ingest.expectedSizeBytes
    ) {
      await this.abort(id);
      throw new PortfolioError(
        'INVALID_REQUEST',
        `the upload is longer than the announced ${ingest.expectedSizeBytes} bytes; it was aborted`,
      );
    }
    return { received_bytes: ingest.writer.bytesWritten };
  }

  async commit(id: string, chunks: number): Promise<IngestCommitResponse> {
    const ingest = this.get(id);
    this.ingests.delete(id);
    clearTimeout(ingest.idleTimer);
    const committed = this.commitIngest(ingest, chunks);
    committed.then(
      () => this.uploadEnded(ingest, 'stored'),
      () => this.uploadEnded(ingest, 'failed'),
    );
    return committed;
  }

  private uploadEnded(
    ingest: Ingest,
    result: 'stored' | 'failed' | 'aborted',
  ): void {
    this.metrics.uploadEnded(
      result,
      (performance.now() - ingest.startedAt) / 1000,
    );
  }

  private async commitIngest(
    ingest: Ingest,
    chunks: number,
  ): Promise<IngestCommitResponse> {
    const id = ingest.id;
    try {
      await ingest.pending;
      if (chunks !== ingest.nextSeq) {
        throw new PortfolioError(
          'INVALID_REQUEST',
          `ingest ${id}: ${ingest.nextSeq} chunks received, the commit says ${chunks}`,
        );
      }
      const { sha256, sizeBytes, tempPath } = await ingest.writer.finish();
      if (
        ingest.expectedSizeBytes !== undefined &&
        sizeBytes !== ingest.expectedSizeBytes
      ) {
        throw new PortfolioError(
          'INVALID_REQUEST',
          `the upload ended after ${sizeBytes} of the announced ${ingest.expectedSizeBytes} bytes`,
        );
      }
      if (sizeBytes === 0)
        throw new PortfolioError('INVALID_ARTIFACT', 'the artifact is empty');
      if (
        ingest.contentType === undefined &&
        ((await detectPackaging(tempPath)) === 'file' ||
          isWholeArtifact(ingest.format, tempPath))
      ) {
        const inspection = await inspectArtifact(ingest.format, tempPath);
        const signature = await this.tried(
          ingest.format,
          tempPath,
          sha256,
          inspection.signature,
        );
        const { uri, created } = await ingest.writer.commit(
          `${ingest.modelId}/${sha256}/model.${ingest.format}`,
        );
        this.logger.log(
          `stored ${uri} (${sizeBytes} bytes${created ? '' : ', identical bytes already stored'})`,
        );
        return {
          artifact_uri: uri,
          sha256,
          size_bytes: sizeBytes,
          format: ingest.format,
          signature,
          created,
        };
      }
      return await this.commitUnpacked(ingest, tempPath);
    } catch (e) {
      await ingest.writer.abort();
      throw e;
    }
  }

  /**
   * An archive or a form: its files are unpacked (safely: see unpackUpload), validated
   * as one artifact, and stored under `<model>/<digest>/<path>`, where the digest is the
   * manifest's; the version's URI names the file a runtime loads (the entry point), the
   * others sit beside it. A single file is stored as if it had been sent alone, so the
   * same model gives the same version however it was sent. The body itself is dropped.
   */
  private async commitUnpacked(
    ingest: Ingest,
    bodyPath: string,
  ): Promise<IngestCommitResponse> {
    const dir = join(
      this.settings.unpackDir ?? tmpdir(),
      `portfolio-unpack-${ingest.id}`,
    );
    try {
      const files = await unpackUpload(bodyPath, dir, {
        contentType: ingest.contentType,
        limits: this.settings.unpackLimits ?? DEFAULT_UNPACK_LIMITS,
        isWholeArtifact: (path) => isWholeArtifact(ingest.format, path),
      });
      const stored = await this.storeFiles(
        ingest.modelId,
        ingest.format,
        files,
      );
      await ingest.writer.abort();
      return stored;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Registers a version's artifact from where it already is (see ImportSources): the
   * file, or the files under the directory or folder, copied in and stored like an
   * upload of them; `sha256`, when given, must be the artifact's (its file's, or its
   * manifest's for several files), or nothing is stored (INVALID_ARTIFACT).
   */
  async importUri(
    modelId: string,
    format: ModelFormat,
    uri: string,
    sha256?: string,
  ): Promise<IngestCommitResponse> {
    assertSupportedFormat(format);
    const sources = this.settings.importSources;
    if (!sources || sources.sources.length === 0)
      throw new PortfolioError(
        'INVALID_REQUEST',
        'this server imports from no URI (storage.import.sources is empty); upload the artifact instead',
      );
    const dir = join(
      this.settings.unpackDir ?? tmpdir(),
      `portfolio-import-${randomBytes(8).toString('hex')}`,
    );
    try {
      const fetchedFrom = performance.now();
      const files = await importFromUri(
        uri,
        sources,
        dir,
        this.settings.unpackLimits ?? DEFAULT_UNPACK_LIMITS,
      ).catch((e: unknown) => {
        this.metrics.downloaded(
          'failed',
          0,
          (performance.now() - fetchedFrom) / 1000,
        );
        throw e;
      });
      this.metrics.downloaded(
        'stored',
        files.reduce((n, f) => n + f.sizeBytes, 0),
        (performance.now() - fetchedFrom) / 1000,
      );
      if (sha256 !== undefined) {
        const actual =
          files.length === 1 ? files[0].sha256 : manifestDigest(files);
        if (actual !== sha256)
          throw new PortfolioError(
            'INVALID_ARTIFACT',
            `the artifact at ${JSON.stringify(uri.slice(0, 300))} has sha256 ${actual}, not the ${sha256} given; nothing was stored`,
            { expected_sha256: sha256, actual_sha256: actual },
          );
      }
      return await this.storeFiles(modelId, format, files);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Files of one artifact, validated as one and stored under `<model>/<digest>/<path>`,
   * where the digest is the manifest's; the version's URI names the file a runtime
   * loads (the entry point), the others sit beside it. A single file is stored as if it
   * had been sent alone, so the same model gives the same version however it came.
   */
  private async storeFiles(
    modelId: string,
    format: ModelFormat,
    files: UnpackedFile[],
  ): Promise<IngestCommitResponse> {
    if (files.length === 0)
      throw new PortfolioError('INVALID_ARTIFACT', 'the upload holds no file');
    const single = files.length === 1;
    const entry = single
      ? files[0]
      : byPath(
          files,
          entryPointOf(
            format,
            files.map((f) => f.path),
          ),
        );
    const inspection = await inspectArtifact(
      format,
      entry.absolutePath,
      single ? undefined : besideOf(entry, files),
    );
    const digest = single ? entry.sha256 : manifestDigest(files);
    const signature = await this.tried(
      format,
      entry.absolutePath,
      digest,
      inspection.signature,
    );
    const keyOf = (f: UnpackedFile) =>
      single
        ? `${modelId}/${digest}/model.${format}`
        : `${modelId}/${digest}/${f.path}`;
    let created = false;
    let entryUri = '';
    // The entry point last: until it is there, nothing names this artifact.
    for (const f of [...files.filter((f) => f !== entry), entry]) {
      const stored = await this.storeFile(f.absolutePath, keyOf(f));
      created ||= stored.created;
      if (f === entry) entryUri = stored.uri;
    }
    const sizeBytes = files.reduce((n, f) => n + f.sizeBytes, 0);
    this.logger.log(
      `stored ${entryUri} (${files.length} file${single ? '' : 's'}, ${sizeBytes} bytes${created ? '' : ', identical files already stored'})`,
    );
    return {
      artifact_uri: entryUri,
      sha256: digest,
      size_bytes: sizeBytes,
      format,
      signature,
      created,
    };
  }

  /**
   * The signature of an artifact once it has loaded in a trial: the inspected one where
   * its files declare one, else its framework's (formats whose files do not say, like
   * TorchScript); the inspected one where trials are off. Throws INVALID_ARTIFACT when it does not load. Trials run one at a time
   * (each may take much of the machine's memory), and an artifact tried once (by
   * digest: the same bytes in the same layout) is not tried again.
   */
  private async tried(
    format: ModelFormat,
    path: string,
    digest: string,
    inspected: Signature,
  ): Promise<Signature> {
    const options = this.settings.trialLoad;
    if (!options) return inspected;
    const key = `${format}:${digest}`;
    const known = this.trialCache.get(key);
    if (known) return known;
    const started = Date.now();
    // One at a time: chained behind the trial before, whatever became of it.
    const trial = this.trials.then(() =>
      this.timedTrial(format, path, options),
    );
    this.trials = trial.then(
      () => undefined,
      () => undefined,
    );
    const loaded = await trial;
    const declared =
      inspected.inputs.length > 0 || inspected.outputs.length > 0;
    const signature = declared ? inspected : loaded;
    this.logger.log(
      `trial load of a ${format} artifact (${digest.slice(0, 12)}): loaded in ${Date.now() - started} ms`,
    );
    if (this.trialCache.size >= TRIAL_CACHE_SIZE)
      this.trialCache.delete(this.trialCache.keys().next().value as string);
    this.trialCache.set(key, signature);
    return signature;
  }

  private async timedTrial(
    format: ModelFormat,
    path: string,
    options: TrialLoadOptions,
  ): Promise<Signature> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const loaded = await trialLoad(format, path, options);
      this.metrics.tried(format, 'loaded', seconds());
      return loaded;
    } catch (e) {
      this.metrics.tried(format, 'failed', seconds());
      throw e;
    }
  }

  private async storeFile(
    path: string,
    key: string,
  ): Promise<{ uri: string; created: boolean }> {
    const writer = await this.driver.createWriter();
    try {
      for await (const chunk of createReadStream(path))
        await writer.write(chunk as Buffer);
      await writer.finish();
      return await writer.commit(key);
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  /**
   * Forgets the ingest at once (later chunks and commits are refused) and resolves once
   * its temporary file is gone, also when another abort of it is already under way: a
   * client's abort answered means the upload has left nothing behind.
   */
  abort(id: string): Promise<void> {
    const running = this.aborting.get(id);
    if (running) return running;
    const ingest = this.ingests.get(id);
    if (!ingest) return Promise.resolve();
    this.ingests.delete(id);
    clearTimeout(ingest.idleTimer);
    this.uploadEnded(ingest, 'aborted');
    const done = (async () => {
      await ingest.pending.catch(() => undefined);
      await ingest.writer.abort();
    })().finally(() => this.aborting.delete(id));
    this.aborting.set(id, done);
    return done;
  }

  async deleteArtifact(uri: string): Promise<boolean> {
    return this.driver.delete(uri);
  }

  async onModuleDestroy(): Promise<void> {
    for (const id of [...this.ingests.keys()]) void this.abort(id);
    await Promise.all([...this.aborting.values()]);
  }

  private get(id: string): Ingest {
    const ingest = this.ingests.get(id);
    if (!ingest) {
      throw new PortfolioError(
        'INVALID_REQUEST',
        `no upload in progress with id ${id} (it may have timed out)`,
      );
    }
    return ingest;
  }

  private idleTimer(id: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.logger.warn(
        `ingest ${id} idle for ${this.settings.idleTimeoutMs} ms; aborted`,
      );
      this.abort(id).catch((e: unknown) =>
        this.logger.error(
          `ingest ${id}: removing its temporary file failed: ${(e as Error).message}`,
        ),
      );
    }, this.settings.idleTimeoutMs);
    timer.unref();
    return timer;
  }
}

function byPath(files: UnpackedFile[], path: string): UnpackedFile {
  const found = files.find((f) => f.path === path);
  if (!found) throw new Error(`${path} is not among the files unpacked`);
  return found;
}

/** The files in the entry point's directory or below it, by path relative to it. */
function besideOf(
  entry: UnpackedFile,
  files: UnpackedFile[],
): Map<string, number> {
  const base = posix.dirname(entry.path);
  const beside = new Map<string, number>();
  for (const f of files) {
    if (f === entry) continue;
    const relative = base === '.' ? f.path : posix.relative(base, f.path);
    if (!relative.startsWith('..')) beside.set(relative, f.sizeBytes);
  }
  return beside;
}
