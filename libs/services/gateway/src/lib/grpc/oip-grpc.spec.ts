import { Metadata, ServiceError, status } from '@grpc/grpc-js';

import { Registry } from '@portfolio/contracts';
import { parsePrometheusText, sampleValue } from '@portfolio/testing';

import { ADMIN_KEY, FakeKeys, WRONG_SCOPE } from '../auth/fake-keys.testing';
import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { OpenInferenceService } from '../v2/open-inference.service';
import { failure, grpcOf, OipClient } from './grpc.testing';
import { oipServiceDefinition } from './oip-grpc.proto';
import { GRPC_ACCESS, GrpcMethod } from './oip-grpc.server';

const f32 = (rows: number[][]) =>
  Buffer.from(new Float32Array(rows.flat()).buffer);

/** An input with typed contents in `field`. */
function typedInput(
  datatype: string,
  shape: number[],
  field: string,
  values: number[],
  name = 'x',
) {
  return { name, datatype, shape, contents: { [field]: values } };
}

/** ModelInfer of `x` (rows of 4) for model `m`, as typed contents. */
function typedInfer(rows: number[][], extra: object = {}) {
  return {
    model_name: 'm',
    inputs: [
      {
        name: 'x',
        datatype: 'FP32',
        shape: [rows.length, 4],
        contents: { fp32_contents: rows.flat() },
      },
    ],
    ...extra,
  };
}

const trailer = (e: ServiceError, key: string) =>
  (e.metadata as Metadata).get(key)[0];

/**
 * The gRPC Open Inference Protocol through the real gateway and a stock @grpc/grpc-js
 * client made from the .proto, to fake peers on an in-process bus: model `m`
 * (versions 1 and 2) takes `x` FP32 [-1, 4]; its runtimes answer `y` FP32 [-1, 1], the
 * row sums.
 */
