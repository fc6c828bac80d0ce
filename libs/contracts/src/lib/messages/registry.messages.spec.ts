import {
  CreateModelRequest,
  CreateVersionRequest,
  LIST_ALL_PAGE_SIZE,
  listAllModels,
  ListModelsRequest,
  ModelChangedEvent,
  ModelRecord,
  ResolveVersionResponse,
  VersionMeasuredEvent,
} from './registry.messages';

describe('CreateModelRequest', () => {
  it('needs only an id and a format', () => {
    expect(
      CreateModelRequest.safeParse({ id: 'iris', format: 'onnx' }).success,
    ).toBe(true);
  });

  it('accepts every setting at its limit', () => {
    expect(
      CreateModelRequest.safeParse({
        id: 'iris',
        format: 'onnx',
        description: 'd'.repeat(10_000),
        memory_estimate_bytes: 0,
        memory_estimate_authoritative: true,
        preload: true,
        pinned: false,
        ttl_ms: 1,
        labels: { ['k'.repeat(256)]: 'v'.repeat(1024) },
        if_exists: 'update',
      }).success,
    ).toBe(true);
  });

  it.each([
    ['a bad id', { id: 'Iris' }],
    ['no format', { format: undefined }],
    ['an unknown format', { format: 'keras' }],
    [
      'a description over 10000 characters',
      { description: 'd'.repeat(10_001) },
    ],
    ['a negative memory estimate', { memory_estimate_bytes: -1 }],
    ['a zero ttl', { ttl_ms: 0 }],
    ['a label key over 256 characters', { labels: { ['k'.repeat(257)]: 'v' } }],
    ['a label value over 1024 characters', { labels: { k: 'v'.repeat(1025) } }],
    ['a label value that is not a string', { labels: { k: 1 } }],
    ['an unknown if_exists', { if_exists: 'replace' }],
    ['preload as a string', { preload: 'true' }],
    [
      'memory_estimate_authoritative as a string',
      { memory_estimate_authoritative: 'yes' },
    ],
  ])('refuses %s', (_what, over) => {
    expect(
      CreateModelRequest.safeParse({ id: 'iris', format: 'onnx', ...over })
        .success,
    ).toBe(false);
  });
});

describe('CreateVersionRequest', () => {
  const version = {
    model_id: 'iris',
    artifact_uri: 'file:///models/iris/x/model.onnx',
    sha256: 'c'.repeat(64),
    size_bytes: 0,
    format: 'onnx',
    signature: { inputs: [], outputs: [] },
  };

  it('accepts a complete request', () => {
    expect(CreateVersionRequest.safeParse(version).success).toBe(true);
  });

  it.each([
    ['an empty artifact uri', { artifact_uri: '' }],
    ['an upper-case sha256', { sha256: 'C'.repeat(64) }],
    ['a negative size', { size_bytes: -10 }],
    ['no signature', { signature: undefined }],
  ])('refuses %s', (_what, over) => {
    expect(
      CreateVersionRequest.safeParse({ ...version, ...over }).success,
    ).toBe(false);
  });
});

describe('ModelChangedEvent', () => {
  it('names one of the known changes', () => {
    expect(
      ModelChangedEvent.safeParse({
        model_id: 'iris',
        change: 'version_created',
        version: 2,
      }).success,
    ).toBe(true);
    expect(
      ModelChangedEvent.safeParse({ model_id: 'iris', change: 'renamed' })
        .success,
    ).toBe(false);
  });
});

