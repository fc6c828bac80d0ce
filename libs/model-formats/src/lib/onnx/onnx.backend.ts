import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';

import {
  PortfolioError,
  Signature,
  TensorSpecMessage,
} from '@portfolio/contracts';
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
    // First: a provider this server cannot start is refused before anything loads.
    const sessionOptions = ortSessionOptions(options);
    const o = await ort();
    let session: InferenceSession;
    try {
      // From a path, not a Buffer: a Buffer would hold the weights twice.
      session = await o.InferenceSession.create(path, sessionOptions);
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError(
        'load',
        options.engine?.execution_provider === 'cuda' && CUDA_FAILURE.test(raw)
          ? `the CUDA execution provider did not start: ${scrubEngineMessage(raw)} (it needs an NVIDIA GPU with CUDA 12 and cuDNN 9)`
          : describeLoadFailure(raw, path),
        raw,
      );
    }
    try {
      return new OnnxModel(o, session);
    } catch (e) {
      await session.release();
      throw new EngineError('load', errorMessage(e), errorMessage(e));
    }
  }
}

/**
 * ONNX Runtime session options for a model: the runtime's thread count unless the
 * model's `engine` names its own, and the model's graph optimization level (default
 * 'all'), CPU memory arena (default on) and execution provider (default CPU). Shared
 * by the formats that run on ONNX Runtime (onnx, huggingface).
 *
 * `cuda` runs on CUDA and nothing else: a server without ONNX Runtime's CUDA binaries
 * refuses it (FORMAT_UNAVAILABLE) rather than quietly serving the model on the CPU,
 * whose speed and memory are not what was asked for; and where the binaries are
 * present but CUDA does not start (no GPU, wrong CUDA), the load fails. The CPU
 * provider listed after it only takes the nodes CUDA has no kernel for, as ONNX
 * Runtime always does.
 */
export function ortSessionOptions(
  options: LoadOptions,
): InferenceSession.SessionOptions {
  const engine = options.engine ?? {};
  if (engine.execution_provider === 'cuda') assertCudaBinaries();
  return {
    intraOpNumThreads: engine.threads ?? options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: engine.graph_optimization ?? 'all',
    enableCpuMemArena: engine.memory_arena ?? true,
    executionProviders:
      engine.execution_provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    // Spinning threads burn the cores other workers need between requests.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/**
 * The libraries ONNX Runtime loads for its CUDA execution provider, from the directory
 * of onnxruntime-node's native binding. They are too big for the npm package: its
 * install script fetches them from NuGet (Microsoft.ML.OnnxRuntime.Gpu.Linux, for
 * Linux x64 only) unless told to skip, as this repository's install does.
 */
export const CUDA_PROVIDER_FILES = [
  'libonnxruntime_providers_cuda.so',
  'libonnxruntime_providers_shared.so',
] as const;

/** What ONNX Runtime's own message says when the CUDA provider fails to start. */
const CUDA_FAILURE =
  /cuda|cudnn|cublas|providers_shared|shared librar|GPU|device/i;

/** The CUDA provider files missing from `binaryDir` (all of them where it is null). */
export function missingCudaFiles(binaryDir: string | null): string[] {
  return CUDA_PROVIDER_FILES.filter(
    (f) => binaryDir === null || !existsSync(join(binaryDir, f)),
  );
}

function assertCudaBinaries(): void {
  const pkg = onnxruntimeNodePackage();
  const version = pkg?.version ?? '';
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new PortfolioError(
      'FORMAT_UNAVAILABLE',
      `execution provider cuda needs ONNX Runtime's CUDA binaries, which onnxruntime-node publishes for Linux x64 only (this server is ${process.platform} ${process.arch}); use execution_provider cpu`,
    );
  }
  const missing = missingCudaFiles(pkg ? bindingDir(pkg.dir) : null);
  if (missing.length === 0) return;
  throw new PortfolioError(
    'FORMAT_UNAVAILABLE',
    `execution provider cuda needs ONNX Runtime's CUDA binaries (${missing.join(', ')}), which this server does not have: ` +
      `install them beside onnxruntime-node${version ? ` ${version}` : ''}'s binding with ` +
      '`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (its install script downloads them from NuGet, ' +
      `Microsoft.ML.OnnxRuntime.Gpu.Linux${version ? ` ${version}` : ''}), on a machine with an NVIDIA GPU, CUDA 12 and cuDNN 9; ` +
      'use execution_provider cpu',
  );
}

/**
 * onnxruntime-node's directory, resolved from this file as `import('onnxruntime-node')`
 * resolves it (also from a bundle, which leaves node_modules outside).
 */
function onnxruntimeNodePackage(): { dir: string; version: string } | null {
  try {
    const file = createRequire(__filename).resolve(
      'onnxruntime-node/package.json',
    );
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as {
      version?: unknown;
    };
    return {
      dir: dirname(file),
      version: typeof version === 'string' ? version : '',
    };
  } catch {
    return null;
  }
}

/** `bin/napi-v<N>/<platform>/<arch>`, where the binding and the provider libraries sit. */
function bindingDir(packageDir: string): string | null {
  const bin = join(packageDir, 'bin');
  if (!existsSync(bin)) return null;
  for (const napi of readdirSync(bin).filter((d) => d.startsWith('napi-v'))) {
    const dir = join(bin, napi, process.platform, process.arch);
    if (existsSync(join(dir, 'onnxruntime_binding.node'))) return dir;
  }
  return null;
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
        data: outputData(value),
      };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * FP16 travels as half bits in a Uint16Array; ONNX Runtime hands out a Float16Array
 * where the JavaScript engine has one, so its bits are viewed as such.
 */
function outputData(value: OrtTensor): TensorData {
  const data = value.data as unknown as TensorData;
  // The tag, not instanceof: the array may come from another realm (jest's).
  if (
    value.type === 'float16' &&
    Object.prototype.toString.call(data) === '[object Float16Array]'
  ) {
    const view = data as unknown as ArrayBufferView & { length: number };
    return new Uint16Array(view.buffer, view.byteOffset, view.length);
  }
  return data;
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
