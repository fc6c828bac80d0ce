import { Datatype, fromOnnxElemType } from '@portfolio/tensor';
import {
  PortfolioError,
  Signature,
  TensorSpecMessage,
} from '@portfolio/contracts';

import { scrubEngineMessage } from '../engine-message';
import {
  FileProtoReader,
  ProtoField,
  ProtoFormatError,
  WIRE_LEN,
  WIRE_VARINT,
} from '../protobuf/file-proto-reader';

/** What ingest learns about an ONNX file without loading it into a runtime. */
export interface OnnxInspection {
  signature: Signature;
  irVersion: number;
  opsets: Record<string, number>;
  producer: string | null;
  metadata: Record<string, string>;
}

// Field numbers from onnx.proto (stable across IR versions).
const MODEL = {
  irVersion: 1,
  producerName: 2,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
};
const GRAPH = {
  node: 1,
  initializer: 5,
  input: 11,
  output: 12,
  sparseInitializer: 15,
};
const NODE = { opType: 4, attribute: 5, name: 3 };
const ATTRIBUTE = { name: 1, t: 5, g: 6, tensors: 10, graphs: 11 };
const TENSOR = {
  dims: 1,
  dataType: 2,
  name: 8,
  rawData: 9,
  externalData: 13,
  dataLocation: 14,
};
/** TensorProto's typed data fields: float, int32, string, int64, double, uint64. */
const TENSOR_TYPED_DATA = new Set([4, 5, 6, 7, 10, 11]);
/**
 * Bytes per element of ONNX's fixed-size element types (onnx.proto's DataType);
 * strings (8) have none, 4-bit types (21, 22) pack two per byte.
 */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  1: 4,
  2: 1,
  3: 1,
  4: 2,
  5: 2,
  6: 4,
  7: 8,
  9: 1,
  10: 2,
  11: 8,
  12: 4,
  13: 8,
  14: 8,
  15: 16,
  16: 2,
  17: 1,
  18: 1,
  19: 1,
  20: 1,
  21: 0.5,
  22: 0.5,
};
const SPARSE_TENSOR = { values: 1 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensor: 1, sequence: 4, map: 5, sparseTensor: 8, optional: 9 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE = { dim: 1 };
const DIM = { value: 1, param: 2 };
const DATA_LOCATION_EXTERNAL = 1;

/**
 * Validates that `path` is a well-formed ONNX ModelProto and extracts its signature.
 * `beside`: the files uploaded with it (paths relative to its directory, and sizes), which
 * its initializers may keep their weights in; without it, external data is refused.
 * Inputs that are also initializers (IR < 4 lists weights as inputs) are not part of
 * the signature. Throws INVALID_ARTIFACT with a sentence saying what is wrong.
 */
export function inspectOnnxFile(
  path: string,
  beside?: ReadonlyMap<string, number>,
): OnnxInspection {
  let reader: FileProtoReader;
  try {
    reader = new FileProtoReader(path);
  } catch (e) {
    throw new PortfolioError(
      'ARTIFACT_NOT_FOUND',
      `cannot open the artifact: ${scrubEngineMessage((e as Error).message)}`,
    );
  }
  try {
    return inspect(reader, beside);
  } catch (e) {
    if (e instanceof ProtoFormatError) {
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        `not a valid ONNX model: ${e.message}`,
      );
    }
    throw e;
  } finally {
    reader.close();
  }
}

