import {
  ClusterStatus,
  EnsureLoadedRequest,
  RoutingTable,
} from './cache.messages';

const table = (routes: unknown[]) => ({
  instance: 'cm-0a1b2c3d4e5f',
  epoch: 3,
  generated_at: '2025-01-01T00:00:00.000Z',
  routes,
});

describe('RoutingTable', () => {
  it('accepts routes to one or more nodes, and a table without routes', () => {
    expect(
      RoutingTable.safeParse(
        table([
          { model_id: 'iris', version: 1, nodes: ['runtime-a'] },
          { model_id: 'mnist', version: 4, nodes: ['runtime-a', 'runtime-b'] },
        ]),
      ).success,
    ).toBe(true);
    expect(RoutingTable.safeParse(table([])).success).toBe(true);
  });

  it.each([
    ['a route to no node', { model_id: 'iris', version: 1, nodes: [] }],
    ['a route without nodes', { model_id: 'iris', version: 1 }],
    [
      'a node id that is not one subject token',
      { model_id: 'iris', version: 1, nodes: ['runtime.a'] },
    ],
    [
      'a bad model id',
      { model_id: '../iris', version: 1, nodes: ['runtime-a'] },
    ],
    ['version 0', { model_id: 'iris', version: 0, nodes: ['runtime-a'] }],
  ])('refuses a table with %s', (_what, route) => {
    expect(RoutingTable.safeParse(table([route])).success).toBe(false);
  });

  it('refuses a negative or fractional epoch', () => {
    for (const epoch of [-1, 1.5])
      expect(RoutingTable.safeParse({ ...table([]), epoch }).success).toBe(
        false,
      );
  });
});

describe('EnsureLoadedRequest', () => {
  it('takes nodes to exclude and stale nodes as node ids', () => {
    expect(
      EnsureLoadedRequest.safeParse({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['runtime-a'],
        stale_nodes: ['runtime-b'],
      }).success,
    ).toBe(true);
    expect(
      EnsureLoadedRequest.safeParse({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['runtime-*'],
      }).success,
    ).toBe(false);
  });

  it('needs a version: the gateway resolves the default before asking', () => {
    expect(EnsureLoadedRequest.safeParse({ model_id: 'iris' }).success).toBe(
      false,
    );
  });
});

describe('ClusterStatus', () => {
  const status = {
    generated_at: '2025-01-01T00:00:00.000Z',
    runtimes: [],
    models: [],
    totals: {
      runtimes_alive: 0,
      capacity_bytes: 0,
      used_bytes: 0,
      models_loaded: 0,
    },
    quotas: [],
  };

  it('accepts an empty cluster and refuses negative totals', () => {
    expect(ClusterStatus.safeParse(status).success).toBe(true);
    expect(
      ClusterStatus.safeParse({
        ...status,
        totals: { ...status.totals, used_bytes: -1 },
      }).success,
    ).toBe(false);
  });

  it('refuses a model status in a state models cannot be in', () => {
    const model = {
      model_id: 'iris',
      version: 1,
      state: 'evicted',
      reason: null,
      nodes: [],
      memory_bytes: null,
      last_used_at: null,
      hits: 0,
      misses: 0,
      loads: 0,
      evictions: 0,
      evictions_by_reason: {},
      load_ms: null,
    };
    expect(
      ClusterStatus.safeParse({ ...status, models: [model] }).success,
    ).toBe(false);
    expect(
      ClusterStatus.safeParse({
        ...status,
        models: [{ ...model, state: 'unloaded' }],
      }).success,
    ).toBe(true);
  });

  it('counts evictions only under the reasons there are', () => {
    const model = {
      model_id: 'iris',
      version: 1,
      state: 'unloaded',
      reason: null,
      nodes: [],
      memory_bytes: null,
      last_used_at: null,
      hits: 0,
      misses: 0,
      loads: 2,
      evictions: 2,
      evictions_by_reason: { ttl: 1, capacity: 1 },
      load_ms: null,
    };
    expect(
      ClusterStatus.safeParse({ ...status, models: [model] }).success,
    ).toBe(true);
    expect(
      ClusterStatus.safeParse({
        ...status,
        models: [{ ...model, evictions_by_reason: { bored: 1 } }],
      }).success,
    ).toBe(false);
  });
});
