import type { Tensor } from '@portfolio/tensor';
import type {
  EngineSettings,
  ModelFormat,
  Signature,
} from '@portfolio/contracts';

export interface LoadOptions {
  /** Threads one inference may use. Keep the sum over busy workers <= the cores. */
  readonly intraOpThreads: number;
  /**
   * The model's own engine settings (a model's `engine`), where it has any: absent
   * fields take the backend's defaults; `threads` overrides `intraOpThreads`.
   */
  readonly engine?: EngineSettings;
}

/**
 * A loaded model. `run` and `release` must not be called concurrently on one model:
 * the runtime gives each model to one worker thread, which serializes them.
 */
export interface LoadedModel {
  /**
   * As the framework reports it once loaded. A dimension of -1 is variable. An empty
   * shape may mean "scalar" or "not declared" (ONNX Runtime does not tell them apart),
   * so callers check ranks only against non-empty shapes.
   */
  readonly signature: Signature;
  run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>>;
  /** Frees the model's memory; the object is unusable afterwards. */
  release(): Promise<void>;
  /**
   * Memory the model holds outside this process (a Python worker's), measured by the
   * backend when it loaded; the runtime adds it to what it measures in its own RSS.
   * Absent: everything the model holds is in this process.
   */
  readonly externalBytes?: number;
}

/**
 * One per format. `load` blocks its thread for as long as the framework takes (ONNX
 * Runtime blocks the event loop while it loads and runs), so runtimes call it from a
 * worker thread, never from the main one.
 */
export interface ModelBackend {
  readonly format: ModelFormat;
  /**
   * Whether workers warm this backend up when they start (ONNX, which every runtime
   * uses), or on the first load of its format: a framework nobody loads costs nothing,
   * and what its warm-up costs is measured apart from the model (see the worker's
   * `frameworkBytes`).
   */
  readonly eager: boolean;
  /**
   * Pays the framework's one-time costs (native library, thread pools, first-session
   * allocations: about 26 MiB for ONNX Runtime) before any model loads, so that they
   * are not measured as the first model's memory.
   */
  warmUp(): Promise<void>;
  load(path: string, options: LoadOptions): Promise<LoadedModel>;
}
