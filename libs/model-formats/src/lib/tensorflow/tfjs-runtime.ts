import type * as TfModule from '@tensorflow/tfjs';

export type Tf = typeof TfModule;

/** What this backend uses of `@tensorflow/tfjs-node` beyond TF.js itself (declared here: it is an optional dependency, absent on most machines). */
export interface TfNodeApi {
  loadSavedModel(
    path: string,
    tags?: string[],
    signature?: string,
  ): Promise<TfSavedModel>;
  getMetaGraphsFromSavedModel(path: string): Promise<
    {
      tags: string[];
      signatureDefs: Record<
        string,
        {
          inputs: Record<string, TfModelTensorInfo>;
          outputs: Record<string, TfModelTensorInfo>;
        }
      >;
    }[]
  >;
}

export interface TfModelTensorInfo {
  name: string;
  shape?: number[];
  dtype: string;
}

export interface TfSavedModel {
  predict(
    inputs: TfModule.NamedTensorMap,
  ): TfModule.Tensor | TfModule.Tensor[] | TfModule.NamedTensorMap;
  dispose(): void;
}

/** TF.js and the native binding when this machine has it. */
export interface TfRuntime {
  readonly tf: Tf;
  /** `tf.node` of `@tensorflow/tfjs-node`; null where only the WebAssembly backend runs. */
  readonly node: TfNodeApi | null;
}

/** Named apart so that bundlers leave it to Node's resolution at run time: most machines lack it. */
const TFJS_NODE = '@tensorflow/tfjs-node';

let nodeModule: Promise<(Tf & { node: TfNodeApi }) | null> | null = null;

/**
 * `@tensorflow/tfjs-node` when it can be loaded (an optionalDependency: its native
 * library does not install everywhere), else null. Tried once per thread.
 */
function tfjsNode(): Promise<(Tf & { node: TfNodeApi }) | null> {
  nodeModule ??= (async () => {
    try {
      const m = (await import(/* webpackIgnore: true */ TFJS_NODE)) as {
        default?: unknown;
      } & Record<string, unknown>;
      const tf = (
        typeof m['node'] === 'object' ? m : (m.default ?? m)
      ) as Tf & { node?: TfNodeApi };
      return tf.node ? (tf as Tf & { node: TfNodeApi }) : null;
    } catch {
      return null;
    }
  })();
  return nodeModule;
}

/** Whether SavedModels can load here (they need TensorFlow's own C library). */
export async function hasTfjsNode(): Promise<boolean> {
  return (await tfjsNode()) !== null;
}

let runtime: Promise<TfRuntime> | null = null;

/**
 * TF.js, ready to compute: on TensorFlow's native library where `@tensorflow/tfjs-node`
 * is installed, otherwise on the WebAssembly backend (`@tensorflow/tfjs-backend-wasm`),
 * which runs single-threaded in Node (TF.js enables wasm threads in browsers only).
 * Loaded on first use: services that only inspect artifacts never pay for it.
 */
export function tfRuntime(): Promise<TfRuntime> {
  runtime ??= (async () => {
    const native = await tfjsNode();
    if (native) {
      await native.setBackend('tensorflow');
      await native.ready();
      return { tf: native, node: native.node };
    }
    const tf = await import('@tensorflow/tfjs');
    // Registers the 'wasm' backend; in Node it reads its .wasm binary from beside its
    // own script, so no setWasmPaths is needed (checked under jest and plain Node).
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm')))
      throw new Error('the TF.js WebAssembly backend failed to initialize');
    await tf.ready();
    return { tf, node: null };
  })();
  // A failed start is not cached: the next load tries again.
  runtime.catch(() => {
    runtime = null;
  });
  return runtime;
}
