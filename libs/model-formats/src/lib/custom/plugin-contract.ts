import type { Signature } from '@portfolio/contracts';
import type { Tensor } from '@portfolio/tensor';

/**
 * The contract of a `custom` model: a JavaScript module (CommonJS `.js`/`.cjs` or ES
 * module `.mjs`) that the runtime loads and calls in its worker thread. Its directory
 * holds whatever else it reads (weights, vocabularies), uploaded with it.
 *
 * SECURITY: a plugin is arbitrary code run inside the runtime process, with the
 * process's rights. Only `admin` API keys may register model versions, and that is
 * what keeps plugins trusted; nothing here sandboxes them. Ingest never executes a
 * plugin: it only checks that the file is JavaScript text.
 *
 * Exports, as named exports or as the members of `module.exports` / a default export:
 * - `signature`: the model's inputs and outputs, or a function of the plugin's
 *   directory returning them (sync or async). Optional when a `portfolio.json` beside
 *   the plugin declares it.
 * - `load(dir, options)`: reads the model from `dir` (absolute) and returns its state.
 * - `predict(state, inputs)`: the outputs for `inputs`, as Tensors whose `data` is the
 *   datatype's storage (FP32 -> Float32Array, INT64 -> BigInt64Array, BYTES -> string[]
 *   …, see @portfolio/tensor) and whose length is the product of `shape`.
 * - `unload(state)`: optional; frees what `load` holds.
 */
export interface PortfolioPlugin<State = unknown> {
  readonly signature?:
    | Signature
    | ((dir: string) => Signature | Promise<Signature>);
  load(dir: string, options: PluginLoadOptions): State | Promise<State>;
  predict(
    state: State,
    inputs: Readonly<Record<string, Tensor>>,
  ): Record<string, Tensor> | Promise<Record<string, Tensor>>;
  unload?(state: State): void | Promise<void>;
}

export interface PluginLoadOptions {
  /** Threads one inference may use, for plugins that run native code with thread pools. */
  readonly intraOpThreads: number;
}

/**
 * `portfolio.json`, beside the plugin: what ingest reports as the signature, since it
 * never executes the plugin. The plugin's own `signature` export wins once loaded.
 */
export interface PluginManifest {
  readonly signature?: Signature;
}
