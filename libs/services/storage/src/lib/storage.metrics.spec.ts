import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Storage } from '@portfolio/contracts';
import { InProcessBus, Messaging } from '@portfolio/messaging';
import { MetricsRegistry } from '@portfolio/telemetry';
import { buildMlpModel, makeTempDir, scrapedValue } from '@portfolio/testing';

import { ingest, startStorage, StorageUnderTest } from './storage.testing';

const MODEL = buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2 });

describe('StorageMetrics', () => {
  let root: string;
  let bus: InProcessBus;
  let storage: StorageUnderTest;
  let client: Messaging;
  let registry: MetricsRegistry;

  beforeEach(async () => {
    root = makeTempDir('storage-metrics');
    bus = new InProcessBus();
    storage = await startStorage({ bus, prefix: 'test', root });
    client = new Messaging(bus, 'test', 60_000);
    registry = storage.app.get(MetricsRegistry);
  });
  afterEach(async () => {
    await storage.close();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('counts the bytes uploaded, times each upload by how it ended, and the trial load', async () => {
    await ingest(client, 'mlp', MODEL, { chunkBytes: 100 });
    await expect(
      ingest(client, 'junk', new TextEncoder().encode('not a model')),
    ).rejects.toMatchObject({ code: 'INVALID_ARTIFACT' });
    const begun = await client.call(Storage.ingestBegin, {
      model_id: 'gone',
      format: 'onnx',
    });
    await client.call(
      Storage.ingestAbort,
      { ingest_id: begun.ingest_id },
      { target: begun.instance },
    );

    expect(
      await scrapedValue(registry, 'portfolio_storage_upload_bytes_total'),
    ).toBe(MODEL.byteLength + 'not a model'.length);
    const uploads = (result: string) =>
      scrapedValue(
        registry,
        'portfolio_storage_upload_duration_seconds_count',
        {
          result,
        },
      );
    expect([
      await uploads('stored'),
      await uploads('failed'),
      await uploads('aborted'),
    ]).toEqual([1, 1, 1]);
    expect(
      await scrapedValue(registry, 'portfolio_storage_trial_loads_total', {
        format: 'onnx',
        result: 'loaded',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(
        registry,
        'portfolio_storage_trial_load_duration_seconds_count',
        { format: 'onnx', result: 'loaded' },
      ),
    ).toBe(1);
  });

  it('counts the bytes downloaded from an import source, and times each download by how it ended', async () => {
    const source = makeTempDir('storage-metrics-source');
    writeFileSync(join(source, 'model.onnx'), MODEL);
    await storage.close();
    storage = await startStorage({
      bus,
      prefix: 'test',
      root,
      importSources: {
        sources: [pathToFileURL(source).href],
        driverFor: () => Promise.reject(new Error('no cloud source here')),
      },
    });
    registry = storage.app.get(MetricsRegistry);
    const importUri = (file: string) =>
      client.call(Storage.importUri, {
        model_id: 'mlp',
        format: 'onnx',
        uri: pathToFileURL(join(source, file)).href,
      });
    try {
      await importUri('model.onnx');
      await expect(importUri('missing.onnx')).rejects.toMatchObject({
        code: 'ARTIFACT_NOT_FOUND',
      });

      expect(
        await scrapedValue(registry, 'portfolio_storage_download_bytes_total'),
      ).toBe(MODEL.byteLength);
      const downloads = (result: string) =>
        scrapedValue(
          registry,
          'portfolio_storage_download_duration_seconds_count',
          {
            result,
          },
        );
      expect([await downloads('stored'), await downloads('failed')]).toEqual([
        1, 1,
      ]);
    } finally {
      rmSync(source, { recursive: true, force: true });
    }
  });
});
