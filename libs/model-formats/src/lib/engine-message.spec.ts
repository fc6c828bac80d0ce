import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  buildGenericModel,
  ElemType,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';
import { Tensor } from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from './engine-message';
import { LoadedModel } from './model-backend';
import { OnnxBackend } from './onnx/onnx.backend';

/** Nothing a client must not see: a directory, a C/C++ source location, a C++ function. */
function expectNothingOfTheServer(text: string): void {
  expect(text).not.toMatch(/\/[\w.-]+\//);
  expect(text).not.toMatch(/\.(cc|h|cpp|hpp):\d+/);
  expect(text).not.toContain('onnxruntime::');
}

describe(scrubEngineMessage.name, () => {
  // ONNX Runtime 1.30's own words, as measured.
  it.each([
    [
      "Non-zero status code returned while running ConstantOfShape node. Name:'ConstantOfShape_0' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) Failed to allocate memory for requested buffer of size 4000000000000\n",
      "Non-zero status code returned while running ConstantOfShape node. Name:'ConstantOfShape_0' Status Message: Failed to allocate memory for requested buffer of size 4000000000000",
    ],
    [
      '/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 3 by 4',
      'axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 3 by 4',
    ],
    [
      '/onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == requested_shape_size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{4,4}',
      'input_shape_size == requested_shape_size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{4,4}',
    ],
    [
      '/onnxruntime_src/onnxruntime/core/common/safeint.h:17 static void SafeIntExceptionHandler<onnxruntime::OnnxRuntimeException>::SafeIntOnOverflow() Integer overflow',
      'Integer overflow',
    ],
    [
      '/onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:83 virtual OrtValue* onnxruntime::OpKernelContext::OutputMLValue(int, const onnxruntime::TensorShape&) [ONNXRuntimeError] : 1 : FAIL : Calculation for Tensor storage size overflowed',
      'Calculation for Tensor storage size overflowed',
    ],
    [
      'Load model from /srv/portfolio/artifacts/iris/0f3a/model.onnx failed:Protobuf parsing failed.',
      'Load model from model.onnx failed:Protobuf parsing failed.',
    ],
    [
      "ENOENT: no such file or directory, open '/var/lib/portfolio/.ingest/7c1e.part'",
      "ENOENT: no such file or directory, open '7c1e.part'",
    ],
    [
      'D:\\a\\_work\\1\\s\\onnxruntime\\core\\session\\inference_session.cc:1234 onnxruntime::InferenceSession::Load() failed',
      'failed',
    ],
    ['Load model C:\\models\\iris.onnx failed', 'Load model iris.onnx failed'],
  ])('scrubs %j', (raw, clean) => {
    expect(scrubEngineMessage(raw)).toBe(clean);
    expectNothingOfTheServer(scrubEngineMessage(raw));
  });

  it.each([
    'input "x" has 3 columns, expected 4 (3 / 4 of the row)',
    'see http://example.com/docs/errors and local:iris/abc/model.onnx',
    'ratio 1/2, ./relative/path.onnx and and/or stay',
    '"x" is not a tensor; only tensor inputs and outputs are supported',
  ])('leaves a sentence without server details as it is: %j', (text) => {
    expect(scrubEngineMessage(text)).toBe(text);
  });
});

/** The ONNX backend says what went wrong in words a client may read, and keeps the rest for the logs. */
describe('ONNX backend failures', () => {
  const backend = new OnnxBackend();
  const dir = makeTempDir('engine-message');
  const opened: LoadedModel[] = [];

  afterAll(async () => {
    for (const model of opened) await model.release();
    rmSync(dir, { recursive: true, force: true });
  });

  async function loadFailure(path: string): Promise<EngineError> {
    const error = await backend
      .load(path, { intraOpThreads: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    return error as EngineError;
  }

  async function runFailure(
    model: LoadedModel,
    inputs: Record<string, Tensor>,
  ): Promise<EngineError> {
    const error = await model.run(inputs).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    return error as EngineError;
  }

  async function load(name: string, bytes: Uint8Array): Promise<LoadedModel> {
    const model = await backend.load(writeModel(dir, name, bytes), {
      intraOpThreads: 1,
    });
    opened.push(model);
    return model;
  }

  it('calls a file that is not ONNX what it is, without its path', async () => {
    const path = join(dir, 'garbage.onnx');
    writeFileSync(path, 'this is not a model');

    const error = await loadFailure(path);

    expect(error.stage).toBe('load');
    expect(error.message).toBe(
      'the file is not a valid ONNX model (protobuf parsing failed)',
    );
    expect(error.detail).toContain(path);
  });

  it('names a missing file by its name only', async () => {
    const path = join(dir, 'absent', 'missing.onnx');

    const error = await loadFailure(path);

    expect(error.message).toBe('the file missing.onnx does not exist');
    expect(error.detail).toContain(path);
  });

  it('passes on why ONNX Runtime refused a well-formed model, without the path', async () => {
    const path = writeModel(
      dir,
      'unknown-op.onnx',
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: [1] }],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [1] }],
        nodes: [{ opType: 'NoSuchOp', inputs: ['x'], outputs: ['y'] }],
      }),
    );

    const error = await loadFailure(path);

    expect(error.message).toMatch(
      /^ONNX Runtime refused the model: This is an invalid model\. .*No Op registered for NoSuchOp/,
    );
    expect(error.message).not.toContain(dir);
    expect(error.detail).toContain(path);
  });

  it('reports an input the engine refuses while running by node, without source locations', async () => {
    // Two inputs of unrelated lengths: checked against the signature, both are fine;
    // only the Add node finds out that they cannot be broadcast together.
    const model = await load(
      'add.onnx',
      buildGenericModel({
        inputs: [
          { name: 'a', elemType: ElemType.FLOAT, shape: ['n'] },
          { name: 'b', elemType: ElemType.FLOAT, shape: ['m'] },
        ],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [-1] }],
        nodes: [{ opType: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      }),
    );

    const error = await runFailure(model, {
      a: { datatype: 'FP32', shape: [3], data: new Float32Array(3) },
      b: { datatype: 'FP32', shape: [4], data: new Float32Array(4) },
    });

    expect(error.stage).toBe('run');
    expect(error.message).toBe(
      'node "Add_0" (Add) failed: axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 3 by 4',
    );
    expect(error.detail).toMatch(/element_wise_ops\.h:\d+/);
  });

  it('reports an output too large to allocate without source locations', async () => {
    // 2^31 x 2^31 floats: the size overflows before anything is allocated.
    const model = await load(
      'constant-of-shape.onnx',
      buildGenericModel({
        inputs: [{ name: 's', elemType: ElemType.INT64, shape: [2] }],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [-1, -1] }],
        nodes: [{ opType: 'ConstantOfShape', inputs: ['s'], outputs: ['y'] }],
      }),
    );

    const error = await runFailure(model, {
      s: {
        datatype: 'INT64',
        shape: [2],
        data: new BigInt64Array([2n ** 31n, 2n ** 31n]),
      },
    });

    expect(error.message).toBe(
      'node "ConstantOfShape_0" (ConstantOfShape) failed: Calculation for Tensor storage size overflowed',
    );
    expectNothingOfTheServer(error.message);
    expect(error.detail).toMatch(/\.cc:\d+/);
  });
});
