import { basename } from 'node:path';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';

import { Signature, TensorSpecMessage } from '@portfolio/contracts';
import { fromOrtType, Tensor, TensorData, toOrtType } from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from '../engine-message';
import { LoadedModel, LoadOptions, ModelBackend } from '../model-backend';

type Ort = typeof import('onnxruntime-node');

let ortModule: Ort | null = null;

/** Loaded on first use: services that only inspect artifacts never pay for the native binding. */
async function ort(): Promise<Ort> {
  ortModule ??= await import('onnxruntime-node');
  return ortModule;
}

/** A 109-byte ONNX model (y = Relu(x), x: FP32 [1]), enough to initialize ONNX Runtime. */
const WARMUP_MODEL_BASE64 =
  'CAgSEXBvcnRmb2xpby10ZXN0aW5nGgExMgA6SwoUCgF4EgF5GgZSZWx1XzAiBFJlbHUSEXBvcnRmb2xpb19maXh0dXJlWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==';

export class OnnxBackend implements ModelBackend {
  readonly format = 'onnx' as const;
  readonly eager = true;

  async warmUp(): Promise<void> {
    const o = await ort();
    const session = await o.InferenceSession.create(
      Buffer.from(WARMUP_MODEL_BASE64, 'base64'),
      {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      },
    );
    await session.run({
      x: new o.Tensor('float32', new Float32Array([1]), [1]),
    });
    await session.release();
  }

  async load(path: string, options: LoadOptions): Promise<LoadedModel> {
    const o = await ort();
    let session: InferenceSession;
    try {
      // From a path, not a Buffer: a Buffer would hold the weights twice.
      session = await o.InferenceSession.create(path, {
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Spinning threads burn the cores other workers need between requests.
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError('load', describeLoadFailure(raw, path), raw);
    }
    try {
      return new OnnxModel(o, session);
    } catch (e) {
      await session.release();
      throw new EngineError('load', errorMessage(e), errorMessage(e));
    }
  }
}

class OnnxModel implements LoadedModel {
  readonly signature: Signature;

  constructor(
    private readonly o: Ort,
    private readonly session: InferenceSession,
  ) {
    this.signature = {
      inputs: session.inputMetadata.map(toSpec),
      outputs: session.outputMetadata.map(toSpec),
    };
  }

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(inputs)) {
      feeds[name] = new this.o.Tensor(
        toOrtType(t.datatype) as 'float32',
        t.data as Float32Array,
        t.shape,
      );
    }
    let results: InferenceSession.ReturnType;
    try {
      results = outputNames?.length
        ? await this.session.run(feeds, [...outputNames])
        : await this.session.run(feeds);
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError('run', describeRunFailure(raw), raw);
    }
    const out: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) {
      out[name] = {
        datatype: fromOrtType(value.type),
        shape: [...value.dims],
        data: value.data as TensorData,
      };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toSpec(meta: InferenceSession.ValueMetadata): TensorSpecMessage {
  if (!meta.isTensor) {
    throw new Error(
      `"${meta.name}" is not a tensor; only tensor inputs and outputs are supported`,
    );
  }
  return {
    name: meta.name,
    datatype: fromOrtType(meta.type),
    shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  };
}

/**
 * ONNX Runtime says `Load model from <path> failed:<reason>`; the reason is about the
 * model, the path is the server's business.
 */
function describeLoadFailure(raw: string, path: string): string {
  const reason = raw.replace(/^Load model from [\s\S]*? failed:\s*/, '');
  if (/protobuf parsing failed/i.test(reason))
    return 'the file is not a valid ONNX model (protobuf parsing failed)';
  if (/file doesn't exist|no such file/i.test(reason))
    return `the file ${basename(path)} does not exist`;
  return `ONNX Runtime refused the model: ${scrubEngineMessage(reason)}`;
}

/** `Non-zero status code returned while running <Op> node. Name:'<name>' Status Message: <why>`. */
function describeRunFailure(raw: string): string {
  const m =
    /^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message:\s*([\s\S]*)$/.exec(
      raw.trim(),
    );
  return m
    ? `node "${m[2]}" (${m[1]}) failed: ${scrubEngineMessage(m[3])}`
    : scrubEngineMessage(raw);
}

/** Errors from the native binding may come from another realm (jest's), so no instanceof. */
function errorMessage(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(e);
}
