import { DATATYPES, isDatatype, type Datatype } from './datatype';
import { describeValue, elementProblem, rowWriter } from './json-element.util';
import { PackedNumbers } from './packed-numbers';
import { formatShape, isConcreteShape, MAX_ELEMENTS } from './shape.util';
import { checkTensor, datatypeMismatch } from './tensor.check';
import { inputError, type TensorError } from './tensor.error';
import type { Tensor, TensorData, TensorSpec } from './tensor.types';

/**
 * Deepest nesting accepted from JSON. Shape walking recurses once per
 * dimension, so this bounds stack use against hostile input; real models stay
 * far below it.
 */
export const MAX_RANK = 64;

/**
 * Parses one request input into a tensor, then (when `spec` is given) checks
 * it with checkTensor.
 *
 * `value` is either
 * - a nested array or a bare scalar: the datatype is `spec.datatype`, or when
 *   there is no spec inferred from the first element (number -> FP32,
 *   boolean -> BOOL, string -> BYTES, bigint -> INT64); the shape is the
 *   nesting, which must be rectangular; or
 * - a tensor object `{ shape, datatype, data }` (KServe v2 style; other keys
 *   such as `name` or `parameters` are ignored) whose `data` is flat or nested
 *   and must hold exactly the elements `shape` calls for.
 *
 * The input is read in passes that build no intermediate arrays: measure the
 * shape along the first elements, verify every row length (cost proportional
 * to the number of rows, so storage is only allocated for elements that
 * exist), then convert elements straight into the typed array.
 */
export function tensorFromJson(
  name: string,
  value: unknown,
  spec: TensorSpec | null,
): Tensor {
  const tensor =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof PackedNumbers)
      ? fromTensorObject(name, value as Record<string, unknown>, spec)
      : fromNested(name, value, spec);
  if (spec !== null) checkTensor(name, tensor, spec);
  return tensor;
}

function fromNested(
  name: string,
  value: unknown,
  spec: TensorSpec | null,
): Tensor {
  if (value instanceof PackedNumbers) {
    const shape = [...value.shape];
    const datatype = spec?.datatype ?? 'FP32';
    return {
      datatype,
      shape,
      data: fillPacked(name, datatype, value, checkedCount(name, shape)),
    };
  }
  if (
    value === null ||
    value === undefined ||
    typeof value === 'function' ||
    typeof value === 'symbol'
  ) {
    throw inputError(
      name,
      `expected a nested array, a scalar or a tensor object {shape, datatype, data}, got ${describeValue(value)}`,
    );
  }
  const shape = measure(name, value);
  verifyRows(name, value, shape);
  const datatype = spec?.datatype ?? inferDatatype(value);
  return {
    datatype,
    shape,
    data: fill(name, datatype, value, shape, checkedCount(name, shape)),
  };
}

function fromTensorObject(
  name: string,
  obj: Record<string, unknown>,
  spec: TensorSpec | null,
): Tensor {
  const { shape, datatype, data } = obj;
  for (const key of ['shape', 'datatype', 'data'] as const) {
    if (obj[key] === undefined) {
      throw inputError(
        name,
        `tensor object is missing "${key}"; expected {shape, datatype, data}`,
      );
    }
  }
  if (!isDatatype(datatype)) {
    throw inputError(
      name,
      `unknown datatype ${describeValue(datatype)}; expected one of ${DATATYPES.join(', ')}`,
    );
  }
  if (!isConcreteShape(shape)) {
    const shown = Array.isArray(shape)
      ? formatShape(shape.map(describeValue))
      : describeValue(shape);
    throw inputError(
      name,
      `shape must be an array of non-negative integers, got ${shown}`,
    );
  }
  if (shape.length > MAX_RANK) {
    throw inputError(
      name,
      `shape has rank ${shape.length}, more than the limit of ${MAX_RANK}`,
    );
  }
  // Before touching the data: with the wrong datatype every element error
  // would be a symptom of this one.
  if (spec !== null && datatype !== spec.datatype)
    throw datatypeMismatch(name, datatype, shape, spec);
  const count = checkedCount(name, shape);
  const packed = data instanceof PackedNumbers ? data : null;
  const dataShape = packed ? [...packed.shape] : measure(name, data);
  if (!packed) verifyRows(name, data, dataShape);
  const got = product(dataShape);
  if (got !== count) {
    throw inputError(
      name,
      `shape ${formatShape(shape)} needs ${count} elements, got ${got}`,
      {
        shape: [...shape],
        elements: got,
      },
    );
  }
  return {
    datatype,
    shape: [...shape],
    data: packed
      ? fillPacked(name, datatype, packed, count)
      : fill(name, datatype, data, dataShape, count),
  };
}

