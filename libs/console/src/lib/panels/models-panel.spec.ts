import type { ClusterStatus, ModelMetadata, ModelStatus } from '../types';
import { versionRows } from './models-panel';

const cache = (over: Partial<ModelStatus>): ModelStatus => ({
  model_id: 'm',
  version: 1,
  state: 'loaded',
  reason: null,
  nodes: ['r1'],
  memory_bytes: 1024,
  hits: 1,
  misses: 1,
  loads: 1,
  evictions: 0,
  load_ms: 3,
  ...over,
});

const meta = (over: Partial<ModelMetadata>): ModelMetadata => ({
  id: 'm',
  format: 'onnx',
  pinned: false,
  preload: false,
  versions: [],
  aliases: {},
  default_version: null,
  ...over,
});

const status = (models: ModelStatus[]): ClusterStatus => ({
  generated_at: '2026-01-01T00:00:00.000Z',
  runtimes: [],
  models,
});

const version = (v: number, s: 'ready' | 'deprecated' = 'ready') => ({
  version: v,
  status: s,
  size_bytes: 10,
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('versionRows', () => {
  it('lists each model in id order, its versions newest first, with aliases, default and state', () => {
    const rows = versionRows(
      status([
        cache({ model_id: 'b', version: 2 }),
        cache({ model_id: 'a', version: null, state: 'unloaded', nodes: [] }),
      ]),
      new Map([
        [
          'b',
          meta({
            id: 'b',
            versions: [version(1), version(2), version(3, 'deprecated')],
            aliases: { production: 2, staging: 2, canary: 1 },
            default_version: 2,
          }),
        ],
      ]),
    );

    expect(rows.map((r) => r.map((x) => [x.model_id, x.version]))).toEqual([
      [['a', null]],
      [
        ['b', 3],
        ['b', 2],
        ['b', 1],
      ],
    ]);
    const [v3, v2, v1] = rows[1];
    expect(v2).toMatchObject({
      status: 'ready',
      is_default: true,
      aliases: ['production', 'staging'],
      cache: expect.objectContaining({ state: 'loaded' }),
    });
    expect(v1).toMatchObject({ aliases: ['canary'], cache: null });
    expect(v3).toMatchObject({ status: 'deprecated', is_default: false });
    expect(rows[0][0]).toMatchObject({
      status: null,
      cache: expect.objectContaining({ state: 'unloaded' }),
    });
  });

  it('shows a version the cache-manager reports before the metadata lists it', () => {
    const rows = versionRows(
      status([cache({ version: 4, state: 'loading' })]),
      new Map([['m', meta({ versions: [version(3)], default_version: 3 })]]),
    );

    expect(rows[0].map((r) => [r.version, r.status])).toEqual([
      [4, null],
      [3, 'ready'],
    ]);
  });
});
