import {
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceClientConstructor,
  ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
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
import { http, useKey } from './http.testing';

const ADMIN_KEY = 'grpc-admin-key-0123456789';

/**
 * The .proto the built app ships beside main.js: what an operator hands to a client.
 * Loaded as stock clients load it (field names as written, 64-bit integers as strings).
 */
const PROTO = join(
  __dirname,
  '../../../dist/apps/portfolio/grpc_predict_v2.proto',
);

/** Every datatype but FP16 (typed contents), each `i_<dt>` [-1, 2] returned by Identity. */
const TYPES = [
  ['BOOL', ElemType.BOOL, 'bool_contents', [true, false, false, true]],
  ['UINT8', ElemType.UINT8, 'uint_contents', [0, 255, 7, 1]],
  ['UINT16', 4, 'uint_contents', [0, 65535, 7, 1]],
  ['UINT32', 12, 'uint_contents', [0, 4294967295, 7, 1]],
  ['UINT64', 13, 'uint64_contents', ['0', '18446744073709551615', '7', '1']],
  ['INT8', ElemType.INT8, 'int_contents', [-128, 127, 0, 1]],
  ['INT16', 5, 'int_contents', [-32768, 32767, 0, 1]],
  ['INT32', ElemType.INT32, 'int_contents', [-2147483648, 2147483647, 0, 1]],
  [
    'INT64',
    ElemType.INT64,
    'int64_contents',
    ['-9223372036854775808', '9223372036854775807', '0', '1'],
  ],
  ['FP16', ElemType.FLOAT16, null, null],
  ['FP32', ElemType.FLOAT, 'fp32_contents', [1.5, -2.25, 0, 1024.5]],
  ['FP64', ElemType.DOUBLE, 'fp64_contents', [Math.PI, -1e300, 0, 1]],
  ['BYTES', ElemType.STRING, 'bytes_contents', ['héllo', '', 'a', 'b']],
] as const;

const TYPED = TYPES.filter(([dt]) => dt !== 'FP16');

const lower = (dt: string) => dt.toLowerCase();

/** Identity for each of `types`: `i_<dt>` [-1, 2] in, `o_<dt>` out. */
function buildIdentityModel(
  types: readonly (typeof TYPES)[number][],
): Uint8Array {
  return buildGenericModel({
    inputs: types.map(([dt, elemType]) => ({
      name: `i_${lower(dt)}`,
      elemType,
      shape: [-1, 2],
    })),
    outputs: types.map(([dt, elemType]) => ({
      name: `o_${lower(dt)}`,
      elemType,
      shape: [-1, 2],
    })),
    nodes: types.map(([dt]) => ({
      opType: 'Identity',
      inputs: [`i_${lower(dt)}`],
      outputs: [`o_${lower(dt)}`],
    })),
  });
}

type Reply = Record<string, unknown> & {
  outputs: {
    name: string;
    datatype: string;
    shape: string[];
    contents: Record<string, unknown[]> | null;
  }[];
  raw_output_contents: Buffer[];
};

/**
 * The standalone app's gRPC port, called by a stock @grpc/grpc-js client made from the
 * shipped .proto, against real ONNX models; answers compared with what REST `/v2`
 * answers for the same inputs.
 */
describe('Open Inference Protocol over gRPC (standalone app)', () => {
  const dataDir = makeTempDir('grpc-data');
  const modelDir = makeTempDir('grpc-models');
  writeModel(
    modelDir,
    'mlp.onnx',
    buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3, seed: 11 }),
  );
  writeModel(modelDir, 'mixed.onnx', buildMixedTypesModel());
  // Every datatype (FP16 makes the request raw), and every one with a typed field.
  writeModel(modelDir, 'types.onnx', buildIdentityModel(TYPES));
  writeModel(modelDir, 'typed.onnx', buildIdentityModel(TYPED));
  let app: AppProcess;
  let url = '';
  let client: InstanceType<ServiceClientConstructor>;

  const call = (
    method: string,
    request: object,
    key: string | null = ADMIN_KEY,
  ): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const metadata = new Metadata();
      if (key) metadata.set('authorization', `Bearer ${key}`);
      (
        client[method] as (
          r: object,
          m: Metadata,
          cb: (e: ServiceError | null, res: Reply) => void,
        ) => void
      ).call(client, request, metadata, (e, res) =>
        e ? reject(e) : resolve(res),
      );
    });

  beforeAll(async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const config = join(modelDir, 'portfolio.yaml');
    const models = ['mlp', 'mixed', 'types', 'typed'].map(
      (id) => `  ${id}: { path: ./${id}.onnx, type: onnx }`,
    );
    writeFileSync(config, ['models:', ...models, ''].join('\n'));
    app = new AppProcess({
      name: 'portfolio-grpc',
      app: 'portfolio',
      args: ['--config', config],
      env: {
        PORTFOLIO_DATA_DIR: dataDir,
        PORTFOLIO_GATEWAY_HOST: '127.0.0.1',
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_GATEWAY_GRPC_PORT: String(grpcPort),
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
        MALLOC_MMAP_THRESHOLD_: '131072',
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
    const pkg = loadPackageDefinition(
      loadSync(PROTO, {
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      }),
    ) as unknown as {
      inference: { GRPCInferenceService: ServiceClientConstructor };
    };
    client = new pkg.inference.GRPCInferenceService(
      `127.0.0.1:${grpcPort}`,
      credentials.createInsecure(),
    );
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await app?.stop();
  });

  it('answers liveness, readiness and metadata, and refuses a call without a key', async () => {
    expect(await call('ServerLive', {}, null)).toEqual({ live: true });
    await eventually('the server ready', async () =>
      (await call('ServerReady', {}, null)).ready ? true : null,
    );
    expect(await call('ModelMetadata', { name: 'mixed' })).toMatchObject({
      name: 'mixed',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: ['-1', '3'] },
        { name: 'b', datatype: 'INT64', shape: ['-1', '3'] },
      ],
    });
    expect(await call('ModelReady', { name: 'mlp', version: '1' })).toEqual({
      ready: true,
    });
    const refused = await call('ModelMetadata', { name: 'mlp' }, null).catch(
      (e: ServiceError) => e,
    );
    expect((refused as ServiceError).code).toBe(status.UNAUTHENTICATED);
  });

  it('MLP: typed and raw contents give what REST gives for the same rows', async () => {
    const rows = [5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3];
    const rest = await http<{ outputs: { data: number[] }[] }>(
      `${url}/v2/models/mlp/infer`,
      {
        json: {
          inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: rows }],
        },
      },
    );
    expect(rest.status).toBe(200);

    const typed = await call('ModelInfer', {
      model_name: 'mlp',
      id: 'g-1',
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: [2, 4],
          contents: { fp32_contents: rows },
        },
      ],
    });
    const raw = await call('ModelInfer', {
      model_name: 'mlp',
      model_version: '1',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4] }],
      raw_input_contents: [Buffer.from(new Float32Array(rows).buffer)],
    });

    expect(typed).toMatchObject({
      model_name: 'mlp',
      model_version: '1',
      id: 'g-1',
    });
    expect(typed.outputs[0]).toMatchObject({
      name: 'y',
      datatype: 'FP32',
      shape: ['2', '3'],
    });
    expect(typed.outputs[0].contents?.['fp32_contents']).toEqual(
      rest.body.outputs[0].data,
    );
    const y = raw.raw_output_contents[0];
    expect(Array.from(new Float32Array(new Uint8Array(y).buffer))).toEqual(
      rest.body.outputs[0].data,
    );
  });

  it('mixed types: INT64 in int64_contents, one output selected', async () => {
    const res = await call('ModelInfer', {
      model_name: 'mixed',
      inputs: [
        {
          name: 'a',
          datatype: 'FP32',
          shape: [2, 3],
          contents: { fp32_contents: [1, 2, 3, -1, 0.5, 0] },
        },
        {
          name: 'b',
          datatype: 'INT64',
          shape: [2, 3],
          contents: { int64_contents: ['0', '0', '1', '4', '0', '0'] },
        },
      ],
      outputs: [{ name: 'argmax' }],
    });

    expect(res.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['argmax', 'INT64', ['2']],
    ]);
    expect(res.outputs[0].contents?.['int64_contents']).toEqual(['2', '0']);
  });

  it('every datatype as raw contents, FP16 included: the Identity outputs byte for byte', async () => {
    const raws = TYPES.map(([dt, , , values]) => rawOf(dt, values));
    const res = await call('ModelInfer', {
      model_name: 'types',
      inputs: TYPES.map(([dt]) => ({
        name: `i_${lower(dt)}`,
        datatype: dt,
        shape: [2, 2],
      })),
      raw_input_contents: raws,
    });

    expect(res.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual(
      TYPES.map(([dt]) => [`o_${lower(dt)}`, dt, ['2', '2']]),
    );
    expect(res.raw_output_contents.map((b) => Buffer.from(b))).toEqual(raws);
  });

  it('every datatype with a typed field: the outputs in their fields, as REST answers the same inputs', async () => {
    const res = await call('ModelInfer', {
      model_name: 'typed',
      inputs: TYPED.map(([dt, , field, values]) => ({
        name: `i_${lower(dt)}`,
        datatype: dt,
        shape: [2, 2],
        contents: {
          [field as string]:
            dt === 'BYTES'
              ? (values as readonly string[]).map((v) => Buffer.from(v))
              : values,
        },
      })),
    });
    const rest = await http<{ outputs: { name: string; data: unknown[] }[] }>(
      `${url}/v2/models/typed/infer`,
      {
        json: {
          inputs: TYPED.map(([dt, , , values]) => ({
            name: `i_${lower(dt)}`,
            datatype: dt,
            shape: [2, 2],
            data: restData(dt, values),
          })),
        },
      },
    );
    expect(rest.status).toBe(200);
    expect(res.raw_output_contents).toEqual([]);

    for (const [dt, , field, values] of TYPED) {
      const name = `o_${lower(dt)}`;
      const out = res.outputs.find((o) => o.name === name);
      const got = out?.contents?.[field as string] ?? [];
      expect([name, out?.datatype, out?.shape]).toEqual([name, dt, ['2', '2']]);
      expect([
        name,
        got.map((v) => (Buffer.isBuffer(v) ? v.toString() : v)),
      ]).toEqual([name, [...(values ?? [])]]);
      const restOut = rest.body.outputs.find((o) => o.name === name);
      // REST answers 64-bit integers as JSON numbers (exact up to 2^53); gRPC exactly.
      expect([name, restOut?.data]).toEqual([
        name,
        dt === 'INT64' || dt === 'UINT64'
          ? (values as readonly string[]).map(Number)
          : restData(dt, values),
      ]);
    }
  });
});