function inspect(
  reader: FileProtoReader,
  beside: ReadonlyMap<string, number> | undefined,
): OnnxInspection {
  if (reader.size === 0)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      'not a valid ONNX model: the file is empty',
    );
  let irVersion: number | null = null;
  let graph: ProtoField | null = null;
  let producer: string | null = null;
  const opsets: Record<string, number> = {};
  const metadata: Record<string, string> = {};

  for (const f of reader.fields(0, reader.size)) {
    if (f.number === MODEL.irVersion && f.wireType === WIRE_VARINT)
      irVersion = f.value;
    else if (f.number === MODEL.graph && f.wireType === WIRE_LEN) graph = f;
    else if (f.number === MODEL.producerName && f.wireType === WIRE_LEN)
      producer = reader.string(f);
    else if (f.number === MODEL.opsetImport && f.wireType === WIRE_LEN) {
      let domain = '';
      let version = 0;
      for (const g of reader.fields(f.start, f.end)) {
        if (g.number === 1 && g.wireType === WIRE_LEN)
          domain = reader.string(g);
        else if (g.number === 2 && g.wireType === WIRE_VARINT)
          version = g.value;
      }
      opsets[domain || 'ai.onnx'] = version;
    } else if (f.number === MODEL.metadataProps && f.wireType === WIRE_LEN) {
      const [k, v] = stringPair(reader, f);
      if (k) metadata[k] = v;
    }
  }
  if (irVersion === null || irVersion < 1)
    throw invalid('it has no ir_version (is this really an .onnx file?)');
  if (!graph) throw invalid('it has no graph');
  if (Object.keys(opsets).length === 0)
    throw invalid('it imports no operator set');

  const initializers = new Set<string>();
  const inputs: TensorSpecMessage[] = [];
  const outputs: TensorSpecMessage[] = [];
  for (const f of reader.fields(graph.start, graph.end)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.number === GRAPH.initializer)
      initializers.add(tensorName(reader, f, beside));
    else if (f.number === GRAPH.sparseInitializer) {
      for (const g of reader.fields(f.start, f.end)) {
        if (g.number === SPARSE_TENSOR.values && g.wireType === WIRE_LEN)
          initializers.add(tensorName(reader, g, beside, false));
      }
    } else if (f.number === GRAPH.node) checkNode(reader, f, beside, 0);
    else if (f.number === GRAPH.input)
      inputs.push(valueInfo(reader, f, 'input'));
    else if (f.number === GRAPH.output)
      outputs.push(valueInfo(reader, f, 'output'));
  }
  const signature = {
    inputs: inputs.filter((i) => !initializers.has(i.name)),
    outputs,
  };
  if (signature.outputs.length === 0) throw invalid('its graph has no outputs');
  return { signature, irVersion, opsets, producer, metadata };
}

/**
 * An initializer's name, once its data is checked: a tensor that declares more elements
 * than it holds (or points outside the files uploaded with it) can never load, and
 * ONNX Runtime would find that out only when a runtime loads it. `sized`: false for a
 * sparse tensor's values, whose dims are the dense tensor's.
 */
function tensorName(
  reader: FileProtoReader,
  tensor: ProtoField,
  beside: ReadonlyMap<string, number> | undefined,
  sized = true,
  what?: string,
): string {
  let name = '';
  let external = false;
  let dataType = 0;
  let rawBytes: number | null = null;
  let typedData = false;
  const dims: number[] = [];
  const where: Record<string, string> = {};
  for (const f of reader.fields(tensor.start, tensor.end)) {
    if (f.number === TENSOR.name && f.wireType === WIRE_LEN)
      name = reader.string(f);
    else if (f.number === TENSOR.dims) dims.push(...reader.varints(f));
    else if (f.number === TENSOR.dataType && f.wireType === WIRE_VARINT)
      dataType = f.value;
    else if (f.number === TENSOR.rawData && f.wireType === WIRE_LEN)
      rawBytes = f.end - f.start;
    else if (TENSOR_TYPED_DATA.has(f.number)) typedData = true;
    else if (f.number === TENSOR.externalData && f.wireType === WIRE_LEN) {
      const [k, v] = stringPair(reader, f);
      where[k] = v;
    } else if (
      f.number === TENSOR.dataLocation &&
      f.wireType === WIRE_VARINT &&
      f.value === DATA_LOCATION_EXTERNAL
    )
      external = true;
  }
  const label = what ?? `initializer "${name || '?'}"`;
  const elementBytes = ELEMENT_BYTES[dataType];
  const elements = dims.reduce((n, d) => n * d, 1);
  const expected =
    sized && elementBytes !== undefined
      ? Math.ceil(elements * elementBytes)
      : null;
  if (external) {
    const length = checkExternalData(label, where, beside);
    if (expected !== null && length !== expected)
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        `${label} declares ${describeDims(dims)} (${expected} bytes) but its external data holds ${length} bytes`,
      );
  } else if (expected !== null && expected > 0) {
    if (!rawBytes && !typedData)
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        `${label} declares ${describeDims(dims)} (${expected} bytes) but holds no data`,
      );
    if (rawBytes && rawBytes !== expected)
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        `${label} declares ${describeDims(dims)} (${expected} bytes) but holds ${rawBytes} bytes of data`,
      );
  }
  return name;
}

