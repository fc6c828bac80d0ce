import * as ort from 'onnxruntime-node';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  AppProcess,
  buildGenericModel,
  buildMixedTypesModel,
  buildMlpModel,
  ElemType,
  freePort,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { expectClose, runDirectly } from './prediction-flow.testing';

import { keyHeader, useKey } from './http.testing';

const ADMIN_KEY = 'oip-admin-key-0123456789';

/** Every datatype of the protocol, each input `i_<dt>` [-1, 2] returned as `o_<dt>` by Identity. */
const TYPES = [
  ['BOOL', ElemType.BOOL],
  ['UINT8', ElemType.UINT8],
  ['UINT16', 4],
  ['UINT32', 12],
  ['UINT64', 13],
  ['INT8', ElemType.INT8],
  ['INT16', 5],
  ['INT32', ElemType.INT32],
  ['INT64', ElemType.INT64],
  ['FP16', ElemType.FLOAT16],
  ['FP32', ElemType.FLOAT],
  ['FP64', ElemType.DOUBLE],
  ['BYTES', ElemType.STRING],
] as const;

function buildEveryTypeModel(): Uint8Array {
  const lower = (dt: string) => dt.toLowerCase();
  return buildGenericModel({
    inputs: TYPES.map(([dt, elemType]) => ({
      name: `i_${lower(dt)}`,
      elemType,
      shape: [-1, 2],
    })),
    outputs: TYPES.map(([dt, elemType]) => ({
      name: `o_${lower(dt)}`,
      elemType,
      shape: [-1, 2],
    })),
    nodes: TYPES.map(([dt]) => ({
      opType: 'Identity',
      inputs: [`i_${lower(dt)}`],
      outputs: [`o_${lower(dt)}`],
    })),
  });
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with exactly these headers and bytes (fetch would add a Content-Type). */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      headers: {
        // The client's own headers, plus the key a deployment asks of it.
        ...keyHeader(url),
        ...headers,
        ...(body ? { 'Content-Length': String(body.length) } : {}),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface ResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size: number };
}

/**
 * A response read the way tritonclient's InferResult and kserve's InferResponse read
 * it: the JSON is the first Inference-Header-Content-Length bytes (the whole body
 * without it); binary outputs follow in output order.
 */
function readResponse(res: Raw): {
  json: {
    model_name: string;
    model_version: string;
    id?: string;
    outputs: ResponseOutput[];
  };
  binary: Record<string, Buffer>;
} {
  const header = res.headers['inference-header-content-length'];
  const jsonLength = header === undefined ? res.body.length : Number(header);
  const json = JSON.parse(res.body.subarray(0, jsonLength).toString('utf8'));
  const binary: Record<string, Buffer> = {};
  let at = jsonLength;
  for (const o of json.outputs as ResponseOutput[]) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary[o.name] = res.body.subarray(at, at + size);
    at += size;
  }
  expect(at).toBe(res.body.length);
  return { json, binary };
}

const f32 = (b: Buffer) =>
  Array.from(new Float32Array(new Uint8Array(b).buffer));

/** Triton's serialize_byte_tensor: per element a uint32 LE length, then the bytes. */
function serializeBytes(items: string[]): Buffer {
  return Buffer.concat(
    items.map((s) => {
      const b = Buffer.from(s, 'utf8');
      const n = Buffer.alloc(4);
      n.writeUInt32LE(b.length);
      return Buffer.concat([n, b]);
    }),
  );
}

/**
 * The Open Inference Protocol (`/v2`) of the standalone app, spoken as Triton's and
 * KServe's Python clients speak it (their JSON spacing, headers and byte layouts
 * reproduced here), and with the protocol's own JSON examples, against real ONNX
 * models run by ONNX Runtime.
 */
