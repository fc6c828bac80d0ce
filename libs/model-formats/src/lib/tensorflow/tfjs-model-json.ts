import { posix } from 'node:path';

import {
  PortfolioError,
  Signature,
  TensorSpecMessage,
} from '@portfolio/contracts';
import type { Datatype } from '@portfolio/tensor';

/**
 * The TF.js `model.json` as ingest and the backend read it: a topology (a Keras model
 * config for layers models, a GraphDef for graph models) and a weights manifest whose
 * groups name the shard files, relative to the model.json's directory, that hold the
 * group's weights back to back in manifest order.
 */
export interface ModelJson {
  readonly kind: 'layers' | 'graph';
  readonly json: Record<string, unknown>;
  readonly modelTopology: Record<string, unknown>;
  readonly weightsManifest: readonly WeightGroup[];
}

export interface WeightGroup {
  /** As written in the manifest. */
  readonly paths: readonly string[];
  /** Normalized, `/`-separated, relative to the model.json's directory. */
  readonly files: readonly string[];
  readonly weights: readonly WeightEntry[];
}

export interface WeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string };
}

/** Bytes per element of the dtypes TF.js writes in shards (strings are length-prefixed, so variable). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
};

/** What quantized weights are stored as; TF.js dequantizes them to their dtype on load. */
const QUANTIZED_BYTES: Readonly<Record<string, number>> = {
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function invalid(sentence: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', sentence);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Parses and validates a model.json by its content: JSON, a `modelTopology` of a layers
 * or a graph model, and a well-formed `weightsManifest` whose shard paths stay inside
 * the model's directory. Throws INVALID_ARTIFACT saying what is wrong.
 */
export function parseModelJson(text: string): ModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw invalid(
      `not a TF.js model.json: the file is not JSON (${(e as Error).message.slice(0, 120)})`,
    );
  }
  if (!isObject(json))
    throw invalid('not a TF.js model.json: the file is not a JSON object');
  const topology = json['modelTopology'];
  if (!isObject(topology))
    throw invalid('not a TF.js model.json: it has no "modelTopology" object');
  const kind = kindOf(json, topology);
  const manifest = json['weightsManifest'];
  if (!Array.isArray(manifest))
    throw invalid('not a TF.js model.json: it has no "weightsManifest" array');
  return {
    kind,
    json,
    modelTopology: topology,
    weightsManifest: manifest.map(parseGroup),
  };
}

/** Layers models carry a Keras config (`class_name`, possibly under `model_config`); graph models a GraphDef (`node`). */
function kindOf(
  json: Record<string, unknown>,
  topology: Record<string, unknown>,
): 'layers' | 'graph' {
  if (json['format'] === 'graph-model' || Array.isArray(topology['node']))
    return 'graph';
  const config = isObject(topology['model_config'])
    ? topology['model_config']
    : topology;
  if (typeof config['class_name'] === 'string') return 'layers';
  throw invalid(
    'not a TF.js model.json: its "modelTopology" is neither a layers model (class_name) nor a graph model (node)',
  );
}

function parseGroup(group: unknown, index: number): WeightGroup {
  const where = `weightsManifest[${index}]`;
  if (!isObject(group) || !Array.isArray(group['paths']))
    throw invalid(`not a TF.js model.json: ${where} has no "paths" array`);
  if (!Array.isArray(group['weights']))
    throw invalid(`not a TF.js model.json: ${where} has no "weights" array`);
  const paths = group['paths'].map((p, i) => {
    if (typeof p !== 'string' || p.length === 0)
      throw invalid(
        `not a TF.js model.json: ${where}.paths[${i}] is not a file name`,
      );
    return p;
  });
  return {
    paths,
    files: paths.map(shardFile),
    weights: group['weights'].map((w, i) =>
      parseWeight(w, `${where}.weights[${i}]`),
    ),
  };
}

function parseWeight(w: unknown, where: string): WeightEntry {
  if (!isObject(w) || typeof w['name'] !== 'string')
    throw invalid(`not a TF.js model.json: ${where} has no name`);
  const shape = w['shape'];
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
  )
    throw invalid(
      `not a TF.js model.json: weight "${w['name']}" has no valid shape`,
    );
  const dtype = w['dtype'];
  if (
    typeof dtype !== 'string' ||
    !(dtype in DTYPE_BYTES || dtype === 'string')
  )
    throw invalid(
      `not a TF.js model.json: weight "${w['name']}" has an unknown dtype ${JSON.stringify(dtype)}`,
    );
  const q = w['quantization'];
  if (q !== undefined && q !== null) {
    if (
      !isObject(q) ||
      typeof q['dtype'] !== 'string' ||
      !(q['dtype'] in QUANTIZED_BYTES)
    )
      throw invalid(
        `not a TF.js model.json: weight "${w['name']}" has an unknown quantization (dtypes: uint8, uint16, float16)`,
      );
    return {
      name: w['name'],
      shape: shape as number[],
      dtype,
      quantization: { dtype: q['dtype'] },
    };
  }
  return { name: w['name'], shape: shape as number[], dtype };
}

