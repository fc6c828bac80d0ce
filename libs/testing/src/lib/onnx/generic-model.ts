import { onnx } from 'onnx-proto';

/**
 * ONNX tensor element types (TensorProto.DataType) that fixtures use. The
 * builder accepts any DataType number; these names only save a lookup.
 */
export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** Model format versions every fixture is written with (ONNX 1.10 era, which onnxruntime 1.x reads). */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET_VERSION = 13;

/**
 * A dimension: a non-negative number is fixed, a string is a named symbolic
 * dimension (dim_param, e.g. 'batch'), and -1 is an unnamed unknown one.
 */
export type Dim = number | string;

export interface ValueSpec {
  name: string;
  elemType: number;
  shape: Dim[];
}

export interface InitializerSpec {
  name: string;
  elemType: number;
  dims: number[];
  /** Raw little-endian element bytes, as ONNX stores them in raw_data. */
  raw: Uint8Array;
}

/**
 * Attribute values. An integral number is written as INT and any other number
 * as FLOAT, so a FLOAT attribute whose value happens to be integral (alpha 1.0)
 * must be wrapped as `{ float: 1 }`; likewise `{ floats: [...] }`.
 */
export type AttributeValue =
  | number
  | number[]
  | string
  | { float: number }
  | { floats: number[] };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
  /** Defaults to `<opType>_<index>`. */
  name?: string;
}

export interface GenericModelSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: InitializerSpec[];
  nodes: NodeSpec[];
  docString?: string;
  metadata?: Record<string, string>;
  /** Graph name; defaults to 'portfolio_fixture'. */
  graphName?: string;
  /** Initializers stored outside the model file (see buildLargeModel). */
  externalInitializers?: ExternalInitializerSpec[];
}

/** An initializer whose bytes live in a separate file next to the model (ONNX external data). */
export interface ExternalInitializerSpec {
  name: string;
  elemType: number;
  dims: number[];
  /** File name relative to the directory the .onnx file is written to. */
  location: string;
  offset: number;
  length: number;
}

/**
 * Encodes a complete ONNX model (IR 8, default-domain opset 13). The bytes are
 * a pure function of the spec, so fixtures built from the same spec compare
 * equal byte for byte. Validity of the graph itself (op arity, types) is left
 * to the runtime that loads it.
 */
export function buildGenericModel(spec: GenericModelSpec): Uint8Array {
  const graph: onnx.IGraphProto = {
    name: spec.graphName ?? 'portfolio_fixture',
    input: spec.inputs.map(valueInfo),
    output: spec.outputs.map(valueInfo),
    initializer: [
      ...(spec.initializers ?? []).map(
        (init): onnx.ITensorProto => ({
          name: init.name,
          dataType: init.elemType,
          dims: init.dims,
          rawData: init.raw,
        }),
      ),
      ...(spec.externalInitializers ?? []).map(
        (init): onnx.ITensorProto => ({
          name: init.name,
          dataType: init.elemType,
          dims: init.dims,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: init.location },
            { key: 'offset', value: String(init.offset) },
            { key: 'length', value: String(init.length) },
          ],
        }),
      ),
    ],
    node: spec.nodes.map(
      (node, index): onnx.INodeProto => ({
        name: node.name ?? `${node.opType}_${index}`,
        opType: node.opType,
        input: node.inputs,
        output: node.outputs,
        attribute: Object.entries(node.attributes ?? {}).map(([name, value]) =>
          attribute(name, value),
        ),
      }),
    ),
  };
  const model: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET_VERSION }],
    producerName: 'portfolio-testing',
    producerVersion: '1',
    docString: spec.docString ?? '',
    graph,
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({
      key,
      value,
    })),
  };
  return onnx.ModelProto.encode(model).finish();
}

function valueInfo(value: ValueSpec): onnx.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: value.elemType,
        shape: { dim: value.shape.map(dimension) },
      },
    },
  };
}

function dimension(dim: Dim): onnx.TensorShapeProto.IDimension {
  if (typeof dim === 'string') return { dimParam: dim };
  if (dim === -1) return {};
  if (!Number.isInteger(dim) || dim < 0) {
    throw new Error(
      `Invalid ONNX dimension ${dim}: use a non-negative integer, -1 or a symbolic name`,
    );
  }
  return { dimValue: dim };
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') {
    return {
      name,
      type: AttributeType.STRING,
      s: new TextEncoder().encode(value),
    };
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  }
  if (Array.isArray(value)) {
    return value.every((v) => Number.isInteger(v))
      ? { name, type: AttributeType.INTS, ints: value }
      : { name, type: AttributeType.FLOATS, floats: value };
  }
  if ('float' in value)
    return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

/** Little-endian FP32 bytes, the layout of TensorProto.raw_data whatever the host's byte order. */
export function float32Raw(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++)
    view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** Little-endian INT64 bytes for TensorProto.raw_data. */
export function int64Raw(values: ArrayLike<number | bigint>): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++)
    view.setBigInt64(i * 8, BigInt(values[i]), true);
  return bytes;
}
