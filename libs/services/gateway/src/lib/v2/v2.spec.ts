import { Registry } from '@portfolio/contracts';

import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { JsonOffload } from '../http/json-offload';

/** Four little-endian FP32 values per row, as numpy's tobytes() writes them. */
function fp32Bytes(rows: number[][]): Buffer {
  return Buffer.from(new Float32Array(rows.flat()).buffer);
}

/**
 * The `/v2` routes through the real gateway, to fake peers on an in-process bus: model
 * `m` (versions 1 and 2) takes `x` FP32 [-1, 4]; its runtimes answer `y` FP32 [-1, 1],
 * the row sums.
 */
describe('Open Inference Protocol routes (/v2)', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 2 },
      nodes: ['r1'],
      settings: { bodyLimitBytes: 4096 },
    });
  });
  afterEach(() => g.close());

  const get = (url: string) => g.app.inject({ method: 'GET', url });

  it('GET /v2: server metadata naming the binary tensor data extension', async () => {
    const res = await get('/v2');

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      name: 'portfolio',
      version: '0.0.0',
      extensions: ['binary_tensor_data'],
    });
  });

  it('GET /v2/health/live answers 200', async () => {
    const res = await get('/v2/health/live');

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ live: true });
  });

  it('GET /v2/health/ready: 503 naming what is down, 200 once the registry answers and a runtime is alive', async () => {
    const before = await get('/v2/health/ready');
    expect(before.statusCode).toBe(503);
    expect(before.headers['retry-after']).toBe('1');
    expect(before.json()).toEqual({
      ready: false,
      error: 'not ready: the registry does not answer; no runtime is alive',
    });

    const ping = g.peers.serve(Registry.ping, () => ({
      service: 'model-registry',
      instance: 'fake',
      started_at: '2026-01-01T00:00:00.000Z',
    }));
    g.cacheManager.status = sampleStatus();
    try {
      const after = await get('/v2/health/ready');
      expect(after.statusCode).toBe(200);
      expect(after.json()).toEqual({ ready: true });
    } finally {
      ping.unsubscribe();
    }
  });

  it('GET /v2/models/{name}[/versions/{v}]: model metadata with the signature', async () => {
    const expected = {
      name: 'm',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
    };

    expect((await get('/v2/models/m')).json()).toEqual(expected);
    const v1 = await get('/v2/models/m/versions/1');
    expect(v1.statusCode).toBe(200);
    expect(v1.json()).toEqual(expected);
  });

  it('GET /v2/models/{name}[/versions/{v}]/ready: 200 for a servable version, 404 otherwise', async () => {
    expect((await get('/v2/models/m/ready')).statusCode).toBe(200);
    expect((await get('/v2/models/m/ready')).json()).toEqual({
      name: 'm',
      ready: true,
    });
    expect((await get('/v2/models/m/versions/2/ready')).statusCode).toBe(200);

    const missing = await get('/v2/models/m/versions/3/ready');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'model "m" has no version 3' });
  });

  it('refuses unknown models (404), versions (404), bad ids and versions (400) in the protocol shape', async () => {
    const unknown = await get('/v2/models/nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'model "nope" is not registered' });

    expect((await get('/v2/models/m/versions/9')).statusCode).toBe(404);

    const badId = await get('/v2/models/Bad!Id');
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error).toMatch(/^"Bad!Id" is not a valid model id/);

    const badVersion = await get('/v2/models/m/versions/latest');
    expect(badVersion.statusCode).toBe(400);
    expect(badVersion.json()).toEqual({
      error: 'version must be a positive integer, got "latest"',
    });
  });

  it('POST infer: a JSON request without Content-Type (as tritonclient sends it), id echoed, data flat', async () => {
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: JSON.stringify({
        id: 'abc',
        inputs: [
          {
            name: 'x',
            shape: [2, 4],
            datatype: 'FP32',
            data: [1, 2, 3, 4, 0.5, 0.5, 0, 0],
          },
        ],
      }),
    });

    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    expect(res.json()).toEqual({
      model_name: 'm',
      model_version: '2',
      id: 'abc',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 1], data: [10, 1] }],
    });
  });

  it('POST infer at a version, with nested data and application/json', async () => {
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/versions/1/infer',
      payload: {
        inputs: [
          { name: 'x', shape: [1, 4], datatype: 'FP32', data: [[1, 1, 1, 1]] },
        ],
      },
    });

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      model_name: 'm',
      model_version: '1',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: [4] }],
    });
  });

  it('POST infer with the binary extension both ways (application/octet-stream)', async () => {
    const json = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'x',
            shape: [2, 4],
            datatype: 'FP32',
            parameters: { binary_data_size: 32 },
          },
        ],
        outputs: [{ name: 'y', parameters: { binary_data: true } }],
      }),
    );
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(json.length),
      },
      payload: Buffer.concat([
        json,
        fp32Bytes([
          [1, 2, 3, 4],
          [2, 2, 2, 2],
        ]),
      ]),
    });

    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const headerLength = Number(res.headers['inference-header-content-length']);
    const body = res.rawPayload;
    expect(JSON.parse(body.subarray(0, headerLength).toString())).toEqual({
      model_name: 'm',
      model_version: '2',
      outputs: [
        {
          name: 'y',
          datatype: 'FP32',
          shape: [2, 1],
          parameters: { binary_data_size: 8 },
        },
      ],
    });
    const y = body.subarray(headerLength);
    expect([y.readFloatLE(0), y.readFloatLE(4)]).toEqual([10, 8]);
    expect(y.length).toBe(8);
  });

  it('POST infer: binary outputs for a JSON request asking binary_data_output', async () => {
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: {
        parameters: { binary_data_output: true },
        inputs: [
          { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 0, 0, 0] },
        ],
      },
    });

    expect(res.statusCode).toBe(200);
    const headerLength = Number(res.headers['inference-header-content-length']);
    expect(res.rawPayload.length).toBe(headerLength + 4);
    expect(res.rawPayload.readFloatLE(headerLength)).toBe(1);
  });

  it.each([
    [
      'a truncated binary body',
      { 'inference-header-content-length': 'HEADER' },
      'BINARY_TRUNCATED',
      /^input "x" binary_data_size 16 runs past the end of the body \(15 bytes/,
    ],
    [
      'a header length past the body',
      { 'inference-header-content-length': '100000' },
      'BINARY',
      /^Inference-Header-Content-Length is 100000, but the body has only/,
    ],
  ])(
    'refuses %s with 400 { "error" }',
    async (_what, headers, payload, message) => {
      const json = Buffer.from(
        JSON.stringify({
          inputs: [
            {
              name: 'x',
              shape: [1, 4],
              datatype: 'FP32',
              parameters: { binary_data_size: 16 },
            },
          ],
        }),
      );
      const raw = fp32Bytes([[1, 2, 3, 4]]);
      const res = await g.app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        headers: {
          'content-type': 'application/octet-stream',
          ...Object.fromEntries(
            Object.entries(headers).map(([k, v]) => [
              k,
              v === 'HEADER' ? String(json.length) : v,
            ]),
          ),
        },
        payload: Buffer.concat([
          json,
          payload === 'BINARY_TRUNCATED' ? raw.subarray(0, 15) : raw,
        ]),
      });

      expect(res.statusCode).toBe(400);
      expect(Object.keys(res.json())).toEqual(['error']);
      expect(res.json().error).toMatch(message);
    },
  );

  it('POST infer: a large JSON request parsed and its answer written off the event loop, as inline', async () => {
    const big = await startInProcess({
      models: { m: 2 },
      nodes: ['r1'],
      settings: { bodyLimitBytes: 8 * 1024 * 1024 },
    });
    try {
      big.cacheManager.place('m', 2, ['r1']);
      const offload = big.app.get(JsonOffload);
      const parsed = jest.spyOn(offload, 'parse');
      const written = jest.spyOn(offload, 'stringify');
      // 200,000 rows: 2.4 MB of JSON in, 200,000 numbers out (over both thresholds).
      const rows = 200_000;
      const data = Array.from({ length: rows * 4 }, (_, i) => (i % 4) + 0.25);
      const infer = (payload: string | Buffer) =>
        big.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload });
      const request = JSON.stringify({
        id: 'big',
        inputs: [{ name: 'x', shape: [rows, 4], datatype: 'FP32', data }],
      });

      const res = await infer(request);
      const malformed = await infer(request.slice(0, -3));
      const notUtf8 = await infer(
        Buffer.concat([
          Buffer.from(request.slice(0, -3)),
          Buffer.from([0xff]),
          Buffer.from(']}]}'),
        ]),
      );

      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(
        'application/json; charset=utf-8',
      );
      const body = res.json();
      expect(body).toMatchObject({
        model_name: 'm',
        model_version: '2',
        id: 'big',
      });
      expect(body.outputs[0]).toMatchObject({ name: 'y', shape: [rows, 1] });
      expect(body.outputs[0].data).toHaveLength(rows);
      expect(body.outputs[0].data[rows - 1]).toBe(7);
      expect(parsed).toHaveBeenCalledTimes(3);
      expect(written).toHaveBeenCalledTimes(1);
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().error).toMatch(
        /^the inference request is not valid JSON: /,
      );
      expect(notUtf8.statusCode).toBe(400);
      expect(notUtf8.json().error).toMatch(
        /^the inference request is not valid JSON: /,
      );
    } finally {
      await big.close();
    }
  });

  it('refuses a wrong shape with 400 naming the input, expected and got', async () => {
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: {
        inputs: [
          { name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        ],
      },
    });

    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'input "x": expected shape [-1, 4], got [1, 3]',
    });
  });

  it('refuses a body over the configured limit with 413 in the protocol shape', async () => {
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(5000),
    });

    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      error: 'the request body is larger than the limit of 4096 bytes',
    });
  });

  it('answers 503 with Retry-After when no runtime serves the model', async () => {
    g.cacheManager.loadAt = 'gone';
    const res = await g.app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: {
        inputs: [
          { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
        ],
      },
    });

    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(Object.keys(res.json())).toEqual(['error']);
  });

  it('leaves the /v1 error shape as it is', async () => {
    const res = await get('/v1/models/nope/metadata');

    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });
});