/**
 * A manifest path made relative to the model.json's directory. TF.js resolves shard
 * paths as URLs relative to the model.json; on disk, a path that leaves the directory
 * (`../`, absolute) would read files that are not the model's.
 */
function shardFile(path: string): string {
  const normalized = posix.normalize(path.replace(/\\/g, '/'));
  if (
    posix.isAbsolute(normalized) ||
    /^[A-Za-z]:/.test(normalized) ||
    normalized === '..' ||
    normalized.startsWith('../') ||
    normalized === '.' ||
    /^[a-z][a-z0-9+.-]*:\/\//i.test(path)
  )
    throw invalid(
      `the weights manifest names the shard "${path.slice(0, 100)}", which is not a file beside model.json`,
    );
  return normalized;
}

/**
 * The bytes a group's shards hold, by its manifest: TF.js packs a group's weights back
 * to back across its shards, so their sizes add up to exactly this. Null when a weight
 * is a string tensor (length-prefixed, so only its bytes tell its size).
 */
export function groupBytes(group: WeightGroup): number | null {
  let total = 0;
  for (const w of group.weights) {
    const per = w.quantization
      ? QUANTIZED_BYTES[w.quantization.dtype]
      : DTYPE_BYTES[w.dtype];
    if (per === undefined) return null;
    total += w.shape.reduce((a, b) => a * b, 1) * per;
  }
  return total;
}

/**
 * Checks every group's shards against the files uploaded beside model.json: each is
 * present, and their sizes add up to what the manifest implies. Throws INVALID_ARTIFACT
 * naming the missing shard or the mismatch.
 */
export function checkShards(
  model: ModelJson,
  beside: ReadonlyMap<string, number> | undefined,
): void {
  const needed = model.weightsManifest.flatMap((g) => g.files);
  if (needed.length === 0) return;
  if (!beside)
    throw invalid(
      'a TF.js model.json whose weights are in shard files cannot be uploaded alone: upload a tar or zip archive, or a multipart form, holding model.json and its shards ' +
        `(${needed.slice(0, 5).join(', ')})`,
    );
  const sizes = new Map<string, number>();
  for (const [p, size] of beside)
    sizes.set(posix.normalize(p.replace(/\\/g, '/')), size);
  model.weightsManifest.forEach((group, i) => {
    let actual = 0;
    for (const file of group.files) {
      const size = sizes.get(file);
      if (size === undefined)
        throw invalid(
          `the weight shard "${file.slice(0, 100)}" named by model.json is missing from the upload`,
        );
      actual += size;
    }
    const expected = groupBytes(group);
    if (expected !== null && expected !== actual)
      throw invalid(
        `the weight shards of weightsManifest[${i}] (${group.files.slice(0, 5).join(', ')}) hold ${actual} bytes, but the manifest's weights need ${expected}`,
      );
  });
}

/** TF.js dtypes as OIP datatypes; TF.js has no other tensor dtypes a model may take or give. */
export function datatypeOfTfjs(dtype: string | undefined): Datatype | null {
  switch (dtype) {
    case 'float32':
      return 'FP32';
    case 'int32':
      return 'INT32';
    case 'bool':
      return 'BOOL';
    case 'string':
      return 'BYTES';
    default:
      return null;
  }
}

/**
 * TensorFlow's DataType names as TF.js loads them: it computes in float32, int32, bool
 * and string only, so a uint8 or int64 placeholder takes int32 and a double one float32.
 */
export function datatypeOfTf(dtype: unknown): Datatype | null {
  switch (dtype) {
    case 'DT_FLOAT':
    case 'DT_HALF':
    case 'DT_DOUBLE':
      return 'FP32';
    case 'DT_INT32':
    case 'DT_INT64':
    case 'DT_INT16':
    case 'DT_INT8':
    case 'DT_UINT8':
    case 'DT_UINT16':
      return 'INT32';
    case 'DT_BOOL':
      return 'BOOL';
    case 'DT_STRING':
      return 'BYTES';
    default:
      return null;
  }
}

const EMPTY: Signature = { inputs: [], outputs: [] };

/**
 * The signature as far as model.json tells it. Layers models: the config's input layers
 * (`batch_input_shape`, `dtype`) and, where the output layers are Dense, their units.
 * Graph models: the `signature` the converter wrote, when it did. A list that cannot be
 * told whole is left empty: the runtime's load tells it.
 */
export function signatureOfModelJson(model: ModelJson): Signature {
  try {
    return model.kind === 'graph'
      ? graphSignature(model.json['signature'])
      : layersSignature(model.modelTopology);
  } catch {
    return EMPTY;
  }
}