describe('Open Inference Protocol over gRPC', () => {
  let g: GatewayWithPeers;
  let client: OipClient;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 2 },
      nodes: ['r1'],
      settings: { bodyLimitBytes: 4096 },
    });
    client = await grpcOf(g);
  });
  afterEach(async () => {
    client.close();
    await g.close();
  });

  it('ServerLive, ServerMetadata', async () => {
    expect(await client.call('ServerLive', {})).toEqual({ live: true });
    expect(await client.call('ServerMetadata', {})).toEqual({
      name: 'portfolio',
      version: '0.0.0',
      extensions: [],
    });
  });

  it('ServerReady: false while the registry is down and no runtime is alive, then true', async () => {
    expect(await client.call('ServerReady', {})).toEqual({ ready: false });

    const ping = g.peers.serve(Registry.ping, () => ({
      service: 'model-registry',
      instance: 'fake',
      started_at: '2026-01-01T00:00:00.000Z',
    }));
    g.cacheManager.status = sampleStatus();
    try {
      expect(await client.call('ServerReady', {})).toEqual({ ready: true });
    } finally {
      ping.unsubscribe();
    }
  });

  it('ModelMetadata of the default version and of a given one, as REST answers it', async () => {
    const expected = {
      name: 'm',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1', '4'] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: ['-1', '1'] }],
    };
    expect(await client.call('ModelMetadata', { name: 'm' })).toEqual(expected);
    expect(
      await client.call('ModelMetadata', { name: 'm', version: '1' }),
    ).toEqual(expected);
    const rest = await g.app.inject({ method: 'GET', url: '/v2/models/m' });
    expect(rest.json().inputs[0].shape).toEqual([-1, 4]);
  });

  it('ModelReady: true for a servable version; NOT_FOUND for an unknown one or model; INVALID_ARGUMENT for a bad version', async () => {
    expect(await client.call('ModelReady', { name: 'm' })).toEqual({
      ready: true,
    });
    expect(
      await client.call('ModelReady', { name: 'm', version: '2' }),
    ).toEqual({ ready: true });

    const version = await failure(
      client.call('ModelReady', { name: 'm', version: '3' }),
    );
    const model = await failure(client.call('ModelReady', { name: 'nope' }));
    const bad = await failure(
      client.call('ModelReady', { name: 'm', version: 'one' }),
    );

    expect([version.code, version.details]).toEqual([
      status.NOT_FOUND,
      'model "m" has no version 3',
    ]);
    expect([model.code, model.details]).toEqual([
      status.NOT_FOUND,
      'model "nope" is not registered',
    ]);
    expect([bad.code, bad.details]).toEqual([
      status.INVALID_ARGUMENT,
      'version must be a positive integer, got "one"',
    ]);
  });

  it('ModelInfer with typed contents: typed outputs, the id echoed, the version served', async () => {
    const res = await client.call(
      'ModelInfer',
      typedInfer(
        [
          [1, 2, 3, 4],
          [0.5, 0.5, 0, -1],
        ],
        {
          id: 'req-7',
          model_version: '1',
          parameters: { priority: { int64_param: 1 } },
        },
      ),
    );

    expect(res).toEqual({
      model_name: 'm',
      model_version: '1',
      id: 'req-7',
      parameters: {},
      outputs: [
        expect.objectContaining({
          name: 'y',
          datatype: 'FP32',
          shape: ['2', '1'],
          contents: expect.objectContaining({ fp32_contents: [10, 0] }),
        }),
      ],
      raw_output_contents: [],
    });
  });

  it('ModelInfer with raw contents: raw outputs, and the same numbers as REST', async () => {
    const rows = [[1, 2, 3, 4.5]];
    const res = await client.call<{
      outputs: { name: string; shape: string[] }[];
      raw_output_contents: Buffer[];
    }>('ModelInfer', {
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
      outputs: [{ name: 'y' }],
      raw_input_contents: [f32(rows)],
    });
    const rest = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: rows }],
      },
    });

    expect(res.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['y', ['1', '1']],
    ]);
    expect(res.raw_output_contents).toHaveLength(1);
    const y = res.raw_output_contents[0];
    expect(Array.from(new Float32Array(new Uint8Array(y).buffer))).toEqual(
      rest.json().outputs[0].data,
    );
  });

  it.each<[string, object, string]>([
    [
      'a shape the signature does not allow',
      typedInfer([[1, 2, 3]]),
      'input "x": contents.fp32_contents has 3 elements, shape [1,4] needs 4',
    ],
    [
      'contents that do not fill the shape',
      {
        model_name: 'm',
        inputs: [typedInput('FP32', [2, 4], 'fp32_contents', [1, 2, 3, 4])],
      },
      'input "x": contents.fp32_contents has 4 elements, shape [2,4] needs 8',
    ],
    [
      'an unknown datatype',
      {
        model_name: 'm',
        inputs: [{ name: 'x', datatype: 'FP8', shape: [1, 4] }],
      },
      'input "x" unknown datatype "FP8"',
    ],
    [
      'the wrong datatype',
      {
        model_name: 'm',
        inputs: [typedInput('INT32', [1, 4], 'int_contents', [1, 2, 3, 4])],
      },
      'input "x": expected datatype FP32, got INT32',
    ],
    [
      'typed and raw contents both',
      {
        ...typedInfer([[1, 2, 3, 4]]),
        raw_input_contents: [f32([[1, 2, 3, 4]])],
      },
      'input "x" has typed contents, but the request has raw_input_contents too; send one or the other',
    ],
    [
      'raw contents of the wrong size',
      {
        model_name: 'm',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
        raw_input_contents: [Buffer.alloc(12)],
      },
      'input "x": binary data has 12 bytes, shape [1, 4] of FP32 needs 16 (4 elements of 4 bytes)',
    ],
    [
      'fewer raw contents than inputs',
      {
        model_name: 'm',
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 4] },
          { name: 'z', datatype: 'FP32', shape: [1, 4] },
        ],
        raw_input_contents: [f32([[1, 2, 3, 4]])],
      },
      'raw_input_contents has 1 entries for 2 inputs; send one per input, in input order',
    ],
    [
      'no contents at all',
      {
        model_name: 'm',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
      },
      'input "x" has no contents: send its elements in contents.fp32_contents, or every input in raw_input_contents',
    ],
    [
      'a negative dimension',
      {
        model_name: 'm',
        inputs: [typedInput('FP32', [-1, 4], 'fp32_contents', [1, 2, 3, 4])],
      },
      'input "x" shape must be an array of non-negative integers',
    ],
    [
      'an unknown input',
      {
        model_name: 'm',
        inputs: [
          typedInput('FP32', [1, 4], 'fp32_contents', [1, 2, 3, 4], 'w'),
        ],
      },
      'model "m" has no input "w" (inputs: x)',
    ],
    [
      'a missing input',
      { model_name: 'm', inputs: [] },
      'input "x" is missing (expected FP32 [-1,4])',
    ],
    [
      'an unknown output',
      typedInfer([[1, 2, 3, 4]], { outputs: [{ name: 'q' }] }),
      'model "m" has no output "q" (outputs: y)',
    ],
    [
      'an output asked for twice',
      typedInfer([[1, 2, 3, 4]], { outputs: [{ name: 'y' }, { name: 'y' }] }),
      'output "y" is requested more than once',
    ],
    [
      'a model id that is not valid',
      typedInfer([[1, 2, 3, 4]], { model_name: 'Not/Valid' }),
      "\"Not/Valid\" is not a valid model id (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters)",
    ],
  ])(
    'ModelInfer refuses %s with INVALID_ARGUMENT',
    async (_what, request, message) => {
      const e = await failure(client.call('ModelInfer', request));

      expect(e.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toBe(message);
    },
  );

  it('ModelInfer of an unknown model or version: NOT_FOUND', async () => {
    const model = await failure(
      client.call(
        'ModelInfer',
        typedInfer([[1, 2, 3, 4]], { model_name: 'nope' }),
      ),
    );
    const version = await failure(
      client.call(
        'ModelInfer',
        typedInfer([[1, 2, 3, 4]], { model_version: '9' }),
      ),
    );

    expect(model.code).toBe(status.NOT_FOUND);
    expect(version.code).toBe(status.NOT_FOUND);
  });

  it('counts each call in /metrics by method and status code', async () => {
    await client.call('ServerLive', {});
    await failure(
      client.call(
        'ModelInfer',
        typedInfer([[1, 2, 3, 4]], { model_name: 'nope' }),
      ),
    );
    const { samples } = parsePrometheusText(
      (await g.app.inject({ method: 'GET', url: '/metrics' })).body,
    );

    expect(
      sampleValue(samples, 'portfolio_grpc_requests_total', {
        method: 'ServerLive',
        code: 'OK',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'portfolio_grpc_requests_total', {
        method: 'ModelInfer',
        code: 'NOT_FOUND',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'portfolio_grpc_request_duration_seconds_count', {
        method: 'ModelInfer',
        code: 'NOT_FOUND',
      }),
    ).toBe(1);
  });

  it('refuses a message over gateway.body_limit with RESOURCE_EXHAUSTED, as REST answers 413', async () => {
    const rows = Array.from({ length: 300 }, () => [1, 2, 3, 4]);
    const e = await failure(client.call('ModelInfer', typedInfer(rows)));

    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('answers an unexpected error with INTERNAL "internal error", the cause kept out, the request id in the trailers', async () => {
    jest
      .spyOn(g.app.get(OpenInferenceService), 'modelMetadata')
      .mockRejectedValue(new Error('secret internals at /srv/app/main.js:12'));

    const e = await failure(
      client.call(
        'ModelMetadata',
        { name: 'm' },
        { 'x-request-id': 'req-0042' },
      ),
    );

    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).toBe('internal error');
    expect(JSON.stringify(e)).not.toContain('/srv/app');
    expect(trailer(e, 'x-request-id')).toBe('req-0042');
  });

  it('says UNAVAILABLE, with retry-after, when no runtime can take the model', async () => {
    g.runtimes['r1'].die();
    g.cacheManager.loadAt = 'nowhere';

    const e = await failure(
      client.call('ModelInfer', typedInfer([[1, 2, 3, 4]])),
    );

    expect(e.code).toBe(status.UNAVAILABLE);
    expect(trailer(e, 'retry-after')).toBe('1');
  });
});

/**
 * Every method and who may call it, as the REST route inventory (auth.spec.ts) does:
 * a method the .proto declares without a line in GRPC_ACCESS, or the other way round,
 * fails here.
 */
describe('gRPC API keys and scopes (auth.enabled)', () => {
  let g: GatewayWithPeers;
  let keys: FakeKeys;
  let client: OipClient;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    keys = new FakeKeys(g.peers);
    client = await grpcOf(g);
  });
  afterEach(async () => {
    client.close();
    await g.close();
  });

  const REQUESTS: Record<GrpcMethod, object> = {
    ServerLive: {},
    ServerReady: {},
    ServerMetadata: {},
    ModelMetadata: { name: 'm' },
    ModelReady: { name: 'm' },
    ModelInfer: typedInfer([[1, 2, 3, 4]]),
  };

  it('serves exactly the methods of the .proto, each with its access', () => {
    expect(Object.keys(oipServiceDefinition()).sort()).toEqual(
      Object.keys(GRPC_ACCESS).sort(),
    );
  });

  it.each(Object.entries(GRPC_ACCESS))(
    '%s (%s): refuses no key, an unknown key and a key without the scope; lets the scope in',
    async (method, access) => {
      const call = (metadata: Record<string, string> = {}) =>
        client
          .call(method, REQUESTS[method as GrpcMethod], metadata)
          .then(() => status.OK)
          .catch((e: ServiceError) => e);
      if (access === 'public') {
        expect(await call()).toBe(status.OK);
        return;
      }
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
      const none = await call();
      const unknown = await call(bearer('pf_not_a_key_of_ours'));
      const wrong = await call(bearer(keys.add([WRONG_SCOPE[access]])));
      const right = await call(bearer(keys.add([access])));
      const admin = await call({ 'x-api-key': ADMIN_KEY });

      const code = (r: ServiceError | status) =>
        typeof r === 'number' ? r : r.code;
      expect([none, unknown, wrong].map(code)).toEqual([
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.PERMISSION_DENIED,
      ]);
      expect((none as ServiceError).details).toBe(
        'this endpoint needs an API key: send the metadata "authorization: Bearer <key>" or "x-api-key: <key>"',
      );
      expect((wrong as ServiceError).details).toContain(
        `does not have the "${access}" scope`,
      );
      expect(code(right)).toBe(status.OK);
      expect(code(admin)).toBe(status.OK);
    },
  );

  it('applies the key rate limits: RESOURCE_EXHAUSTED with retry-after once the burst is spent', async () => {
    const key = keys.add(['read'], { requests_per_second: 0.01, burst: 2 });
    const md = { authorization: `Bearer ${key}` };

    await client.call('ServerMetadata', {}, md);
    await client.call('ServerMetadata', {}, md);
    const e = await failure(client.call('ServerMetadata', {}, md));

    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(e.details).toContain('is over its rate limit');
    expect(Number(trailer(e, 'retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

describe('gRPC with auth.enabled: false', () => {
  it('lets every call in without a key', async () => {
    const g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: false, adminKey: ADMIN_KEY },
    });
    const client = await grpcOf(g);
    try {
      expect(
        await client.call('ModelInfer', typedInfer([[1, 2, 3, 4]])),
      ).toMatchObject({ model_name: 'm' });
    } finally {
      client.close();
      await g.close();
    }
  });
});
