import { layoutRuntime } from './memory-layout';
import type { ModelStatus, RuntimeStatus } from './types';

const MiB = 1024 * 1024;

const runtime = (over: Partial<RuntimeStatus> = {}): RuntimeStatus => ({
  node_id: 'r1',
  alive: true,
  capacity_bytes: 100 * MiB,
  soft_limit_bytes: 80 * MiB,
  used_bytes: 30 * MiB,
  memory: {
    models_bytes: 30 * MiB,
    loading_bytes: 0,
    unloading_bytes: 0,
    base_bytes: 200 * MiB,
  },
  rss_bytes: 250 * MiB,
  models_loaded: 2,
  ...over,
});

const model = (over: Partial<ModelStatus>): ModelStatus => ({
  model_id: 'm',
  version: 1,
  state: 'loaded',
  reason: null,
  nodes: ['r1'],
  memory_bytes: 10 * MiB,
  hits: 0,
  misses: 0,
  loads: 1,
  evictions: 0,
  load_ms: 5,
  ...over,
});

describe('layoutRuntime', () => {
  it('draws each model the runtime holds, in id order, to the scale of its hard limit', () => {
    const layout = layoutRuntime(runtime(), [
      model({ model_id: 'zeta', memory_bytes: 20 * MiB }),
      model({ model_id: 'alpha' }),
      model({ model_id: 'elsewhere', nodes: ['r2'] }),
    ]);

    expect(
      layout.segments.map((s) => [s.label, s.start, s.width, s.kind]),
    ).toEqual([
      ['alpha v1', 0, 0.1, 'model'],
      ['zeta v1', 0.1, 0.2, 'model'],
    ]);
    expect(layout.scale_bytes).toBe(100 * MiB);
    expect(layout.soft_at).toBeCloseTo(0.8);
    expect(layout.hard_at).toBe(1);
  });

  it('shows loads and unloads in progress, and what the models listed do not account for', () => {
    const layout = layoutRuntime(
      runtime({
        used_bytes: 50 * MiB,
        memory: {
          models_bytes: 30 * MiB,
          loading_bytes: 15 * MiB,
          unloading_bytes: 5 * MiB,
          base_bytes: 0,
        },
      }),
      [
        model({ model_id: 'a' }),
        // Loading: its memory is not measured yet (it is in loading_bytes).
        model({ model_id: 'b', state: 'loading', memory_bytes: null }),
        // Unloading everywhere: in unloading_bytes, not drawn twice.
        model({ model_id: 'c', state: 'unloading', memory_bytes: 5 * MiB }),
      ],
    );

    expect(layout.segments.map((s) => [s.kind, s.bytes / MiB])).toEqual([
      ['model', 10],
      ['other', 20],
      ['loading', 15],
      ['unloading', 5],
    ]);
    const last = layout.segments[layout.segments.length - 1];
    expect(last.start + last.width).toBeCloseTo(0.5);
  });

  it('widens the scale past the hard limit when more is used, so the marks move in', () => {
    const layout = layoutRuntime(
      runtime({
        used_bytes: 125 * MiB,
        memory: {
          models_bytes: 125 * MiB,
          loading_bytes: 0,
          unloading_bytes: 0,
          base_bytes: 0,
        },
      }),
      [model({ memory_bytes: 125 * MiB })],
    );

    expect(layout.scale_bytes).toBe(125 * MiB);
    expect(layout.hard_at).toBeCloseTo(0.8);
    expect(layout.soft_at).toBeCloseTo(0.64);
    expect(layout.segments[0].width).toBe(1);
  });

  it('draws nothing for an empty runtime, with its marks where they belong', () => {
    const layout = layoutRuntime(
      runtime({
        used_bytes: 0,
        memory: {
          models_bytes: 0,
          loading_bytes: 0,
          unloading_bytes: 0,
          base_bytes: 0,
        },
      }),
      [],
    );

    expect(layout.segments).toEqual([]);
    expect(layout.hard_at).toBe(1);
  });
});
