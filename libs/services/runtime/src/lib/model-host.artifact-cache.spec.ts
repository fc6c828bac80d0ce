import { Logger } from '@nestjs/common';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import {
  ArtifactDigest,
  ArtifactStat,
  ArtifactWriter,
  ByteRange,
  ListedArtifact,
  LocalStorageDriver,
  PutOptions,
  PutResult,
  StorageDriver,
} from '@portfolio/storage';
import { MetricsRegistry } from '@portfolio/telemetry';
import {
  buildMlpModel,
  eventually,
  makeTempDir,
  scrapedValue,
  writeModel,
} from '@portfolio/testing';

import { ModelHostService } from './model-host.service';
import { RuntimeMetrics } from './runtime.metrics';
import {
  closeHost,
  loadRequestFor,
  testRuntimeSettings,
} from './runtime.testing';

/**
 * A store the runtime sees as remote (any scheme but `local`), whose reads of keys
 * under `slow/` wait for `open()`: the local driver underneath.
 */
class GatedStore implements StorageDriver {
  readonly scheme = 'gated';
  readonly reads: string[] = [];
  private opened!: () => void;
  private gate = new Promise<void>((resolve) => (this.opened = resolve));

  constructor(private readonly inner: LocalStorageDriver) {}

  open(): void {
    this.opened();
  }

  async read(uri: string, range?: ByteRange): Promise<Readable> {
    this.reads.push(uri);
    if (this.keyOf(uri).startsWith('slow/')) await this.gate;
    return this.inner.read(uri, range);
  }

  createWriter(): Promise<ArtifactWriter> {
    return this.inner.createWriter();
  }
  put(
    source: AsyncIterable<Uint8Array>,
    key: string | ((digest: ArtifactDigest) => string),
    options?: PutOptions,
  ): Promise<PutResult> {
    return this.inner.put(source, key, options);
  }
  stat(uri: string): Promise<ArtifactStat> {
    return this.inner.stat(uri);
  }
  list(keyPrefix: string): AsyncIterable<ListedArtifact> {
    return this.inner.list(keyPrefix);
  }
  exists(uri: string): Promise<boolean> {
    return this.inner.exists(uri);
  }
  localPath(): Promise<string> {
    return Promise.reject(
      new Error('a runtime reads a remote store through its artifact cache'),
    );
  }
  delete(uri: string): Promise<boolean> {
    return this.inner.delete(uri);
  }
  uriFor(key: string): string {
    return this.inner.uriFor(key);
  }
  keyOf(uri: string): string {
    return this.inner.keyOf(uri);
  }
}

/** How loads go through the artifact cache: fetched before they queue, within the timeout. */
describe(`${ModelHostService.name} artifact fetches`, () => {
  let root: string;
  let cacheDir: string;
  let store: GatedStore;
  let sut: ModelHostService;
  let registry: MetricsRegistry;

  beforeAll(() => {
    Logger.overrideLogger(false);
    root = makeTempDir('model-host-fetch');
    cacheDir = makeTempDir('model-host-fetch-cache');
    writeModel(
      join(root, 'slow', 'a'),
      'model.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2, seed: 1 }),
    );
    writeModel(
      join(root, 'fast', 'b'),
      'model.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2, seed: 2 }),
    );
    store = new GatedStore(new LocalStorageDriver(root));
    const settings = testRuntimeSettings({
      loadTimeoutMs: 1_000,
      artifactCache: { dir: cacheDir, maxBytes: 1024 * 1024 },
    });
    registry = new MetricsRegistry({ processMetrics: false });
    sut = new ModelHostService(
      settings,
      store,
      new RuntimeMetrics(registry, settings),
    );
  });
  afterAll(async () => {
    await closeHost(sut);
    rmSync(root, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('lets other loads run while an artifact downloads; one past the timeout fails and the download serves the next load', async () => {
    // Keys that are not content-addressed: cached as one object under the version.
    const slow = loadRequestFor(root, 'slow/a/model.onnx', {
      model_id: 'slow',
    });
    const fast = loadRequestFor(root, 'fast/b/model.onnx', {
      model_id: 'fast',
    });

    const waiting = sut.load(slow).catch((e: unknown) => e);
    // Another model loads while the first one's download waits.
    await expect(sut.load(fast)).resolves.toMatchObject({ loaded_now: true });
    expect(await waiting).toMatchObject({ code: 'TIMEOUT' });
    expect(sut.report().find((m) => m.model_id === 'slow')).toMatchObject({
      state: 'failed',
    });

    store.open();
    // The download goes on; nothing holds it but the loaded model's artifact.
    await eventually('the download landed', () =>
      sut.artifactCacheStats()?.entries === 2 ? true : null,
    );
    expect(sut.artifactCacheStats()?.inUseBytes).toBe(fast.size_bytes);
    await expect(sut.load(slow)).resolves.toMatchObject({ loaded_now: true });
    expect(store.reads.filter((u) => u === slow.artifact_uri)).toHaveLength(1);
    expect(sut.artifactCacheStats()?.inUseBytes).toBe(
      fast.size_bytes + slow.size_bytes,
    );

    // Counted: two downloads (the timed-out load's went on), then one from the cache.
    const fetches = (result: string) =>
      scrapedValue(registry, 'portfolio_runtime_artifact_fetches_total', {
        result,
      });
    // The timed-out load's fetch settles on its own, maybe after the later load.
    await eventually('both downloads counted', async () =>
      (await fetches('downloaded')) === 2 ? true : null,
    );
    expect(await fetches('cached')).toBe(1);
    expect(await fetches('failed')).toBeUndefined();
    expect(
      await scrapedValue(
        registry,
        'portfolio_runtime_artifact_fetch_duration_seconds_count',
        { result: 'downloaded' },
      ),
    ).toBe(2);
    expect(
      await scrapedValue(registry, 'portfolio_runtime_artifact_cache_bytes', {
        kind: 'in_use',
      }),
    ).toBe(fast.size_bytes + slow.size_bytes);
    expect(
      await scrapedValue(registry, 'portfolio_runtime_artifact_cache_bytes', {
        kind: 'max',
      }),
    ).toBe(1024 * 1024);
  });
});