function describeDims(dims: readonly number[]): string {
  return `shape [${dims.join(', ')}]`;
}

/** Subgraphs nest (If, Loop, Scan); deeper than this is not a model but an attack. */
const MAX_GRAPH_DEPTH = 32;

/**
 * A node's tensor attributes (a Constant's value, say) are checked like initializers:
 * ONNX Runtime reads their external data too. Subgraphs are checked the same way.
 */
function checkNode(
  reader: FileProtoReader,
  node: ProtoField,
  beside: ReadonlyMap<string, number> | undefined,
  depth: number,
): void {
  if (depth > MAX_GRAPH_DEPTH)
    throw invalid(`its subgraphs nest more than ${MAX_GRAPH_DEPTH} deep`);
  let nodeName = '';
  let opType = '';
  const attributes: ProtoField[] = [];
  for (const f of reader.fields(node.start, node.end)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.number === NODE.name) nodeName = reader.string(f);
    else if (f.number === NODE.opType) opType = reader.string(f);
    else if (f.number === NODE.attribute) attributes.push(f);
  }
  const what = `node "${nodeName || '?'}" (${opType || '?'})`;
  for (const a of attributes) {
    let attributeName = '';
    for (const f of reader.fields(a.start, a.end)) {
      if (f.wireType !== WIRE_LEN) continue;
      if (f.number === ATTRIBUTE.name) attributeName = reader.string(f);
      else if (f.number === ATTRIBUTE.t || f.number === ATTRIBUTE.tensors)
        tensorName(
          reader,
          f,
          beside,
          true,
          `${what}'s attribute "${attributeName || '?'}"`,
        );
      else if (f.number === ATTRIBUTE.g || f.number === ATTRIBUTE.graphs) {
        for (const g of reader.fields(f.start, f.end)) {
          if (g.wireType !== WIRE_LEN) continue;
          if (g.number === GRAPH.node) checkNode(reader, g, beside, depth + 1);
          else if (g.number === GRAPH.initializer)
            tensorName(reader, g, beside);
        }
      }
    }
  }
}

/**
 * An initializer (`name`: how to call it in a message) whose weights live in another file must name a file that came with the
 * model (`beside`: paths relative to the model's directory, with their sizes), inside
 * that directory, and a range within it; onnxruntime reads it from there at load.
 */
function checkExternalData(
  name: string,
  where: Record<string, string>,
  beside: ReadonlyMap<string, number> | undefined,
): number {
  const location = where['location'] ?? '';
  if (!beside)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${name} keeps its weights in an external data file ("${location.slice(0, 200)}"); upload the model together with that file (multipart/form-data with both files, or a tar or zip archive)`,
    );
  const parts = location.split('/');
  if (
    location === '' ||
    location.startsWith('/') ||
    location.includes('\\') ||
    parts.some((p) => p === '..' || p === '')
  )
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${name} names its external data file as "${location.slice(0, 200)}"; it must be a relative path inside the model's directory`,
    );
  const normalized = parts.filter((p) => p !== '.').join('/');
  const size = beside.get(normalized);
  if (size === undefined)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${name} keeps its weights in "${normalized.slice(0, 200)}", which is not part of the upload`,
    );
  const offset = Number(where['offset'] ?? '0');
  const length =
    where['length'] !== undefined ? Number(where['length']) : size - offset;
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  )
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${name} reads bytes ${where['offset'] ?? '0'}..+${where['length'] ?? '?'} of "${normalized.slice(0, 200)}", which holds ${size} bytes`,
    );
  return length;
}

