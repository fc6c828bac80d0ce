import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { Signature, SignatureSchema } from '@portfolio/contracts';
import { bytesPerElement, isDatatype, Tensor } from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from '../engine-message';
import { LoadedModel, LoadOptions, ModelBackend } from '../model-backend';
import type { PortfolioPlugin } from './plugin-contract';
import { loadPluginModule, pluginModulePath } from './plugin-module';

/**
 * Custom models: JavaScript plugins (see plugin-contract.ts) run in the runtime's
 * worker thread. Their memory is whatever they allocate in this process, which the
 * runtime measures as its RSS delta around `load`.
 *
 * SECURITY: plugins are arbitrary code with the runtime's rights; only admin API keys
 * can register model versions, which is what keeps them trusted.
 */
export class CustomBackend implements ModelBackend {
  readonly format = 'custom' as const;
  readonly eager = false;

  async warmUp(): Promise<void> {
    // No framework: a plugin brings its own code, measured as the model's.
  }

  /** `path`: the plugin file, or a package.json whose `main` names it. */
  async load(path: string, options: LoadOptions): Promise<LoadedModel> {
    const dir = dirname(path);
    const fail = (what: string, e: unknown): EngineError => {
      const raw = errorMessage(e);
      return new EngineError(
        'load',
        `${what}: ${scrubEngineMessage(raw)}`,
        raw,
      );
    };
    let exports: Record<string, unknown>;
    try {
      exports = await loadPluginModule(pluginModulePath(path));
    } catch (e) {
      throw fail('the plugin module could not be loaded', e);
    }
    const plugin = pluginOf(exports);
    let state: unknown;
    try {
      state = await plugin.load(dir, {
        intraOpThreads: options.intraOpThreads,
      });
    } catch (e) {
      throw fail("the plugin's load failed", e);
    }
    try {
      const signature = await signatureOf(plugin, dir);
      return new CustomModel(plugin, state, signature);
    } catch (e) {
      await plugin.unload?.(state);
      throw e instanceof EngineError
        ? e
        : fail("the plugin's signature is invalid", e);
    }
  }
}

class CustomModel implements LoadedModel {
  private released = false;

  constructor(
    private readonly plugin: PortfolioPlugin,
    private readonly state: unknown,
    readonly signature: Signature,
  ) {}

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (this.released)
      throw new EngineError('run', 'the model was released', 'released');
    let outputs: unknown;
    try {
      outputs = await this.plugin.predict(this.state, inputs);
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError(
        'run',
        `the plugin's predict failed: ${scrubEngineMessage(raw)}`,
        raw,
      );
    }
    const checked = checkOutputs(outputs);
    if (!outputNames?.length) return checked;
    const picked: Record<string, Tensor> = {};
    for (const name of outputNames) {
      if (!(name in checked))
        throw runError(
          `the plugin returned no output "${name}" (it returned ${Object.keys(checked).join(', ') || 'none'})`,
        );
      picked[name] = checked[name];
    }
    return picked;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.plugin.unload?.(this.state);
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError(
        'run',
        `the plugin's unload failed: ${scrubEngineMessage(raw)}`,
        raw,
      );
    }
  }
}

/**
 * The plugin among a module's exports: its named exports, or the object a CommonJS
 * module assigns to `module.exports` / an ES module exports as default.
 */
function pluginOf(exports: Record<string, unknown>): PortfolioPlugin {
  const fallback = exports['default'];
  const candidate =
    typeof exports['predict'] !== 'function' &&
    typeof fallback === 'object' &&
    fallback !== null
      ? (fallback as Record<string, unknown>)
      : exports;
  const missing = (['load', 'predict'] as const).filter(
    (name) => typeof candidate[name] !== 'function',
  );
  const unload = candidate['unload'];
  const signature = candidate['signature'];
  const problems = [
    ...missing.map((name) => `${name}() (a function)`),
    ...(unload !== undefined && typeof unload !== 'function'
      ? ['unload() as a function, if at all']
      : []),
    ...(signature !== undefined &&
    typeof signature !== 'function' &&
    typeof signature !== 'object'
      ? ['signature as an object or a function, if at all']
      : []),
  ];
  if (problems.length > 0) {
    const found = Object.keys(candidate).filter((k) => k !== 'default');
    const sentence = `the plugin must export ${problems.join(' and ')}; it exports ${found.join(', ') || 'nothing'}`;
    throw new EngineError('load', sentence, sentence);
  }
  return candidate as unknown as PortfolioPlugin;
}

