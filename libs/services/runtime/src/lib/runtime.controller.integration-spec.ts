import { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  inferSubject,
  PortfolioError,
  Runtime,
  RuntimeHeartbeat,
  SUPPORTED_FORMATS,
} from '@portfolio/contracts';
import {
  createBusApp,
  Messaging,
  MessagingModule,
  NatsBus,
} from '@portfolio/messaging';
import { LocalStorageDriver } from '@portfolio/storage';
import { decodeFrame, encodeFrame } from '@portfolio/tensor';
import {
  buildMlpModel,
  makeTempDir,
  mlpReference,
  testNatsUrl,
  uniqueSubjectPrefix,
  writeModel,
} from '@portfolio/testing';

import { RuntimeController } from './runtime.controller';
import { RuntimeServiceModule } from './runtime-service.module';
import { ModelHostService } from './model-host.service';
import {
  expectClose,
  loadRequestFor,
  sampleInput,
  testRuntimeSettings,
} from './runtime.testing';
import { WorkerPool } from './worker/worker-pool';

const MLP = { inputSize: 4, hidden: [16], outputSize: 3 };
const NODE_ID = 'node-nats-1';

/** Events as they arrive, and a way to wait for one. */
class Collected<T> {
  readonly items: T[] = [];
  private readonly waiters = new Set<{
    match: (item: T) => boolean;
    resolve: (item: T) => void;
  }>();

