import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

import type * as TfModule from '@tensorflow/tfjs';

import {
  PortfolioError,
  Signature,
  TensorSpecMessage,
} from '@portfolio/contracts';
import type { Datatype, Tensor } from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from '../engine-message';
import { LoadedModel, LoadOptions, ModelBackend } from '../model-backend';
import { isSavedModelFile, savedModelUnavailable } from './saved-model';
import { modelOnDisk } from './tfjs-io';
import { datatypeOfTf, datatypeOfTfjs, ModelJson } from './tfjs-model-json';
import {
  Tf,
  TfModelTensorInfo,
  TfNodeApi,
  TfRuntime,
  tfRuntime,
  TfSavedModel,
} from './tfjs-runtime';
import { fromTfTensor, toTfTensor } from './tfjs-tensors';

/**
 * TensorFlow models: TF.js layers and graph models (a model.json and its weight
 * shards) on the WebAssembly backend, or on TensorFlow's native library where
 * `@tensorflow/tfjs-node` is installed; SavedModels with `@tensorflow/tfjs-node` only.
 *
 * Threads: the WebAssembly backend runs single-threaded in Node (TF.js enables wasm
 * threads in browsers only) and tfjs-node sizes TensorFlow's pools once per process, so
 * `intraOpThreads` cannot be applied per model and is ignored.
 *
 * Memory, as the runtime's RSS measurement sees it (wasm backend, Node 20, measured
 * with a Dense 1024-4096-1024 model of 32 MiB float32 weights built by
 * @portfolio/testing's buildTfjsMlp):
 * - `warmUp`: about 30 MiB, TF.js's JavaScript (imported there) and the wasm module and
 *   its initial heap; 2 MiB of that is the wasm backend's own start.
 * - `load`: every weight is copied into the wasm heap as float32, quantized weights
 *   dequantized (a uint8 model of 8 MiB on disk holds 32 MiB, as tf.memory() says), plus
 *   the shard files read into JavaScript buffers until the garbage collector takes them:
 *   48 MiB of RSS for the 32 MiB model measured right after load, 32 MiB or less once
 *   GC has run. The runtime measures right after load, so it may count the shards too.
 * - `release`: disposes every tensor: `tf.memory()` numBytes and numTensors fall back to
 *   what they were (tested), but RSS does not fall (0.0 MiB change measured): the wasm
 *   heap (a WebAssembly.Memory) grows and never shrinks; the next model loaded on this
 *   thread reuses the freed heap, so it may measure less than it holds.
 */
export class TensorflowBackend implements ModelBackend {
  readonly format = 'tensorflow' as const;
  readonly eager = false;

  async warmUp(): Promise<void> {
    const { tf } = await tfRuntime();
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync());
  }

  /** `_options.intraOpThreads` cannot apply here: see the class comment. */
  async load(path: string, _options?: LoadOptions): Promise<LoadedModel> {
    if (isSavedModelFile(path)) {
      const rt = await tfRuntime();
      if (!rt.node) throw savedModelUnavailable();
      return loadSavedModel(rt.tf, rt.node, dirname(path));
    }
    if (!(await looksLikeJson(path)))
      throw new EngineError(
        'load',
        'the file is neither a TF.js model.json nor a SavedModel (saved_model.pb)',
        `${path}: not JSON, not a SavedModel protobuf`,
      );
    const { tf } = await runtimeFor('load');
    let onDisk: Awaited<ReturnType<typeof modelOnDisk>>;
    try {
      onDisk = await modelOnDisk(tf, path);
    } catch (e) {
      throw loadFailure(e);
    }
    try {
      if (onDisk.model.kind === 'layers') {
        const model = await tf.loadLayersModel(onDisk.handler);
        return guarded(() => new LayersModelHandle(tf, model), model);
      }
      const model = await tf.loadGraphModel(onDisk.handler);
      return guarded(
        () => new GraphModelHandle(tf, model, onDisk.model),
        model,
      );
    } catch (e) {
      throw loadFailure(e);
    }
  }
}

