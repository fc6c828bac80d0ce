import { allocateNumeric } from './datatype';
import { formatShape, MAX_ELEMENTS } from './shape.util';
import { assertTensorData } from './tensor.check';
import { TensorError } from './tensor.error';
import type { NumericTensorData, Tensor } from './tensor.types';

/**
 * Concatenates along dimension 0 (the batch dimension). Datatype, rank and
 * every other dimension must agree. A single tensor is returned with its data
 * shared rather than copied (the common unbatched case on the hot path);
 * otherwise the result owns fresh storage.
 */
export function concatBatch(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0)
    throw batchError('concatBatch needs at least one tensor');
  const first = tensors[0];
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    assertTensorData(null, t, `concatBatch: tensor ${i}`);
    if (t.shape.length === 0) {
      throw batchError(
        `concatBatch: tensor ${i} is a scalar (shape []); batching needs rank >= 1`,
      );
    }
    if (t.datatype !== first.datatype) {
      throw batchError(
        `concatBatch: tensor ${i} has datatype ${t.datatype}, expected ${first.datatype} like tensor 0`,
      );
    }
    if (!sameInnerDims(t.shape, first.shape)) {
      throw batchError(
        `concatBatch: tensor ${i} has shape ${formatShape(t.shape)}, expected ` +
          `${formatShape(['*', ...first.shape.slice(1)])} to match tensor 0 ${formatShape(first.shape)}`,
        { index: i, shape: [...t.shape], expected: [...first.shape] },
      );
    }
  }
  if (tensors.length === 1)
    return {
      datatype: first.datatype,
      shape: [...first.shape],
      data: first.data,
    };

  let batch = 0;
  let total = 0;
  for (const t of tensors) {
    batch += t.shape[0];
    total += t.data.length;
  }
  if (total > MAX_ELEMENTS) {
    throw batchError(
      `concatBatch: the batch would have ${total} elements, more than the limit of ${MAX_ELEMENTS}`,
    );
  }
  const shape = [batch, ...first.shape.slice(1)];
  if (first.datatype === 'BYTES') {
    const data: string[] = [];
    for (const t of tensors) for (const s of t.data as string[]) data.push(s);
    return { datatype: 'BYTES', shape, data };
  }
  const data = allocateNumeric(first.datatype, total);
  let at = 0;
  for (const t of tensors) {
    // Same storage class as `data` (assertTensorData ties it to the datatype).
    setFrom(data, t.data as NumericTensorData, at);
    at += t.data.length;
  }
  return { datatype: first.datatype, shape, data };
}

/**
 * Splits along dimension 0 into pieces of `sizes[i]` rows; the sizes must add
 * up to the batch dimension. Numeric pieces are subarray views sharing the
 * input's memory (no copy); BYTES pieces are slices of the string array.
 */
export function splitBatch(t: Tensor, sizes: readonly number[]): Tensor[] {
  assertTensorData(null, t, 'splitBatch');
  if (t.shape.length === 0)
    throw batchError('splitBatch: cannot split a scalar (shape [])');
  let sum = 0;
  for (let i = 0; i < sizes.length; i++) {
    const n = sizes[i];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw batchError(
        `splitBatch: size ${i} is ${String(n)}, expected a non-negative integer`,
      );
    }
    sum += n;
  }
  if (sum !== t.shape[0]) {
    throw batchError(
      `splitBatch: sizes ${formatShape(sizes)} add up to ${sum}, but the batch dimension of ${formatShape(t.shape)} is ${t.shape[0]}`,
      { sizes: [...sizes], shape: [...t.shape] },
    );
  }
  let rowElements = 1;
  for (let d = 1; d < t.shape.length; d++) rowElements *= t.shape[d];
  const inner = t.shape.slice(1);
  const out: Tensor[] = [];
  let at = 0;
  for (const n of sizes) {
    const end = at + n * rowElements;
    out.push({
      datatype: t.datatype,
      shape: [n, ...inner],
      data: Array.isArray(t.data)
        ? t.data.slice(at, end)
        : t.data.subarray(at, end),
    });
    at = end;
  }
  return out;
}

function sameInnerDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let d = 1; d < a.length; d++) if (a[d] !== b[d]) return false;
  return true;
}

/** `target.set(source, at)` across the typed-array union, which TypeScript cannot call directly. */
function setFrom(
  target: NumericTensorData,
  source: NumericTensorData,
  at: number,
): void {
  (
    target as { set(array: ArrayLike<number | bigint>, offset: number): void }
  ).set(source as ArrayLike<number | bigint>, at);
}

function batchError(
  message: string,
  details: Record<string, unknown> = {},
): TensorError {
  return new TensorError(message, null, details);
}