  push = (item: T): void => {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (!w.match(item)) continue;
      this.waiters.delete(w);
      w.resolve(item);
    }
  };

  /** The first item, seen or still to come, that `match` accepts. */
  next(
    match: (item: T) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    const seen = this.items.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}`)),
        timeoutMs,
      );
      this.waiters.add({
        match,
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
      });
    });
  }
}

describe(RuntimeController.name, () => {
  let root: string;
  let prefix: string;
  let serverBus: NatsBus;
  let clientBus: NatsBus;
  let client: Messaging;
  let app: INestApplicationContext;
  let appClosed = false;
  const heartbeats = new Collected<RuntimeHeartbeat>();
  const stopping = new Collected<{ node_id: string }>();
  const nextHeartbeat = (
    match: (b: RuntimeHeartbeat) => boolean,
    what: string,
  ) => heartbeats.next(match, what);

  beforeAll(async () => {
    root = makeTempDir('runtime-handlers');
    writeModel(join(root, 'mlp'), 'model.onnx', buildMlpModel(MLP));
    prefix = uniqueSubjectPrefix('runtime.handlers');
    [serverBus, clientBus] = await Promise.all([
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'runtime-handlers-test-server',
      }),
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'runtime-handlers-test-client',
      }),
    ]);
    client = new Messaging(clientBus, prefix, 10_000);
    // Listening before the runtime starts, to see its first beat too.
    client.on(Runtime.heartbeat, heartbeats.push);
    client.on(Runtime.stopping, stopping.push);
    // The server has our subscriptions once a later request of ours made the round trip.
    await clientBus
      .request(`${prefix}.nobody`, new Uint8Array(0), { timeoutMs: 1000 })
      .catch(() => undefined);

    app = await createBusApp(
      {
        module: class RuntimeTestApp {},
        imports: [
          MessagingModule.forRoot({
            bus: serverBus,
            prefix,
            requestTimeoutMs: 10_000,
          }),
          RuntimeServiceModule.forRoot({
            settings: testRuntimeSettings({
              nodeId: NODE_ID,
              capacityBytes: 512 * 1024 * 1024,
              heartbeatIntervalMs: 200,
            }),
            storage: new LocalStorageDriver(root),
          }),
        ],
      },
      { logger: ['error'] },
    );
    // Its first beat went out after its subscriptions, on the same connection: it serves.
    await nextHeartbeat((b) => b.node_id === NODE_ID, 'the first heartbeat');
  });
  afterAll(async () => {
    if (!appClosed) {
      await (app.get(ModelHostService) as unknown as { pool: WorkerPool }).pool
        .ready()
        .catch(() => undefined);
      await app.close();
    }
    await Promise.all([serverBus?.close(), clientBus?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('beats with its node id and capacity', async () => {
    const beat = await nextHeartbeat((b) => b.seq > 0, 'a periodic heartbeat');

    expect(beat).toMatchObject({
      node_id: NODE_ID,
      capacity_bytes: 512 * 1024 * 1024,
      interval_ms: 200,
      workers: 1,
      formats: [...SUPPORTED_FORMATS],
    });
    expect(beat.rss_bytes).toBeGreaterThan(0);
  });

  it('answers a ping addressed to its node', async () => {
    await expect(
      client.call(Runtime.ping, {}, { target: NODE_ID }),
    ).resolves.toMatchObject({ service: 'runtime', instance: NODE_ID });
  });

  it('loads a model on request and lists it as loaded in its heartbeat', async () => {
    const res = await client.call(
      Runtime.load,
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
      { target: NODE_ID },
    );

    expect(res).toMatchObject({
      model_id: 'mlp',
      version: 1,
      loaded_now: true,
    });
    const beat = await nextHeartbeat(
      (b) =>
        b.state_version >= res.state_version &&
        b.models.some((m) => m.model_id === 'mlp'),
      'a beat with mlp',
    );
    expect(beat.models).toEqual([
      expect.objectContaining({
        model_id: 'mlp',
        version: 1,
        state: 'loaded',
        memory_bytes: res.memory_bytes,
      }),
    ]);
    expect(beat.used_bytes).toBe(res.memory_bytes);
  });

  it('runs inference sent as a tensor frame and answers with a frame', async () => {
    await client.call(
      Runtime.load,
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
      { target: NODE_ID },
    );
    const x = sampleInput(2 * 4);

    const reply = await client.requestRaw(
      inferSubject(prefix, NODE_ID),
      encodeFrame({ model_id: 'mlp', version: 1 }, [
        { name: 'x', datatype: 'FP32', shape: [2, 4], data: x },
      ]),
    );

    const frame = decodeFrame(reply.data);
    expect(frame.header).toMatchObject({
      model_id: 'mlp',
      version: 1,
      node_id: NODE_ID,
      compute_ms: expect.any(Number),
    });
    expect(frame.tensors.map((t) => [t.name, t.datatype, t.shape])).toEqual([
      ['y', 'FP32', [2, 3]],
    ]);
    expectClose(frame.tensors[0].data as Float32Array, mlpReference(MLP, x, 2));
  });

  it('refuses a malformed frame with INVALID_REQUEST', async () => {
    const error = await client
      .requestRaw(inferSubject(prefix, NODE_ID), randomBytes(64))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/malformed tensor frame/),
    });
  });

  it('refuses a frame whose header is not an infer header with INVALID_REQUEST', async () => {
    const frame = encodeFrame({ model: 'mlp' }, [
      { name: 'x', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) },
    ]);

    const error = await client
      .requestRaw(inferSubject(prefix, NODE_ID), frame)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/infer header/),
    });
  });

  it('refuses inference on a model it does not hold with MODEL_NOT_LOADED', async () => {
    const frame = encodeFrame({ model_id: 'not-here', version: 1 }, [
      { name: 'x', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) },
    ]);

    const error = await client
      .requestRaw(inferSubject(prefix, NODE_ID), frame)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'MODEL_NOT_LOADED',
      details: { node_id: NODE_ID },
    });
  });

  it('refuses an input of the wrong datatype with INVALID_INPUT naming it', async () => {
    await client.call(
      Runtime.load,
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
      { target: NODE_ID },
    );
    const frame = encodeFrame({ model_id: 'mlp', version: 1 }, [
      { name: 'x', datatype: 'INT32', shape: [1, 4], data: new Int32Array(4) },
    ]);

    const error = await client
      .requestRaw(inferSubject(prefix, NODE_ID), frame)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('"x"'),
      details: { input: 'x' },
    });
  });

  it('refuses a load request that does not match the schema with INVALID_REQUEST', async () => {
    const error = await client
      .call(
        Runtime.load,
        {
          ...loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
          sha256: 'nope',
        },
        { target: NODE_ID },
      )
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('sha256'),
    });
  });

  it('unloads a model on request and drops it from its heartbeat', async () => {
    await client.call(
      Runtime.load,
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'brief' }),
      { target: NODE_ID },
    );

    const res = await client.call(
      Runtime.unload,
      { model_id: 'brief', version: 1 },
      { target: NODE_ID },
    );

    expect(res).toMatchObject({ was_loaded: true });
    const beat = await nextHeartbeat(
      (b) => b.state_version >= res.state_version,
      'a beat after the unload',
    );
    expect(beat.models.some((m) => m.model_id === 'brief')).toBe(false);
  });

  // Last: it stops the runtime.
  it('announces that it is stopping when the app closes, and stops answering', async () => {
    await (
      app.get(ModelHostService) as unknown as { pool: WorkerPool }
    ).pool.ready();

    await app.close();
    appClosed = true;

    await stopping.next((e) => e.node_id === NODE_ID, 'runtime.stopping');
    expect(stopping.items).toEqual([{ node_id: NODE_ID }]);
    await expect(
      client.call(Runtime.ping, {}, { target: NODE_ID, timeoutMs: 1000 }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