async function runtimeFor(stage: 'load'): Promise<TfRuntime> {
  try {
    return await tfRuntime();
  } catch (e) {
    const raw = errorMessage(e);
    throw new EngineError(
      stage,
      `TensorFlow.js failed to start: ${scrubEngineMessage(raw)}`,
      raw,
    );
  }
}

function guarded<T>(make: () => T, model: { dispose(): unknown }): T {
  try {
    return make();
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function looksLikeJson(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(64), 0, 64, 0);
    return /^(\uFEFF)?\s*\{/.test(
      buffer.subarray(0, bytesRead).toString('utf8'),
    );
  } finally {
    await file.close();
  }
}

function loadFailure(e: unknown): EngineError | PortfolioError {
  if (e instanceof EngineError) return e;
  const raw = errorMessage(e);
  // model.json that ingest accepted but is no longer valid: a load failure here.
  return new EngineError(
    'load',
    `TensorFlow.js refused the model: ${scrubEngineMessage(raw)}`,
    raw,
  );
}

/** Where a requested name is unknown or an input is missing: the caller's input. */
function checkNames(
  what: 'input' | 'output',
  given: readonly string[],
  known: readonly string[],
): void {
  const unknown = given.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new PortfolioError(
      'INVALID_INPUT',
      `the model has no ${what} ${unknown.map((n) => `"${n.slice(0, 100)}"`).join(', ')} (its ${what}s: ${known.join(', ')})`,
    );
}

function toTfInputs(
  tf: Tf,
  inputs: Readonly<Record<string, Tensor>>,
  names: readonly string[],
): TfModule.NamedTensorMap {
  checkNames('input', Object.keys(inputs), names);
  const missing = names.filter((n) => !(n in inputs));
  if (missing.length > 0)
    throw new PortfolioError(
      'INVALID_INPUT',
      `the model needs the input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')}`,
    );
  const out: TfModule.NamedTensorMap = {};
  try {
    for (const name of names) out[name] = toTfTensor(tf, name, inputs[name]);
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
  return out;
}

/** Reads the outputs and disposes them, whatever happens. */
async function readOutputs(
  tf: Tf,
  names: readonly string[],
  tensors: readonly TfModule.Tensor[],
): Promise<Record<string, Tensor>> {
  try {
    const out: Record<string, Tensor> = {};
    for (let i = 0; i < names.length; i++)
      out[names[i]] = await fromTfTensor(tensors[i]);
    return out;
  } finally {
    tf.dispose([...tensors]);
  }
}

function runFailure(e: unknown): unknown {
  if (e instanceof PortfolioError || e instanceof EngineError) return e;
  const raw = errorMessage(e);
  return new EngineError('run', scrubEngineMessage(raw), raw);
}

/**
 * A Keras-style model. Inputs are named after their input layers, outputs after the
 * layers that give them (the names Keras users know), shapes with -1 for the batch.
 */
class LayersModelHandle implements LoadedModel {
  readonly signature: Signature;
  private readonly inputNames: string[];
  private readonly outputNames: string[];

  constructor(
    private readonly tf: Tf,
    private readonly model: TfModule.LayersModel,
  ) {
    // Layer names, from the model's config. Not the symbolic tensors' names: TF.js makes
    // those unique per process, so a second model with the same layers gets `x_1`.
    this.inputNames = model.inputs.map((t) => t.sourceLayer.name);
    const layerNames = model.outputs.map((t) => t.sourceLayer.name);
    // One layer may give several outputs: those are told apart by their index.
    this.outputNames =
      new Set(layerNames).size === layerNames.length
        ? layerNames
        : model.outputs.map((t, i) => `${t.sourceLayer.name}:${i}`);
    this.signature = {
      inputs: model.inputs.map((t, i) =>
        spec(this.inputNames[i], t.dtype, t.shape),
      ),
      outputs: model.outputs.map((t, i) =>
        spec(this.outputNames[i], t.dtype, t.shape),
      ),
    };
  }

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const wanted = outputNames?.length ? [...outputNames] : this.outputNames;
    checkNames('output', wanted, this.outputNames);
    const feeds = toTfInputs(this.tf, inputs, this.inputNames);
    let outputs: TfModule.Tensor[];
    try {
      const result = this.model.predict(this.inputNames.map((n) => feeds[n]));
      outputs = Array.isArray(result) ? result : [result];
    } catch (e) {
      throw runFailure(e);
    } finally {
      this.tf.dispose(Object.values(feeds));
    }
    const keep = wanted.map((n) => this.outputNames.indexOf(n));
    this.tf.dispose(outputs.filter((_, i) => !keep.includes(i)));
    return readOutputs(
      this.tf,
      wanted,
      keep.map((i) => outputs[i]),
    );
  }

  async release(): Promise<void> {
    this.model.dispose();
  }
}

/**
 * A graph model (converted from a SavedModel or a frozen graph). Names are TF.js's:
 * the converter's signature keys where model.json has a signature, else the graph's
 * node names (`input_1:0`). Models with control flow (while loops, NMS) cannot run
 * synchronously; the first run that TF.js refuses as dynamic switches the model to
 * `executeAsync` for good.
 */
class GraphModelHandle implements LoadedModel {
  readonly signature: Signature;
  private readonly inputNames: string[];
  private readonly outputNames: string[];
  private dynamic = false;

  constructor(
    private readonly tf: Tf,
    private readonly model: TfModule.GraphModel,
    json: ModelJson,
  ) {
    this.inputNames = [...model.inputNodes];
    this.outputNames = [...model.outputNodes];
    const declared = declaredSignature(json);
    this.signature = {
      inputs: model.inputs.map((t, i) => {
        const name = this.inputNames[i];
        const fromJson = lookUp(declared.inputs, name, t.name);
        return t.dtype
          ? spec(name, t.dtype, t.shape ?? fromJson?.shape)
          : (fromJson ?? spec(name, 'float32', undefined));
      }),
      outputs: this.outputNames.map((name, i) => {
        const fromJson = lookUp(declared.outputs, name, model.outputs[i]?.name);
        if (fromJson) return { ...fromJson, name };
        return {
          name,
          datatype: nodeDatatype(json, name) ?? 'FP32',
          shape: [],
        };
      }),
    };
  }

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const wanted = outputNames?.length ? [...outputNames] : this.outputNames;
    const feeds = toTfInputs(this.tf, inputs, this.inputNames);
    try {
      let result: TfModule.Tensor | TfModule.Tensor[];
      if (!this.dynamic) {
        try {
          result = this.model.execute(feeds, wanted);
        } catch (e) {
          if (!/executeAsync|dynamic op/i.test(errorMessage(e))) throw e;
          this.dynamic = true;
          result = await this.model.executeAsync(feeds, wanted);
        }
      } else {
        result = await this.model.executeAsync(feeds, wanted);
      }
      return await readOutputs(
        this.tf,
        wanted,
        Array.isArray(result) ? result : [result],
      );
    } catch (e) {
      throw runFailure(e);
    } finally {
      this.tf.dispose(Object.values(feeds));
    }
  }

  async release(): Promise<void> {
    this.model.dispose();
  }
}