function valueInfo(
  reader: FileProtoReader,
  info: ProtoField,
  role: 'input' | 'output',
): TensorSpecMessage {
  let name = '';
  let type: ProtoField | null = null;
  for (const f of reader.fields(info.start, info.end)) {
    if (f.number === VALUE_INFO.name && f.wireType === WIRE_LEN)
      name = reader.string(f);
    else if (f.number === VALUE_INFO.type && f.wireType === WIRE_LEN) type = f;
  }
  if (!name) throw invalid(`an ${role} has no name`);
  if (!type) throw invalid(`${role} "${name}" has no type`);

  let tensorType: ProtoField | null = null;
  let other: string | null = null;
  for (const f of reader.fields(type.start, type.end)) {
    if (f.number === TYPE.tensor && f.wireType === WIRE_LEN) tensorType = f;
    else if (f.number === TYPE.sequence) other = 'a sequence';
    else if (f.number === TYPE.map) other = 'a map';
    else if (f.number === TYPE.sparseTensor) other = 'a sparse tensor';
    else if (f.number === TYPE.optional) other = 'an optional';
  }
  if (!tensorType) {
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${role} "${name}" is ${other ?? 'not a tensor'}; only tensor inputs and outputs are supported` +
        (other === 'a sequence' || other === 'a map'
          ? ' (for scikit-learn converters, export with zipmap=False)'
          : ''),
    );
  }

  let elemType = 0;
  let shape: number[] = [];
  let hasShape = false;
  for (const f of reader.fields(tensorType.start, tensorType.end)) {
    if (f.number === TENSOR_TYPE.elemType && f.wireType === WIRE_VARINT)
      elemType = f.value;
    else if (f.number === TENSOR_TYPE.shape && f.wireType === WIRE_LEN) {
      hasShape = true;
      shape = [];
      for (const d of reader.fields(f.start, f.end)) {
        if (d.number === SHAPE.dim && d.wireType === WIRE_LEN)
          shape.push(dimension(reader, d));
      }
    }
  }
  const datatype: Datatype | null = fromOnnxElemType(elemType);
  if (!datatype) {
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `${role} "${name}" has ONNX element type ${elemType}, which is not supported`,
    );
  }
  if (!hasShape) {
    // No shape means "any rank". Inputs are validated against their shape, so an input
    // must declare one; an output without one (some exporters skip shape inference) is
    // described as one variable dimension, which is all a client can rely on.
    if (role === 'input')
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        `input "${name}" declares no shape`,
      );
    shape = [-1];
  }
  return { name, datatype, shape };
}

function dimension(reader: FileProtoReader, dim: ProtoField): number {
  for (const f of reader.fields(dim.start, dim.end)) {
    if (f.number === DIM.value && f.wireType === WIRE_VARINT)
      return f.value > Number.MAX_SAFE_INTEGER ? -1 : f.value;
    if (f.number === DIM.param) return -1;
  }
  return -1;
}

function stringPair(
  reader: FileProtoReader,
  entry: ProtoField,
): [string, string] {
  let key = '';
  let value = '';
  for (const f of reader.fields(entry.start, entry.end)) {
    if (f.number === 1 && f.wireType === WIRE_LEN) key = reader.string(f);
    else if (f.number === 2 && f.wireType === WIRE_LEN)
      value = reader.string(f, 1024 * 1024);
  }
  return [key, value];
}

function invalid(reason: string): PortfolioError {
  return new PortfolioError(
    'INVALID_ARTIFACT',
    `not a valid ONNX model: ${reason}`,
  );
}
