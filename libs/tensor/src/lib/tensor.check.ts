import { isDatatype, storageName, storageNameOf } from './datatype';
import {
  elementCount,
  formatShape,
  isConcreteShape,
  MAX_ELEMENTS,
} from './shape.util';
import { inputError, tensorError } from './tensor.error';
import type { Tensor, TensorSpec } from './tensor.types';

/**
 * Checks a tensor against a model's declared input: datatype, rank, and every
 * fixed (non-negative) dimension; negative spec dimensions match any size, and an
 * empty spec shape any shape.
 * Also checks the tensor is internally consistent (see assertTensorData),
 * since tensors may come from code paths other than tensorFromJson.
 */
export function checkTensor(name: string, t: Tensor, spec: TensorSpec): void {
  if (t.datatype !== spec.datatype) {
    throw specMismatch(
      name,
      t,
      spec,
      `expected datatype ${spec.datatype}, got ${t.datatype}`,
    );
  }
  // An empty declared shape is "not declared" as often as "scalar" (ONNX Runtime does
  // not tell them apart; TorchScript declares no shapes): the framework checks those.
  if (spec.shape.length > 0 && t.shape.length !== spec.shape.length) {
    throw specMismatch(
      name,
      t,
      spec,
      `expected shape ${formatShape(spec.shape)} (rank ${spec.shape.length}), ` +
        `got ${formatShape(t.shape)} (rank ${t.shape.length})`,
    );
  }
  for (let i = 0; i < spec.shape.length; i++) {
    const want = spec.shape[i];
    if (want >= 0 && t.shape[i] !== want) {
      throw specMismatch(
        name,
        t,
        spec,
        `expected shape ${formatShape(spec.shape)}, got ${formatShape(t.shape)}`,
      );
    }
  }
  assertTensorData(name, t);
}

/** The datatype-mismatch error alone, for callers that can detect it before parsing any data. */
export function datatypeMismatch(
  name: string,
  got: Tensor['datatype'],
  gotShape: readonly unknown[],
  spec: TensorSpec,
) {
  return inputError(name, `expected datatype ${spec.datatype}, got ${got}`, {
    expected: { datatype: spec.datatype, shape: [...spec.shape] },
    got: { datatype: got, shape: [...gotShape] },
  });
}

function specMismatch(
  name: string,
  t: Tensor,
  spec: TensorSpec,
  message: string,
) {
  return inputError(name, message, {
    expected: { datatype: spec.datatype, shape: [...spec.shape] },
    got: { datatype: t.datatype, shape: [...t.shape] },
  });
}

/**
 * `context` prefixes the message when `name` is null (tensors that are not
 * request inputs).
 *
 * The invariants every other function relies on: a concrete shape within the
 * element limit, storage of the class the datatype prescribes, and exactly
 * elementCount(shape) elements.
 */
export function assertTensorData(
  name: string | null,
  t: Tensor,
  context = 'tensor',
): void {
  if (!isDatatype(t.datatype)) {
    throw tensorError(
      name,
      context,
      `unknown datatype ${JSON.stringify(t.datatype)}`,
      { datatype: String(t.datatype) },
    );
  }
  if (!isConcreteShape(t.shape)) {
    throw tensorError(
      name,
      context,
      `shape ${describeShape(t.shape)} must be an array of non-negative integers`,
      {
        shape: describeShape(t.shape),
      },
    );
  }
  const count = elementCount(t.shape);
  if (count > MAX_ELEMENTS) {
    throw tensorError(
      name,
      context,
      `shape ${formatShape(t.shape)} has ${count} elements, more than the limit of ${MAX_ELEMENTS}`,
      { shape: [...t.shape] },
    );
  }
  const want = storageName(t.datatype);
  const got = storageNameOf(t.data);
  if (got !== want) {
    throw tensorError(
      name,
      context,
      `datatype ${t.datatype} must be stored in ${want === 'Array' ? 'a string array' : `a ${want}`}, got ${got}`,
      {
        datatype: t.datatype,
      },
    );
  }
  if (t.data.length !== count) {
    throw tensorError(
      name,
      context,
      `shape ${formatShape(t.shape)} needs ${count} elements, got ${t.data.length}`,
      {
        shape: [...t.shape],
        elements: t.data.length,
      },
    );
  }
}

function describeShape(shape: unknown): string {
  return Array.isArray(shape) ? formatShape(shape) : String(shape);
}