/** A SavedModel's `serving_default` signature, through TensorFlow's C library. */
async function loadSavedModel(
  tf: Tf,
  node: TfNodeApi,
  dir: string,
): Promise<LoadedModel> {
  let model: TfSavedModel;
  let signature: Signature;
  try {
    const metaGraphs = await node.getMetaGraphsFromSavedModel(dir);
    const serving =
      metaGraphs.find((m) => m.tags.includes('serve')) ?? metaGraphs[0];
    const def = serving?.signatureDefs['serving_default'];
    if (!serving || !def)
      throw new Error(
        'the SavedModel has no "serving_default" signature to run',
      );
    const specs = (side: Record<string, TfModelTensorInfo>) =>
      Object.entries(side).map(([key, info]) =>
        spec(key, info.dtype, info.shape),
      );
    signature = { inputs: specs(def.inputs), outputs: specs(def.outputs) };
    model = await node.loadSavedModel(dir, serving.tags, 'serving_default');
  } catch (e) {
    throw loadFailure(e);
  }
  const inputNames = signature.inputs.map((s) => s.name);
  const outputNames = signature.outputs.map((s) => s.name);
  return {
    signature,
    async run(inputs, wantedNames) {
      const wanted = wantedNames?.length ? [...wantedNames] : outputNames;
      checkNames('output', wanted, outputNames);
      const feeds = toTfInputs(tf, inputs, inputNames);
      let result: TfModule.Tensor | TfModule.Tensor[] | TfModule.NamedTensorMap;
      try {
        result = model.predict(feeds);
      } catch (e) {
        throw runFailure(e);
      } finally {
        tf.dispose(Object.values(feeds));
      }
      const byName: Record<string, TfModule.Tensor> =
        result instanceof tf.Tensor
          ? { [outputNames[0]]: result }
          : Array.isArray(result)
            ? Object.fromEntries(result.map((t, i) => [outputNames[i], t]))
            : result;
      tf.dispose(
        Object.entries(byName)
          .filter(([n]) => !wanted.includes(n))
          .map(([, t]) => t),
      );
      return readOutputs(
        tf,
        wanted,
        wanted.map((n) => byName[n]),
      );
    },
    async release() {
      model.dispose();
    },
  };
}

