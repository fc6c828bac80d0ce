import { readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

import {
  AppProcess,
  buildGenericModel,
  buildMlpModel,
  ElemType,
  PortfolioCluster,
  startThrowawayPostgres,
  ThrowawayPostgres,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { ErrorBody, http, HttpResult, useKey } from './http.testing';

const ADMIN_KEY = 'hygiene-admin-key-0123456789';
const RUNTIME = 'runtime-h';

/** Passes ingest (a well-formed ModelProto) but ONNX Runtime has no such operator. */
const UNKNOWN_OP_MODEL = buildGenericModel({
  inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: [1] }],
  outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [1] }],
  nodes: [{ opType: 'NoSuchOp', inputs: ['x'], outputs: ['y'] }],
});

/** Output shape taken from the input: valid for small shapes, impossible for huge ones. */
const CONSTANT_OF_SHAPE_MODEL = buildGenericModel({
  inputs: [{ name: 's', elemType: ElemType.INT64, shape: [2] }],
  outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [-1, -1] }],
  nodes: [{ opType: 'ConstantOfShape', inputs: ['s'], outputs: ['y'] }],
});

const MLP = buildMlpModel({
  inputSize: 3,
  hidden: [4],
  outputSize: 2,
  seed: 9,
});

/** Every file under `dir`, as absolute paths. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/**
 * What clients receive about failures deep in the cluster: a sentence about their model
 * or request, never the server's paths, hosts or source files; operators find the whole
 * story in the logs, under the same request id. One distributed cluster on a PostgreSQL
 * of its own, which one test halts and resumes.
 */