describe('VersionMeasuredEvent', () => {
  const measured = {
    model_id: 'iris',
    version: 1,
    memory_bytes: 786_432,
    load_ms: 3.9,
    node_id: 'runtime-1',
  };

  it('accepts a measurement, with or without its time', () => {
    expect(VersionMeasuredEvent.safeParse(measured).success).toBe(true);
    expect(
      VersionMeasuredEvent.safeParse({
        ...measured,
        measured_at: '2026-03-01T12:00:00.000Z',
      }).success,
    ).toBe(true);
  });

  it.each([
    ['a negative size', { memory_bytes: -1 }],
    ['a fractional size', { memory_bytes: 1.5 }],
    ['a negative load time', { load_ms: -0.1 }],
    ['version 0', { version: 0 }],
    ['a node id with a dot', { node_id: 'runtime.1' }],
    ['a time that is not ISO 8601', { measured_at: 'yesterday' }],
    ['no node id', { node_id: undefined }],
  ])('refuses %s', (_what, over) => {
    expect(
      VersionMeasuredEvent.safeParse({ ...measured, ...over }).success,
    ).toBe(false);
  });
});

describe('ResolveVersionResponse', () => {
  const model = {
    id: 'iris',
    format: 'onnx',
    description: null,
    memory_estimate_bytes: null,
    preload: false,
    pinned: false,
    ttl_ms: null,
    labels: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
  const version = {
    model_id: 'iris',
    version: 1,
    format: 'onnx',
    artifact_uri: 'local:iris/x/model.onnx',
    sha256: 'c'.repeat(64),
    size_bytes: 10,
    signature: { inputs: [], outputs: [] },
    status: 'ready',
    created_at: '2026-01-01T00:00:00.000Z',
  };

  it('carries a measurement, none, or (from older senders) neither field', () => {
    const measured = {
      memory_bytes: 4096,
      load_ms: 2,
      measured_at: '2026-01-02T00:00:00.000Z',
    };
    for (const extra of [{ measured }, { measured: null }, {}]) {
      expect(
        ResolveVersionResponse.safeParse({
          model: { ...model, memory_estimate_authoritative: false },
          version: { ...version, ...extra },
        }).success,
      ).toBe(true);
    }
    expect(ResolveVersionResponse.safeParse({ model, version }).success).toBe(
      true,
    );
  });

  it('refuses a measurement without its size', () => {
    expect(
      ResolveVersionResponse.safeParse({
        model,
        version: { ...version, measured: { load_ms: 2, measured_at: 'x' } },
      }).success,
    ).toBe(false);
  });
});

describe('listAllModels', () => {
  const record = (id: string): ModelRecord => ({
    id,
    format: 'onnx',
    description: null,
    memory_estimate_bytes: null,
    preload: false,
    pinned: false,
    ttl_ms: null,
    labels: {},
    created_at: '2026-12-04T00:00:00.000Z',
    updated_at: '2026-12-04T00:00:00.000Z',
  });
  const ids = Array.from(
    { length: 2 * LIST_ALL_PAGE_SIZE + 1 },
    (_, i) => `m${String(i).padStart(4, '0')}`,
  );

  it('pages through them all, in id order, never asking for everything at once', async () => {
    const asked: ListModelsRequest[] = [];
    const models = await listAllModels(async (req) => {
      asked.push(req);
      const rest = ids.filter(
        (id) => req.after === undefined || id > req.after,
      );
      const page = rest.slice(0, req.limit);
      return {
        models: page.map(record),
        next: rest.length > page.length ? page[page.length - 1] : null,
      };
    });
    expect(models.map((m) => m.id)).toEqual(ids);
    expect(asked).toEqual([
      { limit: LIST_ALL_PAGE_SIZE, after: undefined },
      { limit: LIST_ALL_PAGE_SIZE, after: ids[LIST_ALL_PAGE_SIZE - 1] },
      { limit: LIST_ALL_PAGE_SIZE, after: ids[2 * LIST_ALL_PAGE_SIZE - 1] },
    ]);
  });

  it('takes an answer without `next` (an older registry: all of them) as the last page', async () => {
    let calls = 0;
    const models = await listAllModels(async () => {
      calls++;
      return { models: ids.map(record) };
    });
    expect(models).toHaveLength(ids.length);
    expect(calls).toBe(1);
  });
});