/** REST's JSON form of the sample values (64-bit integers as numbers or strings). */
function restData(dt: string, values: readonly unknown[] | null): unknown[] {
  if (!values) return [];
  if (dt === 'INT64' || dt === 'UINT64')
    return values.map((v) => {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : String(v);
    });
  return [...values];
}

/** The raw little-endian bytes of the sample values, as numpy's tobytes() makes them. */
function rawOf(dt: string, values: readonly unknown[] | null): Buffer {
  switch (dt) {
    case 'BOOL':
      return Buffer.from((values as boolean[]).map((b) => (b ? 1 : 0)));
    case 'UINT8':
      return Buffer.from(Uint8Array.from(values as number[]));
    case 'UINT16':
      return Buffer.from(Uint16Array.from(values as number[]).buffer);
    case 'UINT32':
      return Buffer.from(Uint32Array.from(values as number[]).buffer);
    case 'UINT64':
      return Buffer.from(
        BigUint64Array.from((values as string[]).map(BigInt)).buffer,
      );
    case 'INT8':
      return Buffer.from(Int8Array.from(values as number[]).buffer);
    case 'INT16':
      return Buffer.from(Int16Array.from(values as number[]).buffer);
    case 'INT32':
      return Buffer.from(Int32Array.from(values as number[]).buffer);
    case 'INT64':
      return Buffer.from(
        BigInt64Array.from((values as string[]).map(BigInt)).buffer,
      );
    case 'FP16':
      // 1.5, -2, 0, 1 as IEEE half bits.
      return Buffer.from(Uint16Array.from([0x3e00, 0xc000, 0, 0x3c00]).buffer);
    case 'FP32':
      return Buffer.from(Float32Array.from(values as number[]).buffer);
    case 'FP64':
      return Buffer.from(Float64Array.from(values as number[]).buffer);
    default:
      return Buffer.concat(
        (values as string[]).map((s) => {
          const b = Buffer.from(s, 'utf8');
          const n = Buffer.alloc(4);
          n.writeUInt32LE(b.length);
          return Buffer.concat([n, b]);
        }),
      );
  }
}