describe('error hygiene', () => {
  let pg: ThrowawayPostgres;
  let cluster: PortfolioCluster;
  let artifactsRoot: string;

  /** Absolute paths of this machine, C/C++ source locations, the database's address. */
  function expectNothingOfTheServer(value: unknown): void {
    const text = JSON.stringify(value);
    expect(text).not.toContain(artifactsRoot);
    expect(text).not.toContain(tmpdir());
    expect(text).not.toMatch(/(?<![\w:.])\/(?:[\w.-]+\/)+[\w.-]+/);
    expect(text).not.toMatch(/\.(cc|cpp|h|hpp):\d+/);
    expect(text).not.toContain('onnxruntime::');
    expect(text).not.toContain(String(pg.port));
    expect(text).not.toContain('ECONNREFUSED');
  }

  async function register(id: string, bytes: Uint8Array): Promise<void> {
    const created = await http(`${cluster.url}/admin/models`, {
      json: { id, format: 'onnx' },
      key: ADMIN_KEY,
    });
    expect(created.status).toBe(201);
    const version = await http(`${cluster.url}/admin/models/${id}/versions`, {
      body: bytes,
      key: ADMIN_KEY,
    });
    expect(version.status).toBe(201);
  }

  /** The lines of a service's output that mention `text`. */
  function linesOf(service: string, text: string): string[] {
    return cluster
      .service(service)
      .logs()
      .split('\n')
      .filter((l) => l.includes(text));
  }

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    cluster = new PortfolioCluster({
      adminKey: ADMIN_KEY,
      runtimes: [RUNTIME],
      pgServerUrl: pg.url,
      env: {
        PORTFOLIO_NATS_REQUEST_TIMEOUT: '3s',
        PORTFOLIO_GATEWAY_REQUEST_TIMEOUT: '3s',
      },
    });
    await cluster.start();
    useKey(cluster.url, ADMIN_KEY);
    await cluster.waitUntilHealthy(1);
    artifactsRoot = cluster.service('storage').options.env[
      'PORTFOLIO_STORAGE_LOCAL_ROOT'
    ] as string;
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await pg?.stop();
  });

  it('refuses at upload a model its framework cannot load, in its words, without a server path, and registers nothing', async () => {
    const created = await http(`${cluster.url}/admin/models`, {
      json: { id: 'unknown-op', format: 'onnx' },
      key: ADMIN_KEY,
    });
    expect(created.status).toBe(201);

    const upload = await http<ErrorBody>(
      `${cluster.url}/admin/models/unknown-op/versions`,
      { body: UNKNOWN_OP_MODEL, key: ADMIN_KEY },
    );

    expect(upload.status).toBe(422);
    expect(upload.body.error.code).toBe('INVALID_ARTIFACT');
    expect(upload.body.error.message).toMatch(
      /^the model does not load: .*No Op registered for NoSuchOp/,
    );
    expectNothingOfTheServer(upload.body);
    const versions = await http<{ versions: unknown[] }>(
      `${cluster.url}/admin/models/unknown-op/versions`,
      { key: ADMIN_KEY },
    );
    expect(versions.body.versions).toEqual([]);
    expect(
      filesUnder(artifactsRoot).filter((f) => f.includes('unknown-op')),
    ).toEqual([]);
  });

  describe('a model that fails to load', () => {
    it.each([
      {
        id: 'corrupted',
        // Registered intact, then damaged where storage keeps it.
        prepare: async () => {
          await register('corrupted', MLP);
          const [file] = filesUnder(join(artifactsRoot, 'corrupted'));
          writeFileSync(file, 'no longer a model');
        },
        inputs: { x: [[0.1, 0.2, 0.3]] },
        said: /^corrupted@1 failed to load: the file is not a valid ONNX model \(protobuf parsing failed\)$/,
        logged: 'Protobuf parsing failed',
      },
    ])(
      '$id: predict, metadata and status say why without a server path; the runtime logs where',
      async ({ id, prepare, inputs, said, logged }) => {
        await prepare();

        const predict = await http<ErrorBody>(
          `${cluster.url}/v1/models/${id}/predict`,
          { json: { inputs } },
        );
        expect(predict.status).toBe(422);
        expect(predict.body.error.code).toBe('MODEL_LOAD_FAILED');
        expect(predict.body.error.message).toMatch(said);
        expectNothingOfTheServer(predict.body);

        const metadata = await http<{
          cache: { state: string; reason: string | null }[];
        }>(`${cluster.url}/v1/models/${id}/metadata`);
        expect(metadata.status).toBe(200);
        expect(metadata.body.cache).toEqual([
          expect.objectContaining({
            state: 'failed',
            reason: expect.stringMatching(said),
          }),
        ]);
        expectNothingOfTheServer(metadata.body);

        const status = await http<{
          models: { model_id: string; reason: string | null }[];
        }>(`${cluster.url}/v1/models/status`);
        expect(
          status.body.models.find((m) => m.model_id === id)?.reason,
        ).toMatch(said);
        expectNothingOfTheServer(status.body);

        // The operator's side: the artifact's path and the engine's own words.
        const [line] = linesOf(
          RUNTIME,
          `loading ${id}@1 from ${artifactsRoot}`,
        );
        expect(line).toContain(logged);
      },
    );
  });

  it('answers an input that ONNX Runtime refuses while running with a 400 naming the node, without source locations', async () => {
    await register('huge-output', CONSTANT_OF_SHAPE_MODEL);

    const res = await http<ErrorBody>(
      `${cluster.url}/v1/models/huge-output/predict`,
      { json: { inputs: { s: [2 ** 31, 2 ** 31] } } },
    );

    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      message:
        'huge-output@1 refused the input: node "ConstantOfShape_0" (ConstantOfShape) failed: Calculation for Tensor storage size overflowed',
    });
    expectNothingOfTheServer(res.body);
    const [line] = linesOf(RUNTIME, 'huge-output@1 refused an input');
    expect(line).toMatch(/op_kernel\.cc:\d+/);
    // Small shapes still work: the model was fine, the input was not.
    const ok = await http<{ outputs: { y: number[][] } }>(
      `${cluster.url}/v1/models/huge-output/predict`,
      { json: { inputs: { s: [2, 3] } } },
    );
    expect(ok.status).toBe(200);
    expect(ok.body.outputs.y).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it('answers an unexpected failure in a service with exactly "internal error"; the gateway logs the detail under the request id', async () => {
    // A registry whose table has gone throws the driver's own error, not a PortfolioError.
    const db = new Client({
      connectionString:
        cluster.service('model-registry').options.env['PORTFOLIO_DATABASE_URL'],
    });
    await db.connect();
    await db.query('ALTER TABLE models RENAME TO models_elsewhere');
    let res: HttpResult<ErrorBody>;
    try {
      res = await http<ErrorBody>(`${cluster.url}/admin/models/anything`, {
        key: ADMIN_KEY,
      });
    } finally {
      await db.query('ALTER TABLE models_elsewhere RENAME TO models');
      await db.end();
    }

    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      error: {
        code: 'INTERNAL',
        message: 'internal error',
        request_id: res.headers.get('x-request-id'),
      },
    });
    const lines = linesOf('gateway', `[${res.body.error.request_id}]`);
    expect(lines).toEqual([
      expect.stringMatching(
        /ERROR.*GET \/admin\/models\/anything.*relation "models" does not exist/,
      ),
    ]);
  });

  it('logs an upload the client abandons as one info line, without a stack trace', async () => {
    const created = await http(`${cluster.url}/admin/models`, {
      json: { id: 'abandoned', format: 'onnx' },
      key: ADMIN_KEY,
    });
    expect(created.status).toBe(201);
    const requestId = 'hygiene-abandoned-upload';
    const { hostname, port } = new URL(cluster.url);

    // Promises a megabyte, sends 300 kB, and hangs up.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          [
            'POST /admin/models/abandoned/versions HTTP/1.1',
            `Host: ${hostname}:${port}`,
            `Authorization: Bearer ${ADMIN_KEY}`,
            'Content-Type: application/octet-stream',
            'Content-Length: 1000000',
            `X-Request-Id: ${requestId}`,
            '',
            '',
          ].join('\r\n'),
        );
        socket.write(Buffer.alloc(300_000, 7), () => {
          socket.destroy();
          resolve();
        });
      });
      socket.on('error', reject);
    });

    const lines = await eventually(
      'the gateway noting the abandoned upload',
      async () => {
        const found = linesOf('gateway', `[${requestId}]`);
        return found.length ? found : null;
      },
    );
    expect(lines).toEqual([
      expect.stringMatching(
        /\bINFO\b.*POST \/admin\/models\/abandoned\/versions.*the client closed the connection before the request was complete/,
      ),
    ]);
    const gatewayLogs = cluster.service('gateway').logs();
    expect(gatewayLogs).not.toContain('Error: aborted');
    expect(gatewayLogs).not.toContain('abortIncoming');
    // Nothing was registered for it.
    const versions = await http<{ versions: unknown[] }>(
      `${cluster.url}/admin/models/abandoned/versions`,
      { key: ADMIN_KEY },
    );
    expect(versions.body.versions).toEqual([]);
  }, 60_000);

  it('refuses to start a second runtime with a node id already in use, saying how to choose another', async () => {
    const duplicate = new AppProcess({
      name: `${RUNTIME}-again`,
      app: 'runtime',
      env: cluster.service(RUNTIME).options.env,
      readyLine: 'runtime ready',
    });
    const started = duplicate.start().then(
      () => 'started',
      () => 'refused',
    );

    const code = await duplicate.waitForExit();

    expect(await started).toBe('refused');
    expect(code).toBe(2);
    const logs = duplicate.logs();
    expect(logs).toContain(`runtime node id "${RUNTIME}" is already in use`);
    expect(logs).toContain('PORTFOLIO_RUNTIME_NODE_ID');
    expect(logs).toContain('runtime.node_id');
    expect(logs).not.toMatch(/^\s+at /m);
    // The runtime that holds the id carries on alone.
    expect(cluster.service(RUNTIME).running).toBe(true);
    const status = await http<{ runtimes: { node_id: string }[] }>(
      `${cluster.url}/v1/models/status`,
    );
    expect(status.body.runtimes.map((r) => r.node_id)).toEqual([RUNTIME]);
  }, 60_000);

  it('answers 503 without the database address while PostgreSQL is down, and health says the registry is down until it is back', async () => {
    await pg.halt();

    const statuses: number[] = [];
    const refused = await eventually('a 503 from the registry', async () => {
      const res = await http<ErrorBody>(`${cluster.url}/admin/models`, {
        json: { id: 'after-the-database', format: 'onnx' },
        key: ADMIN_KEY,
      });
      statuses.push(res.status);
      return res.status === 503 ? res : null;
    });
    expect(statuses.filter((s) => s !== 503)).toEqual([]);
    expect(refused.body.error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      message: 'the model registry cannot reach its database; retry later',
    });
    expectNothingOfTheServer(refused.body);

    const health = await http<{
      status: string;
      components: { registry: { status: string; detail?: string } };
    }>(`${cluster.url}/v1/health`);
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('down');
    expect(health.body.components.registry).toEqual({
      status: 'down',
      detail: 'the model registry cannot reach its database; retry later',
    });
    expectNothingOfTheServer(health.body);
    // The registry's log has the address the operator needs.
    expect(linesOf('model-registry', 'ECONNREFUSED')).not.toEqual([]);

    await pg.resume();
    const healthy = await eventually('health ok again', async () => {
      const res = await http<{
        status: string;
        components: { registry: { status: string } };
      }>(`${cluster.url}/v1/health`);
      return res.status === 200 && res.body.status === 'ok' ? res : null;
    });
    expect(healthy.body.components.registry.status).toBe('ok');
  }, 90_000);
});
