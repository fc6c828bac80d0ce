import { TensorError } from './tensor.error';

/**
 * Upper bound on elements per tensor. Matches the largest typed-array index
 * V8 handles without slow paths and keeps every offset within an int32,
 * which protects the server from allocation bombs in requests and frames.
 */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * Number of elements of a concrete shape (1 for a scalar, shape []). Throws
 * TensorError when a dimension is not a non-negative integer, so spec shapes
 * with -1 are rejected rather than producing a negative count. The result is
 * not capped; callers compare it with MAX_ELEMENTS before allocating.
 */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!isDimension(d)) {
      throw new TensorError(
        `shape ${formatShape(shape)} is not concrete: dimension ${i} is ${String(d)}`,
        null,
        {
          shape: [...shape],
        },
      );
    }
    n *= d;
  }
  return n;
}

export function isDimension(d: unknown): d is number {
  return typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
}

/** True when `shape` is an array of non-negative safe integers. */
export function isConcreteShape(shape: unknown): shape is number[] {
  if (!Array.isArray(shape)) return false;
  for (let i = 0; i < shape.length; i++)
    if (!isDimension(shape[i])) return false;
  return true;
}

/** `[2, -1, 4]`: the notation used in every message. */
export function formatShape(shape: readonly unknown[]): string {
  return `[${shape.map((d) => String(d)).join(', ')}]`;
}
