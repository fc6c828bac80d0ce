import { INestApplicationContext } from '@nestjs/common';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { inferSubject, PortfolioError, Runtime } from '@portfolio/contracts';
import {
  createBusApp,
  InProcessBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';
import { LocalStorageDriver } from '@portfolio/storage';
import {
  attachedFrame,
  DecodedFrame,
  decodeFrame,
  encodeFrame,
  NamedTensor,
} from '@portfolio/tensor';
import {
  buildMlpModel,
  makeTempDir,
  mlpReference,
  writeModel,
} from '@portfolio/testing';

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
const NODE_ID = 'node-in-process';
const NO_BYTES = new Uint8Array(0);

/**
 * The standalone mode's prediction path: on the in-process bus the gateway hands the
 * runtime its header and tensors as the request's attachment, and gets the outputs
 * back the same way, with no frame either way. Errors still come back coded.
 */
describe('RuntimeController on the in-process bus', () => {
  let root: string;
  let bus: InProcessBus;
  let client: Messaging;
  let app: INestApplicationContext;
  const prefix = 'inproc';

  const infer = (header: Record<string, unknown>, tensors: NamedTensor[]) =>
    client.requestRaw(inferSubject(prefix, NODE_ID), NO_BYTES, {
      attachment: { header, tensors } satisfies DecodedFrame,
    });

  beforeAll(async () => {
    root = makeTempDir('runtime-in-process');
    writeModel(join(root, 'mlp'), 'model.onnx', buildMlpModel(MLP));
    bus = new InProcessBus();
    client = new Messaging(bus, prefix, 10_000);
    app = await createBusApp(
      {
        module: class RuntimeInProcessTestApp {},
        imports: [
          MessagingModule.forRoot({ bus, prefix, requestTimeoutMs: 10_000 }),
          RuntimeServiceModule.forRoot({
            settings: testRuntimeSettings({
              nodeId: NODE_ID,
              capacityBytes: 512 * 1024 * 1024,
            }),
            storage: new LocalStorageDriver(root),
          }),
        ],
      },
      { logger: ['error'] },
    );
    await client.call(
      Runtime.load,
      loadRequestFor(root, 'mlp/model.onnx', { model_id: 'mlp' }),
      { target: NODE_ID },
    );
  });
  afterAll(async () => {
    await (app.get(ModelHostService) as unknown as { pool: WorkerPool }).pool
      .ready()
      .catch(() => undefined);
    await app.close();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('runs tensors handed over as objects and answers with objects, no frame', async () => {
    const x = sampleInput(2 * 4);
    const inputs: NamedTensor[] = [
      { name: 'x', datatype: 'FP32', shape: [2, 4], data: x },
    ];

    const reply = await infer({ model_id: 'mlp', version: 1 }, inputs);

    expect(reply.data.byteLength).toBe(0);
    const out = attachedFrame(reply.attachment);
    expect(out?.header).toMatchObject({
      model_id: 'mlp',
      version: 1,
      node_id: NODE_ID,
      compute_ms: expect.any(Number),
    });
    expect(out?.tensors.map((t) => [t.name, t.datatype, t.shape])).toEqual([
      ['y', 'FP32', [2, 3]],
    ]);
    expectClose(out?.tensors[0].data as Float32Array, mlpReference(MLP, x, 2));
    // The caller's tensors are left as they were (a retry may send them again).
    expect(inputs[0].data).toBe(x);
    expect(x.byteLength).toBe(2 * 4 * 4);
  });

  it('still serves a frame on the in-process bus, answering with a frame', async () => {
    const x = sampleInput(4);

    const reply = await client.requestRaw(
      inferSubject(prefix, NODE_ID),
      encodeFrame({ model_id: 'mlp', version: 1 }, [
        { name: 'x', datatype: 'FP32', shape: [1, 4], data: x },
      ]),
    );

    expect(reply.attachment).toBeUndefined();
    const frame = decodeFrame(reply.data);
    expectClose(frame.tensors[0].data as Float32Array, mlpReference(MLP, x, 1));
  });

  it('answers a model it does not hold with MODEL_NOT_LOADED', async () => {
    const error = await infer({ model_id: 'not-here', version: 1 }, [
      { name: 'x', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) },
    ]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'MODEL_NOT_LOADED',
      details: { node_id: NODE_ID },
    });
  });

  it('answers an input of the wrong datatype with INVALID_INPUT naming it', async () => {
    const error = await infer({ model_id: 'mlp', version: 1 }, [
      { name: 'x', datatype: 'INT32', shape: [1, 4], data: new Int32Array(4) },
    ]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('"x"'),
      details: { input: 'x' },
    });
  });
});