/** The plugin's signature export (called with its directory if a function), else portfolio.json's. */
async function signatureOf(
  plugin: PortfolioPlugin,
  dir: string,
): Promise<Signature> {
  let declared: unknown = plugin.signature;
  if (typeof declared === 'function')
    declared = await (declared as (dir: string) => unknown)(dir);
  if (declared === undefined) {
    const manifest = join(dir, 'portfolio.json');
    if (existsSync(manifest))
      declared = (
        JSON.parse(readFileSync(manifest, 'utf8')) as {
          signature?: unknown;
        }
      ).signature;
  }
  if (declared === undefined) {
    const sentence =
      'the plugin declares no signature: export `signature` or put one in portfolio.json beside it';
    throw new EngineError('load', sentence, sentence);
  }
  const parsed = SignatureSchema.safeParse(declared);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const sentence = `the plugin's signature is invalid at ${issue.path.join('.') || 'its root'}: ${issue.message}`;
    throw new EngineError('load', sentence, sentence);
  }
  return parsed.data;
}

/** Storage class per datatype, by name: arrays from another realm fail instanceof. */
function storageOf(datatype: Tensor['datatype']): string {
  if (datatype === 'BYTES') return 'Array';
  if (datatype === 'BOOL') return 'Uint8Array';
  if (datatype === 'FP16') return 'Uint16Array';
  if (datatype === 'FP32') return 'Float32Array';
  if (datatype === 'FP64') return 'Float64Array';
  const bits = (bytesPerElement(datatype) ?? 0) * 8;
  const signed = datatype.startsWith('INT');
  return bits === 64
    ? `Big${signed ? 'Int' : 'Uint'}64Array`
    : `${signed ? 'Int' : 'Uint'}${bits}Array`;
}

function storageNameOf(data: unknown): string {
  if (Array.isArray(data)) return 'Array';
  if (ArrayBuffer.isView(data))
    return Object.prototype.toString.call(data).slice(8, -1);
  return data === null ? 'null' : typeof data;
}

/** What predict returned, checked to be tensors the rest of the server can encode. */
function checkOutputs(outputs: unknown): Record<string, Tensor> {
  if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs))
    throw runError(
      `the plugin's predict must return an object of named tensors, not ${Array.isArray(outputs) ? 'an array' : String(outputs)}`,
    );
  const checked: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(outputs)) {
    const t = value as Partial<Tensor> | null;
    const bad = (why: string) =>
      runError(`the plugin's output "${name}" ${why}`);
    if (typeof t !== 'object' || t === null)
      throw bad('is not a tensor ({ datatype, shape, data })');
    if (!isDatatype(t.datatype))
      throw bad(`has an unknown datatype ${JSON.stringify(t.datatype)}`);
    if (
      !Array.isArray(t.shape) ||
      !t.shape.every((d) => Number.isInteger(d) && d >= 0)
    )
      throw bad('has no shape (an array of non-negative integers)');
    const storage = storageOf(t.datatype);
    if (storageNameOf(t.data) !== storage)
      throw bad(
        `is ${t.datatype}, whose data must be a ${storage}, not a ${storageNameOf(t.data)}`,
      );
    const data = t.data as Tensor['data'];
    const expected = t.shape.reduce((a, d) => a * d, 1);
    if (data.length !== expected)
      throw bad(
        `has ${data.length} values where its shape [${t.shape.join(', ')}] holds ${expected}`,
      );
    if (
      t.datatype === 'BYTES' &&
      !(data as unknown[]).every((s) => typeof s === 'string')
    )
      throw bad('is BYTES, whose values must be strings');
    checked[name] = { datatype: t.datatype, shape: [...t.shape], data };
  }
  return checked;
}

function runError(sentence: string): EngineError {
  return new EngineError('run', sentence, sentence);
}

/** Errors may come from another realm (jest's, a plugin's), so no instanceof. */
function errorMessage(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(e);
}