/** Dimensions along the first element of each level; verifyRows checks the rest agree. */
function measure(name: string, value: unknown): number[] {
  const shape: number[] = [];
  let node = value;
  while (Array.isArray(node)) {
    if (shape.length === MAX_RANK) {
      throw inputError(
        name,
        `array is nested more than ${MAX_RANK} levels deep`,
      );
    }
    shape.push(node.length);
    if (node.length === 0) break;
    node = node[0];
  }
  return shape;
}

/** Checks every row above the innermost level has the measured length; leaves are checked by fill. */
function verifyRows(
  name: string,
  root: unknown,
  shape: readonly number[],
): void {
  const rank = shape.length;
  if (rank < 2) return;
  const path: number[] = [];
  const visit = (rows: readonly unknown[], depth: number): void => {
    const want = shape[depth + 1];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      path[depth] = i;
      if (!Array.isArray(row)) {
        throw ragged(
          name,
          `row ${formatPath(path, depth + 1)} at dimension ${depth + 1} is ${describeValue(row)}, expected an array of ${plural(want, 'element')}`,
        );
      }
      if (row.length !== want) {
        throw ragged(
          name,
          `row ${formatPath(path, depth + 1)} at dimension ${depth + 1} has ${plural(row.length, 'element')}, expected ${want}`,
        );
      }
      if (depth + 2 < rank) visit(row, depth + 1);
    }
  };
  visit(root as readonly unknown[], 0);
}

function fill(
  name: string,
  datatype: Datatype,
  root: unknown,
  shape: readonly number[],
  count: number,
): TensorData {
  const writer = rowWriter(datatype, count);
  if (count === 0) return writer.data;
  const rank = shape.length;
  const check = (row: readonly unknown[], at: number): void => {
    const bad = writer.write(row, at);
    if (bad >= 0) throw elementError(name, datatype, row[bad], at + bad, shape);
  };
  if (rank === 0) {
    check([root], 0);
    return writer.data;
  }
  let at = 0;
  const walk = (node: readonly unknown[], depth: number): void => {
    if (depth === rank - 1) {
      check(node, at);
      at += node.length;
      return;
    }
    for (let i = 0; i < node.length; i++)
      walk(node[i] as readonly unknown[], depth + 1);
  };
  walk(root as readonly unknown[], 0);
  return writer.data;
}

/** fill's conversion for an array that arrived flattened (see PackedNumbers). */
function fillPacked(
  name: string,
  datatype: Datatype,
  packed: PackedNumbers,
  count: number,
): TensorData {
  const writer = rowWriter(datatype, count);
  if (count === 0) return writer.data;
  const bad = writer.write(packed.data as unknown as readonly unknown[], 0);
  if (bad >= 0)
    throw elementError(name, datatype, packed.data[bad], bad, packed.shape);
  return writer.data;
}

function elementError(
  name: string,
  datatype: Datatype,
  v: unknown,
  index: number,
  shape: readonly number[],
): TensorError {
  const path = unravel(index, shape);
  if (Array.isArray(v)) {
    return ragged(
      name,
      `element ${formatPath(path, path.length)} is an array nested deeper than shape ${formatShape(shape)}`,
    );
  }
  // Flat index as the primary reference (it is what tensor-object clients
  // count in); the nested position alongside when there is more than one level.
  const where =
    path.length > 1
      ? `${index} (at ${formatPath(path, path.length)})`
      : `${index}`;
  return inputError(name, `element ${where}${elementProblem(datatype, v)}`, {
    element: index,
    datatype,
  });
}

function ragged(name: string, message: string): TensorError {
  return inputError(name, `ragged array: ${message}`);
}

/** `1` for a top-level index, `[0][1]` for deeper positions. */
function formatPath(path: readonly number[], length: number): string {
  if (length === 1) return String(path[0]);
  let s = '';
  for (let i = 0; i < length; i++) s += `[${path[i]}]`;
  return s;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const path = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    path[d] = index % shape[d];
    index = Math.floor(index / shape[d]);
  }
  return path;
}

function inferDatatype(value: unknown): Datatype {
  let leaf = value;
  while (Array.isArray(leaf)) {
    if (leaf.length === 0) return 'FP32';
    leaf = leaf[0];
  }
  switch (typeof leaf) {
    case 'boolean':
      return 'BOOL';
    case 'string':
      return 'BYTES';
    case 'bigint':
      return 'INT64';
    default:
      return 'FP32';
  }
}

function checkedCount(name: string, shape: readonly number[]): number {
  const count = product(shape);
  if (count > MAX_ELEMENTS) {
    throw inputError(
      name,
      `shape ${formatShape(shape)} has ${count} elements, more than the limit of ${MAX_ELEMENTS}`,
      {
        shape: [...shape],
      },
    );
  }
  return count;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
