import {
  CreateModelRequest,
  CreateVersionRequest,
  ModelChangedEvent,
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