describe('Open Inference Protocol (standalone app)', () => {
  const dataDir = makeTempDir('oip-data');
  const modelDir = makeTempDir('oip-models');
  const mlpPath = writeModel(
    modelDir,
    'mlp.onnx',
    buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3, seed: 11 }),
  );
  writeModel(modelDir, 'mixed.onnx', buildMixedTypesModel());
  writeModel(modelDir, 'types.onnx', buildEveryTypeModel());
  let app: AppProcess;
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    const config = join(modelDir, 'portfolio.yaml');
    // The three models registered from the configuration; the port from the environment.
    const models = ['mlp', 'mixed', 'types'].map(
      (id) => `  ${id}: { path: ./${id}.onnx, type: onnx }`,
    );
    writeFileSync(config, ['models:', ...models, ''].join('\n'));
    app = new AppProcess({
      name: 'portfolio-oip',
      app: 'portfolio',
      args: ['--config', config],
      env: {
        PORTFOLIO_DATA_DIR: dataDir,
        PORTFOLIO_GATEWAY_HOST: '127.0.0.1',
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
        MALLOC_MMAP_THRESHOLD_: '131072',
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('answers server metadata, liveness and readiness', async () => {
    const meta = await send(`${url}/v2`, 'GET', {});
    expect(meta.status).toBe(200);
    expect(JSON.parse(meta.body.toString())).toMatchObject({
      name: 'portfolio',
      extensions: ['binary_tensor_data'],
    });
    expect((await send(`${url}/v2/health/live`, 'GET', {})).status).toBe(200);
    await eventually('the server ready', async () =>
      (await send(`${url}/v2/health/ready`, 'GET', {})).status === 200
        ? true
        : null,
    );
  });

  it('answers model metadata and readiness with the models own signature', async () => {
    const res = await send(`${url}/v2/models/mixed`, 'GET', {});
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({
      name: 'mixed',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 3] },
        { name: 'b', datatype: 'INT64', shape: [-1, 3] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 3] },
        { name: 'argmax', datatype: 'INT64', shape: [-1] },
      ],
    });
    expect(
      (await send(`${url}/v2/models/mixed/versions/1/ready`, 'GET', {})).status,
    ).toBe(200);
    const missing = await send(
      `${url}/v2/models/mixed/versions/2/ready`,
      'GET',
      {},
    );
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString())).toEqual({
      error: 'model "mixed" has no version 2',
    });
  });

  it("tritonclient.http, binary inputs and outputs: the MLP's outputs as ONNX Runtime computes them", async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.2, 2.9, 4.3, 1.3],
    ];
    const x = Buffer.from(new Float32Array(rows.flat()).buffer);
    // json.dumps of _get_inference_request, InferRequestedOutput('y') defaulting to binary.
    const header =
      '{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}], ' +
      '"outputs": [{"name": "y", "parameters": {"binary_data": true}}]}';
    const res = await send(
      `${url}/v2/models/mlp/infer`,
      'POST',
      { 'Inference-Header-Content-Length': String(Buffer.byteLength(header)) },
      Buffer.concat([Buffer.from(header), x]),
    );

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { json, binary } = readResponse(res);
    expect(json).toMatchObject({ model_name: 'mlp', model_version: '1' });
    expect(json.outputs).toEqual([
      {
        name: 'y',
        datatype: 'FP32',
        shape: [2, 3],
        parameters: { binary_data_size: 24 },
      },
    ]);
    const direct = await runDirectly(mlpPath, {
      x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [2, 4]),
    });
    expectClose(f32(binary['y']), direct['y'].data as Float32Array);
  });

  it('tritonclient.http, JSON only with outputs left out (binary_data_output on the request) and a version', async () => {
    const header =
      '{"id": "7", "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], ' +
      '"parameters": {"binary_data_output": true}}';
    const res = await send(
      `${url}/v2/models/mlp/versions/1/infer`,
      'POST',
      {},
      Buffer.from(header),
    );

    expect(res.status).toBe(200);
    const { json, binary } = readResponse(res);
    expect(json.id).toBe('7');
    expect(json.outputs[0].parameters).toEqual({ binary_data_size: 12 });
    const direct = await runDirectly(mlpPath, {
      x: new ort.Tensor(
        'float32',
        Float32Array.from([5.1, 3.5, 1.4, 0.2]),
        [1, 4],
      ),
    });
    expectClose(f32(binary['y']), direct['y'].data as Float32Array);
  });

  it('kserve InferenceRESTClient, binary inputs (orjson, application/octet-stream): inputs of two types, outputs of two types', async () => {
    const a = new Float32Array([1, 2, 3, -1, 0.5, 0]);
    const b = new BigInt64Array([0n, 0n, 1n, 4n, 0n, 0n]);
    const header =
      '{"id":"0b7a3c5e-6a43-4f1e-9d0e-4b2b5d1f2c11","model_name":"mixed","inputs":[' +
      '{"name":"a","shape":[2,3],"datatype":"FP32","parameters":{"binary_data_size":24}},' +
      '{"name":"b","shape":[2,3],"datatype":"INT64","parameters":{"binary_data_size":48}}]}';
    const res = await send(
      `${url}/v2/models/mixed/infer`,
      'POST',
      {
        'inference-header-content-length': String(Buffer.byteLength(header)),
        'content-type': 'application/octet-stream',
      },
      Buffer.concat([
        Buffer.from(header),
        Buffer.from(a.buffer),
        Buffer.from(b.buffer),
      ]),
    );

    expect(res.status).toBe(200);
    // No binary output was asked for: a JSON response, as kserve's client expects then.
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const { json } = readResponse(res);
    expect(json).toEqual({
      model_name: 'mixed',
      model_version: '1',
      id: '0b7a3c5e-6a43-4f1e-9d0e-4b2b5d1f2c11',
      outputs: [
        {
          name: 'sum',
          datatype: 'FP32',
          shape: [2, 3],
          data: [1, 2, 4, 3, 0.5, 0],
        },
        { name: 'argmax', datatype: 'INT64', shape: [2], data: [2, 0] },
      ],
    });
  });

  it('kserve InferenceRESTClient, JSON (orjson, no Content-Type), asking one output', async () => {
    const body =
      '{"id":"k-2","model_name":"mixed","inputs":[' +
      '{"name":"a","shape":[1,3],"datatype":"FP32","data":[0.0,0.0,1.5]},' +
      '{"name":"b","shape":[1,3],"datatype":"INT64","data":[3,0,0]}],' +
      '"outputs":[{"name":"argmax"}]}';
    const res = await send(
      `${url}/v2/models/mixed/infer`,
      'POST',
      {},
      Buffer.from(body),
    );

    expect(res.status).toBe(200);
    expect(readResponse(res).json.outputs).toEqual([
      { name: 'argmax', datatype: 'INT64', shape: [1], data: [0] },
    ]);
  });

  it('every datatype through ONNX Runtime: JSON in (as the protocol writes it), binary out', async () => {
    const json: Record<string, unknown[]> = {
      BOOL: [
        [true, false],
        [false, true],
      ],
      UINT8: [
        [0, 255],
        [1, 2],
      ],
      UINT16: [
        [0, 65535],
        [1, 2],
      ],
      UINT32: [
        [0, 4294967295],
        [1, 2],
      ],
      UINT64: [
        [0, 9007199254740991],
        [1, 2],
      ],
      INT8: [
        [-128, 127],
        [-1, 0],
      ],
      INT16: [
        [-32768, 32767],
        [-1, 0],
      ],
      INT32: [
        [-2147483648, 2147483647],
        [-1, 0],
      ],
      INT64: [
        [-9007199254740991, 9007199254740991],
        [-1, 0],
      ],
      FP16: [
        [0.5, -2],
        [1024, 0.25],
      ],
      FP32: [
        [0.5, -2.25],
        [1e30, 0],
      ],
      FP64: [
        [Math.PI, -1e300],
        [5e-324, 0],
      ],
      BYTES: [
        ['ab', ''],
        ['é', '☃'],
      ],
    };
    // Spaced out like the protocol's published examples ("shape" : [ 2, 2 ], nested data).
    const header = JSON.stringify(
      {
        id: '42',
        inputs: TYPES.map(([dt]) => ({
          name: `i_${dt.toLowerCase()}`,
          shape: [2, 2],
          datatype: dt,
          data: json[dt],
        })),
        parameters: { binary_data_output: true },
      },
      null,
      2,
    );
    const res = await send(
      `${url}/v2/models/types/infer`,
      'POST',
      { 'Content-Type': 'application/json' },
      Buffer.from(header),
    );

    expect(res.status).toBe(200);
    const { json: out, binary } = readResponse(res);
    expect(out.id).toBe('42');
    expect(out.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual(
      TYPES.map(([dt]) => [`o_${dt.toLowerCase()}`, dt, [2, 2]]),
    );
    const raw = (dt: string) => binary[`o_${dt.toLowerCase()}`];
    expect([...raw('BOOL')]).toEqual([1, 0, 0, 1]);
    expect([...raw('UINT8')]).toEqual([0, 255, 1, 2]);
    expect(raw('UINT16').readUInt16LE(2)).toBe(65535);
    expect(raw('UINT32').readUInt32LE(4)).toBe(4294967295);
    expect(raw('UINT64').readBigUInt64LE(8)).toBe(9007199254740991n);
    expect(raw('INT8').readInt8(0)).toBe(-128);
    expect(raw('INT16').readInt16LE(0)).toBe(-32768);
    expect(raw('INT32').readInt32LE(0)).toBe(-2147483648);
    expect(raw('INT64').readBigInt64LE(0)).toBe(-9007199254740991n);
    expect([...raw('FP16')]).toEqual([
      0x00, 0x38, 0x00, 0xc0, 0x00, 0x64, 0x00, 0x34,
    ]);
    expect(raw('FP32').readFloatLE(4)).toBe(-2.25);
    expect(raw('FP64').readDoubleLE(0)).toBe(Math.PI);
    expect(raw('BYTES')).toEqual(serializeBytes(['ab', '', 'é', '☃']));
  });

  it('every datatype through ONNX Runtime: binary in (as tritonclient serializes numpy arrays), JSON out', async () => {
    const raws: Record<string, Buffer> = {
      BOOL: Buffer.from([1, 1, 0, 1]),
      UINT8: Buffer.from([9, 8, 7, 6]),
      UINT16: Buffer.from(new Uint16Array([1, 2, 3, 60000]).buffer),
      UINT32: Buffer.from(new Uint32Array([1, 2, 3, 4e9]).buffer),
      UINT64: Buffer.from(new BigUint64Array([1n, 2n, 3n, 4n]).buffer),
      INT8: Buffer.from(new Int8Array([-1, -2, 3, 4]).buffer),
      INT16: Buffer.from(new Int16Array([-1, -2, 3, 4]).buffer),
      INT32: Buffer.from(new Int32Array([-1, -2, 3, 4]).buffer),
      INT64: Buffer.from(new BigInt64Array([-1n, -2n, 3n, 4n]).buffer),
      // 1, -1, 0.5, 65504 as IEEE half bits.
      FP16: Buffer.from(
        new Uint16Array([0x3c00, 0xbc00, 0x3800, 0x7bff]).buffer,
      ),
      FP32: Buffer.from(new Float32Array([1.5, -1.5, 0, 8]).buffer),
      FP64: Buffer.from(new Float64Array([0.1, 0.2, 0.3, 0.4]).buffer),
      BYTES: serializeBytes(['x', 'yy', '', 'zzz']),
    };
    const inputs = TYPES.map(
      ([dt]) =>
        `{"name": "i_${dt.toLowerCase()}", "shape": [2, 2], "datatype": "${dt}", "parameters": {"binary_data_size": ${raws[dt].length}}}`,
    );
    const outputs = TYPES.map(
      ([dt]) =>
        `{"name": "o_${dt.toLowerCase()}", "parameters": {"binary_data": false}}`,
    );
    const header = `{"inputs": [${inputs.join(', ')}], "outputs": [${outputs.join(', ')}]}`;
    const res = await send(
      `${url}/v2/models/types/infer`,
      'POST',
      { 'Inference-Header-Content-Length': String(Buffer.byteLength(header)) },
      Buffer.concat([Buffer.from(header), ...TYPES.map(([dt]) => raws[dt])]),
    );

    expect(res.status).toBe(200);
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    const data = Object.fromEntries(
      readResponse(res).json.outputs.map((o) => [o.datatype, o.data]),
    );
    expect(data).toEqual({
      BOOL: [true, true, false, true],
      UINT8: [9, 8, 7, 6],
      UINT16: [1, 2, 3, 60000],
      UINT32: [1, 2, 3, 4e9],
      UINT64: [1, 2, 3, 4],
      INT8: [-1, -2, 3, 4],
      INT16: [-1, -2, 3, 4],
      INT32: [-1, -2, 3, 4],
      INT64: [-1, -2, 3, 4],
      FP16: [1, -1, 0.5, 65504],
      FP32: [1.5, -1.5, 0, 8],
      FP64: [0.1, 0.2, 0.3, 0.4],
      BYTES: ['x', 'yy', '', 'zzz'],
    });
  });

  it('refuses bad requests with the status the protocol expects and { "error" }, never a server path', async () => {
    const x = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const header =
      '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}';
    const cases: [string, Record<string, string>, Buffer, number, RegExp][] = [
      [
        '/v2/models/mlp/infer',
        { 'Inference-Header-Content-Length': String(header.length) },
        Buffer.concat([Buffer.from(header), x.subarray(0, 10)]),
        400,
        /^input "x" binary_data_size 16 runs past the end of the body/,
      ],
      [
        '/v2/models/mlp/infer',
        {},
        Buffer.from(
          '{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}',
        ),
        400,
        /^input "x": expected shape \[-1, 4\], got \[1, 3\]$/,
      ],
      [
        '/v2/models/nope/infer',
        {},
        Buffer.from('{"inputs": []}'),
        404,
        /^model "nope" is not registered$/,
      ],
      [
        '/v2/models/mlp/versions/5/infer',
        {},
        Buffer.from('{"inputs": []}'),
        404,
        /^model "mlp" has no version 5$/,
      ],
    ];
    for (const [path, headers, body, status, message] of cases) {
      const res = await send(`${url}${path}`, 'POST', headers, body);
      expect(res.status).toBe(status);
      const parsed = JSON.parse(res.body.toString());
      expect(Object.keys(parsed)).toEqual(['error']);
      expect(parsed.error).toMatch(message);
      expect(res.body.toString()).not.toContain(dataDir);
    }
  });
});
