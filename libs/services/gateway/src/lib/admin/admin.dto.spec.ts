import { PortfolioError } from '@portfolio/contracts';

import {
  parseAuditQuery,
  parseCreateModel,
  parseListQuery,
  parsePatchModel,
} from './admin.dto';

function refusal(body: unknown): PortfolioError {
  try {
    parseCreateModel(body);
  } catch (e) {
    expect(e).toBeInstanceOf(PortfolioError);
    return e as PortfolioError;
  }
  throw new Error('expected the body to be refused');
}

describe(parseCreateModel.name, () => {
  it('takes engine settings, and refuses ONNX Runtime session settings for a format that does not run on it', () => {
    expect(
      parseCreateModel({
        id: 'fraud',
        format: 'onnx',
        engine: {
          threads: 2,
          graph_optimization: 'basic',
          memory_arena: false,
          execution_provider: 'cpu',
        },
      }).engine,
    ).toEqual({
      threads: 2,
      graph_optimization: 'basic',
      memory_arena: false,
      execution_provider: 'cpu',
    });
    expect(
      parseCreateModel({
        id: 'iris',
        format: 'sklearn',
        engine: { threads: 1 },
      }).engine,
    ).toEqual({ threads: 1 });
    expect(parseCreateModel({ id: 'iris', format: 'onnx' }).engine).toBeNull();

    const e = refusal({
      id: 'iris',
      format: 'sklearn',
      engine: { memory_arena: false },
    });
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toBe(
      'engine.memory_arena applies to models that run on ONNX Runtime (onnx, huggingface), not to sklearn; only engine.threads does',
    );
  });

  it.each([
    [{ threads: 0 }, /engine\.threads/],
    [{ graph_optimization: 'max' }, /engine\.graph_optimization/],
    [{ execution_provider: 'tpu' }, /engine\.execution_provider/],
    [{ arena: true }, /arena/],
  ])('refuses engine %j with 400 naming the field', (engine, message) => {
    const e = refusal({ id: 'iris', format: 'onnx', engine });

    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toMatch(message);
  });

  it('passes memory_estimate_authoritative on with the estimate it makes authoritative', () => {
    expect(
      parseCreateModel({
        id: 'fraud',
        format: 'onnx',
        memory_estimate: '512MiB',
        memory_estimate_authoritative: true,
      }),
    ).toMatchObject({
      memory_estimate_bytes: 512 * 1024 * 1024,
      memory_estimate_authoritative: true,
    });
    expect(
      parseCreateModel({ id: 'fraud', format: 'onnx' })
        .memory_estimate_authoritative,
    ).toBeUndefined();
    expect(
      parseCreateModel({
        id: 'fraud',
        format: 'onnx',
        memory_estimate_authoritative: false,
      }).memory_estimate_authoritative,
    ).toBe(false);
  });

  it.each([
    ['without a memory_estimate', {}],
    ['with a null memory_estimate', { memory_estimate: null }],
  ])('refuses it %s, naming the field', (_what, extra) => {
    const e = refusal({
      id: 'fraud',
      format: 'onnx',
      memory_estimate_authoritative: true,
      ...extra,
    });
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toMatch(/^memory_estimate_authoritative: /);
    expect(e.details).toEqual({ field: 'memory_estimate_authoritative' });
  });

  it('refuses a value that is not a boolean', () => {
    const e = refusal({
      id: 'fraud',
      format: 'onnx',
      memory_estimate: 1024,
      memory_estimate_authoritative: 'yes',
    });
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toMatch(/memory_estimate_authoritative/);
  });
});

describe(parseListQuery.name, () => {
  it('reads a page: limit (default 100), after, and repeated labels split at the first colon', () => {
    expect(parseListQuery({})).toEqual({ limit: 100 });
    expect(
      parseListQuery({
        limit: '2',
        after: 'iris',
        label: ['team:red', 'url:http://x'],
      }),
    ).toEqual({
      limit: 2,
      after: 'iris',
      labels: { team: 'red', url: 'http://x' },
    });
    expect(parseListQuery({ label: 'tier:' })).toEqual({
      limit: 100,
      labels: { tier: '' },
    });
  });

  it.each([
    [{ limit: '0' }, /limit must be an integer from 1 to 1000/],
    [{ limit: '1001' }, /limit/],
    [{ limit: 'ten' }, /limit/],
    [{ limit: ['1', '2'] }, /limit must be given once/],
    [{ after: 'Not An Id' }, /after must be a model id/],
    [{ label: 'team' }, /label must be KEY:VALUE/],
    [{ label: ':red' }, /label must be KEY:VALUE/],
  ])('refuses %j with 400 naming the parameter', (query, message) => {
    expect(() => parseListQuery(query)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringMatching(message),
      }),
    );
  });
});

describe(parseAuditQuery.name, () => {
  it('reads limit, before and model_id, and refuses what is not an id', () => {
    expect(parseAuditQuery({})).toEqual({ limit: 100 });
    expect(
      parseAuditQuery({ limit: '5', before: '42', model_id: 'iris' }),
    ).toEqual({ limit: 5, before: 42, model_id: 'iris' });
    for (const query of [
      { before: '0' },
      { before: '-1' },
      { before: ['1', '2'] },
      { model_id: 'Iris!' },
      { limit: '5000' },
    ])
      expect(() => parseAuditQuery(query)).toThrow(
        expect.objectContaining({ code: 'INVALID_REQUEST' }),
      );
  });
});

describe(parsePatchModel.name, () => {
  it('passes on only the settings given, sizes and durations parsed, null kept', () => {
    expect(
      parsePatchModel('iris', {
        memory_estimate: '2MiB',
        ttl: null,
        pinned: true,
      }),
    ).toEqual({
      id: 'iris',
      memory_estimate_bytes: 2 * 1024 * 1024,
      ttl_ms: null,
      pinned: true,
    });
    expect(parsePatchModel('iris', { ttl: '1h', labels: {} })).toEqual({
      id: 'iris',
      ttl_ms: 3_600_000,
      labels: {},
    });
    expect(
      parsePatchModel('iris', { max_batch_size: 16, max_queue_delay: '2ms' }),
    ).toEqual({ id: 'iris', max_batch_size: 16, max_queue_delay_ms: 2 });
    expect(
      parsePatchModel('iris', { max_batch_size: null, max_queue_delay: null }),
    ).toEqual({ id: 'iris', max_batch_size: null, max_queue_delay_ms: null });
    expect(
      parsePatchModel('iris', { engine: { graph_optimization: 'disabled' } }),
    ).toEqual({ id: 'iris', engine: { graph_optimization: 'disabled' } });
    expect(parsePatchModel('iris', { engine: null })).toEqual({
      id: 'iris',
      engine: null,
    });
  });

  it.each([
    [{}, /at least one setting/],
    [{ format: 'onnx' }, /format/],
    [{ id: 'other' }, /id/],
    [{ pinned: 'yes' }, /pinned/],
    [{ ttl: 'soon' }, /ttl/],
    [{ memory_estimate: '12 parsecs' }, /memory_estimate/],
    [{ max_batch_size: 0 }, /max_batch_size/],
    [{ max_batch_size: 2.5 }, /max_batch_size/],
    [{ max_queue_delay: '1m' }, /max_queue_delay: at most 10s/],
    [{ max_queue_delay: 'soon' }, /max_queue_delay/],
  ])('refuses %j with 400 naming what is wrong', (body, message) => {
    expect(() => parsePatchModel('iris', body)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringMatching(message),
      }),
    );
  });
});
