import {
  ingestChunkSubject,
  IngestBeginRequest,
  IngestBeginResponse,
  IngestCommitRequest,
} from './storage.messages';

describe('artifact ingest messages', () => {
  const begun = {
    ingest_id: 'ing_0123456789',
    instance: 'storage-1',
    max_chunk_bytes: 512 * 1024,
    idle_timeout_ms: 30_000,
  };

  it('accepts a begin answer whose instance can address the chunks', () => {
    expect(IngestBeginResponse.safeParse(begun).success).toBe(true);
    expect(ingestChunkSubject('pf', begun.instance)).toBe(
      'pf.storage.storage-1.ingest.chunk.v1',
    );
  });

  // The instance becomes a token of the chunk, commit and abort subjects.
  it.each([
    ['an instance with a dot', { instance: 'storage.1' }],
    ['a wildcard instance', { instance: '>' }],
    ['an ingest id under 8 characters', { ingest_id: 'ing_1' }],
    ['an ingest id with a slash', { ingest_id: 'ing/0123456789' }],
    ['a zero chunk size', { max_chunk_bytes: 0 }],
    ['a zero idle timeout', { idle_timeout_ms: 0 }],
  ])('refuses a begin answer with %s', (_what, over) => {
    expect(IngestBeginResponse.safeParse({ ...begun, ...over }).success).toBe(
      false,
    );
  });

  it('refuses a negative announced size and a negative chunk count', () => {
    expect(
      IngestBeginRequest.safeParse({
        model_id: 'iris',
        format: 'onnx',
        expected_size_bytes: -1,
      }).success,
    ).toBe(false);
    expect(
      IngestCommitRequest.safeParse({ ingest_id: 'ing_0123456789', chunks: -1 })
        .success,
    ).toBe(false);
  });
});
