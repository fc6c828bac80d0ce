import { Logger } from '@nestjs/common';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { LocalStorageDriver } from '@portfolio/storage';
import { MetricsRegistry } from '@portfolio/telemetry';
import { Tensor } from '@portfolio/tensor';
import {
  buildMlpModel,
  makeTempDir,
  scrapedValue,
  writeModel,
} from '@portfolio/testing';

import { ModelHostService } from './model-host.service';
import { RuntimeMetrics } from './runtime.metrics';
import {
  closeHost,
  loadRequestFor,
  sampleInput,
  testRuntimeSettings,
} from './runtime.testing';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
const mlpInput = (batch: number): Record<string, Tensor> => ({
  x: { datatype: 'FP32', shape: [batch, 4], data: sampleInput(batch * 4) },
});

describe('RuntimeMetrics, on a real host', () => {
  const settings = testRuntimeSettings();
  const node = settings.nodeId;
  const m = { node, model: 'mlp', version: '1' };
  let root: string;
  let host: ModelHostService;
  let registry: MetricsRegistry;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    root = makeTempDir('runtime-metrics');
    writeModel(join(root, 'mlp'), 'model.onnx', buildMlpModel(MLP));
    mkdirSync(join(root, 'broken'));
    writeFileSync(join(root, 'broken', 'model.onnx'), 'not a model');
    registry = new MetricsRegistry({ processMetrics: false });
    host = new ModelHostService(
      settings,
      new LocalStorageDriver(root),
      new RuntimeMetrics(registry, settings),
    );
    await host.load(
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
    );
  });
  afterAll(async () => {
    await closeHost(host);
    rmSync(root, { recursive: true, force: true });
  });

  it('times each inference in its queue wait and its run, and sizes each run', async () => {
    for (let i = 0; i < 3; i++) await host.infer('mlp', 1, mlpInput(2));

    expect(
      await scrapedValue(
        registry,
        'portfolio_inference_queue_duration_seconds_count',
        m,
      ),
    ).toBe(3);
    expect(
      await scrapedValue(
        registry,
        'portfolio_inference_compute_duration_seconds_count',
        m,
      ),
    ).toBe(3);
    expect(
      await scrapedValue(
        registry,
        'portfolio_inference_compute_duration_seconds_sum',
        m,
      ),
    ).toBeGreaterThan(0);
    // Three runs of 2 rows each, none merged (each waited for the one before).
    expect(
      await scrapedValue(registry, 'portfolio_inference_batch_rows_sum', m),
    ).toBe(6);
    expect(
      await scrapedValue(registry, 'portfolio_inference_batch_requests_sum', m),
    ).toBe(3);
    expect(
      await scrapedValue(registry, 'portfolio_inference_batch_rows_bucket', {
        ...m,
        le: '1',
      }),
    ).toBe(0);
  });

  it('counts inferences refused, by code', async () => {
    await expect(
      host.infer('mlp', 1, {
        x: { datatype: 'FP32', shape: [1, 5], data: sampleInput(5) },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });

    expect(
      await scrapedValue(registry, 'portfolio_inference_errors_total', {
        ...m,
        code: 'INVALID_INPUT',
      }),
    ).toBe(1);
  });

  it("reports the runtime's memory by kind and the models it holds", async () => {
    const text = await registry.metrics();

    const memory = (kind: string) =>
      scrapedValue(registry, 'portfolio_runtime_memory_bytes', { node, kind });
    expect(await memory('capacity')).toBe(settings.capacityBytes);
    expect(await memory('soft_limit')).toBe(settings.softLimitBytes);
    expect(await memory('used')).toBe(host.usedBytes());
    expect(await memory('base')).toBeGreaterThan(0);
    expect(await memory('rss')).toBeGreaterThan(0);
    expect(text).toContain(
      `\nportfolio_runtime_models_loaded{node="${node}"} 1\n`,
    );
  });

  it('counts loads done and failed, their time, and unloads by reason', async () => {
    await expect(
      host.load(
        loadRequestFor(root, 'broken/model.onnx', { model_id: 'broken' }),
      ),
    ).rejects.toThrow();
    await host.unload('mlp', 1, 'capacity');

    expect(
      await scrapedValue(registry, 'portfolio_runtime_loads_total', {
        ...m,
        result: 'loaded',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(
        registry,
        'portfolio_runtime_load_duration_seconds_count',
        m,
      ),
    ).toBe(1);
    expect(
      await scrapedValue(registry, 'portfolio_runtime_loads_total', {
        model: 'broken',
        result: 'failed',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(registry, 'portfolio_runtime_unloads_total', {
        ...m,
        reason: 'capacity',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(registry, 'portfolio_runtime_models_loaded', { node }),
    ).toBe(0);
  });
});