function graphSignature(signature: unknown): Signature {
  if (!isObject(signature)) return EMPTY;
  const specs = (side: unknown): TensorSpecMessage[] => {
    if (!isObject(side)) return [];
    const out: TensorSpecMessage[] = [];
    for (const [key, info] of Object.entries(side)) {
      if (!isObject(info)) return [];
      const datatype = datatypeOfTf(info['dtype']);
      if (!datatype) return [];
      out.push({ name: key, datatype, shape: tfShape(info['tensorShape']) });
    }
    return out;
  };
  return {
    inputs: specs(signature['inputs']),
    outputs: specs(signature['outputs']),
  };
}

/** A TensorShapeProto as JSON: `{dim: [{size: "-1"}, ...]}`, sizes as strings; unknownRank: no shape. */
function tfShape(shape: unknown): number[] {
  if (!isObject(shape) || shape['unknownRank'] === true) return [];
  const dims = Array.isArray(shape['dim']) ? shape['dim'] : [];
  return dims.map((d) => {
    const size = Number(isObject(d) ? (d['size'] ?? 0) : Number.NaN);
    return Number.isSafeInteger(size) && size >= 0 ? size : -1;
  });
}

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
}

function layersSignature(topology: Record<string, unknown>): Signature {
  const model = (
    isObject(topology['model_config']) ? topology['model_config'] : topology
  ) as { class_name: string; config: unknown };
  const config = model.config;
  if (model.class_name === 'Sequential') {
    const layers = (
      Array.isArray(config)
        ? config
        : isObject(config)
          ? config['layers']
          : null
    ) as LayerJson[] | null;
    if (!layers?.length) return EMPTY;
    const first = layers[0];
    const last = layers[layers.length - 1];
    // TF.js names a Sequential model's input after its first layer unless that is an InputLayer.
    const inputName =
      first.class_name === 'InputLayer'
        ? layerName(first)
        : `${layerName(first)}_input`;
    const input = inputSpec(inputName, first);
    const output = staysTwoDimensional(layers, input ? [input] : [])
      ? outputSpec(last)
      : null;
    return {
      inputs: input ? [input] : [],
      outputs: output ? [output] : [],
    };
  }
  if (!isObject(config)) return EMPTY;
  const layers = config['layers'] as LayerJson[];
  const byName = new Map(layers.map((l) => [layerName(l), l]));
  const ends = (key: string) =>
    (config[key] as [string, number, number][]).map(([name]) =>
      byName.get(name),
    );
  const inputs = ends('input_layers').map((l) =>
    l ? inputSpec(layerName(l), l) : null,
  );
  const flat = staysTwoDimensional(
    layers,
    inputs.filter((s): s is TensorSpecMessage => s !== null),
  );
  const outputs = ends('output_layers').map((l) =>
    l && flat ? outputSpec(l) : null,
  );
  return {
    inputs: inputs.every((s) => s) ? (inputs as TensorSpecMessage[]) : [],
    outputs: outputs.every((s) => s) ? (outputs as TensorSpecMessage[]) : [],
  };
}

function layerName(layer: LayerJson): string {
  return String(layer.name ?? layer.config['name']);
}

function inputSpec(name: string, layer: LayerJson): TensorSpecMessage | null {
  const shape = layer.config['batch_input_shape'];
  if (!Array.isArray(shape)) return null;
  const datatype = datatypeOfTfjs(
    typeof layer.config['dtype'] === 'string'
      ? layer.config['dtype']
      : 'float32',
  );
  if (!datatype) return null;
  return {
    name,
    datatype,
    shape: shape.map((d) =>
      Number.isSafeInteger(d) && d >= 0 ? (d as number) : -1,
    ),
  };
}

/** Layers that keep a [batch, features] tensor [batch, something]. */
const TWO_DIMENSIONAL = new Set([
  'InputLayer',
  'Dense',
  'Dropout',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'Softmax',
  'BatchNormalization',
  'LayerNormalization',
  'Concatenate',
  'Add',
  'Subtract',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
]);

/**
 * Whether every tensor of the model is [batch, features]: its inputs are, and its
 * layers keep them so. Only then is a Dense output's shape [batch, units].
 */
function staysTwoDimensional(
  layers: readonly LayerJson[],
  inputs: readonly TensorSpecMessage[],
): boolean {
  return (
    inputs.length > 0 &&
    inputs.every((i) => i.shape.length === 2) &&
    layers.every((l) => TWO_DIMENSIONAL.has(l.class_name))
  );
}

/** A Dense layer's output in a two-dimensional model: [batch, units]. */
function outputSpec(layer: LayerJson): TensorSpecMessage | null {
  const units = layer.config['units'];
  if (layer.class_name !== 'Dense' || !Number.isSafeInteger(units)) return null;
  return {
    name: layerName(layer),
    datatype: 'FP32',
    shape: [-1, units as number],
  };
}