function spec(
  name: string,
  dtype: string | undefined,
  shape: readonly (number | null)[] | undefined,
): TensorSpecMessage {
  const datatype = datatypeOfTfjs(dtype);
  if (!datatype)
    throw new Error(
      `"${name}" is a ${dtype} tensor, which has no datatype in the inference protocol`,
    );
  return {
    name,
    datatype,
    shape: (shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  };
}

/** The converter's signature in model.json, by key and by tensor name. */
function declaredSignature(json: ModelJson): {
  inputs: Map<string, TensorSpecMessage>;
  outputs: Map<string, TensorSpecMessage>;
} {
  const signature = json.json['signature'] as
    | Record<string, Record<string, Record<string, unknown>> | undefined>
    | undefined;
  const side = (
    entries: Record<string, Record<string, unknown>> | undefined,
  ) => {
    const map = new Map<string, TensorSpecMessage>();
    for (const [key, info] of Object.entries(entries ?? {})) {
      const datatype = datatypeOfTf(info?.['dtype']);
      if (!datatype) continue;
      const dims = (
        info['tensorShape'] as { dim?: { size?: string }[] } | undefined
      )?.dim;
      const s: TensorSpecMessage = {
        name: key,
        datatype,
        shape: (dims ?? []).map((d) => {
          const n = Number(d.size ?? 0);
          return Number.isSafeInteger(n) && n >= 0 ? n : -1;
        }),
      };
      map.set(key, s);
      if (typeof info['name'] === 'string') map.set(info['name'], s);
    }
    return map;
  };
  return {
    inputs: side(signature?.['inputs']),
    outputs: side(signature?.['outputs']),
  };
}

function lookUp(
  declared: Map<string, TensorSpecMessage>,
  ...names: (string | undefined)[]
): TensorSpecMessage | undefined {
  for (const n of names) {
    if (n === undefined) continue;
    const found = declared.get(n) ?? declared.get(`${n}:0`);
    if (found) return found;
  }
  return undefined;
}

/** An output node's type, from its GraphDef attributes (`T` of an Identity, `dtype`, `DstT`). */
function nodeDatatype(json: ModelJson, output: string): Datatype | null {
  const nodeName = output.replace(/:\d+$/, '');
  const nodes = json.modelTopology['node'] as
    | { name?: string; attr?: Record<string, { type?: string }> }[]
    | undefined;
  const node = nodes?.find((n) => n.name === nodeName);
  const attr = node?.attr;
  if (!attr) return null;
  return (
    datatypeOfTf(attr['T']?.type) ??
    datatypeOfTf(attr['dtype']?.type) ??
    datatypeOfTf(attr['DstT']?.type) ??
    datatypeOfTf(attr['out_type']?.type)
  );
}

/** Errors from TF.js may come from another realm (jest's), so no instanceof. */
function errorMessage(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(e);
}
