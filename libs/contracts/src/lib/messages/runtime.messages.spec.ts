import {
  InferHeader,
  LoadedModelReport,
  LoadModelRequest,
  RuntimeHeartbeat,
} from './runtime.messages';

const report = (over: Record<string, unknown> = {}) => ({
  model_id: 'iris',
  version: 1,
  state: 'loaded',
  memory_bytes: 4096,
  loaded_at: '2025-01-01T00:00:00.000Z',
  last_used_at: null,
  requests: 3,
  errors: 0,
  in_flight: 0,
  busy_ms: 40.5,
  load_ms: 12.5,
  reason: null,
  ...over,
});

const heartbeat = (over: Record<string, unknown> = {}) => ({
  node_id: 'runtime-a',
  started_at: '2025-01-01T00:00:00.000Z',
  seq: 7,
  state_version: 2,
  interval_ms: 2000,
  capacity_bytes: 1024 ** 3,
  soft_limit_bytes: 900 * 1024 ** 2,
  used_bytes: 4096,
  base_bytes: 150 * 1024 ** 2,
  rss_bytes: 200 * 1024 ** 2,
  workers: 2,
  formats: ['onnx'],
  models: [report()],
  ...over,
});

/** Drops one key from a valid message. */
const without = (message: Record<string, unknown>, key: string) => {
  const copy = { ...message };
  delete copy[key];
  return copy;
};

describe('RuntimeHeartbeat', () => {
  it('accepts a complete report, and one from a runtime that holds nothing', () => {
    expect(RuntimeHeartbeat.safeParse(heartbeat()).success).toBe(true);
    expect(RuntimeHeartbeat.safeParse(heartbeat({ models: [] })).success).toBe(
      true,
    );
  });

  it.each(Object.keys(heartbeat()))('refuses one without %s', (key) => {
    expect(RuntimeHeartbeat.safeParse(without(heartbeat(), key)).success).toBe(
      false,
    );
  });

  it.each([
    ['a node id that is not one subject token', { node_id: 'runtime.a' }],
    ['a negative sequence number', { seq: -1 }],
    ['a zero interval', { interval_ms: 0 }],
    ['no worker', { workers: 0 }],
    ['negative used memory', { used_bytes: -4096 }],
    ['negative base memory', { base_bytes: -1 }],
    ['a fractional capacity', { capacity_bytes: 1.5 }],
    ['an unknown format', { formats: ['onnx', 'tflite'] }],
    ['models that are not a list', { models: report() }],
    ['a model in an unknown state', { models: [report({ state: 'ready' })] }],
    ['a model with a bad id', { models: [report({ model_id: 'Iris' })] }],
    [
      'a model with negative requests in flight',
      { models: [report({ in_flight: -1 })] },
    ],
    [
      'a model with a fractional copy count',
      { models: [report({ copies: 1.5 })] },
    ],
  ])('refuses one with %s', (_what, over) => {
    expect(RuntimeHeartbeat.safeParse(heartbeat(over)).success).toBe(false);
  });

  it('refuses what is not an object', () => {
    for (const value of [null, 'heartbeat', [heartbeat()]])
      expect(RuntimeHeartbeat.safeParse(value).success).toBe(false);
  });
});

describe('LoadedModelReport', () => {
  it('takes a failed model with its reason and no timestamps', () => {
    expect(
      LoadedModelReport.safeParse(
        report({
          state: 'failed',
          memory_bytes: 0,
          loaded_at: null,
          load_ms: null,
          reason: 'worker 0 exited with code 1',
        }),
      ).success,
    ).toBe(true);
  });
});

describe('LoadModelRequest', () => {
  const load = {
    model_id: 'iris',
    version: 1,
    format: 'onnx',
    artifact_uri: 'file:///models/iris/x/model.onnx',
    sha256: 'f'.repeat(64),
    size_bytes: 1000,
    memory_estimate_bytes: 1200,
  };

  it('accepts a complete request', () => {
    expect(LoadModelRequest.safeParse(load).success).toBe(true);
  });

  it('takes whether the model is pinned and its largest batch, both optional', () => {
    expect(
      LoadModelRequest.safeParse({ ...load, pinned: true, max_batch: 32 })
        .success,
    ).toBe(true);
  });

  it.each([
    ['version 0', { version: 0 }],
    ['a batch of 0', { max_batch: 0 }],
    ['a fractional batch', { max_batch: 1.5 }],
    ['pinned as a string', { pinned: 'yes' }],
    ['a short sha256', { sha256: 'f'.repeat(40) }],
    ['a negative size', { size_bytes: -1 }],
    ['a negative estimate', { memory_estimate_bytes: -1 }],
    ['an unknown format', { format: 'safetensors' }],
  ])('refuses %s', (_what, over) => {
    expect(LoadModelRequest.safeParse({ ...load, ...over }).success).toBe(
      false,
    );
  });
});

describe('InferHeader', () => {
  it('takes the outputs wanted as a list of names, or none', () => {
    expect(InferHeader.safeParse({ model_id: 'm', version: 2 }).success).toBe(
      true,
    );
    expect(
      InferHeader.safeParse({ model_id: 'm', version: 2, outputs: ['y'] })
        .success,
    ).toBe(true);
    expect(
      InferHeader.safeParse({ model_id: 'm', version: 2, outputs: 'y' })
        .success,
    ).toBe(false);
  });
});
