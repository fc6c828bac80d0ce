import type { Signature } from '@portfolio/contracts';
import { concatBatch, splitBatch, Tensor } from '@portfolio/tensor';

/**
 * How a model's waiting runs are merged into one (dynamic batching, see WorkerPool):
 * runs queued for the same model whose tensors agree in everything but the batch
 * dimension go to the engine as one batch and are split back afterwards.
 */
export interface BatchPolicy {
  /** The most rows (the leading dimension) a merged run takes; 1: runs are never merged. */
  readonly maxBatch: number;
  /**
   * How long the oldest waiting run may be held back for others to join it when fewer
   * than `maxBatch` rows wait. 0: only what already waits is merged (a run is never
   * held back), which is what a saturated model needs and costs an idle one nothing.
   */
  readonly maxQueueDelayMs: number;
}

/**
 * Whether a model's runs can be merged: every input and every output has a variable
 * leading dimension (a batch dimension). A model with a fixed one, or a scalar, is
 * run a request at a time.
 */
export function mergeable(signature: Signature): boolean {
  const batched = (spec: { shape: readonly number[] }) =>
    spec.shape.length > 0 && spec.shape[0] < 0;
  return (
    signature.inputs.length > 0 &&
    signature.inputs.every(batched) &&
    signature.outputs.every(batched)
  );
}

/**
 * The rows of one run's inputs: their common leading dimension, or null when they do
 * not share one (such a run is never merged).
 */
export function rowsOf(
  inputs: Readonly<Record<string, Tensor>>,
): number | null {
  let rows: number | null = null;
  for (const name in inputs) {
    const shape = inputs[name].shape;
    if (shape.length === 0) return null;
    if (rows === null) rows = shape[0];
    else if (shape[0] !== rows) return null;
  }
  return rows;
}

/**
 * What runs must share to be merged: input names, datatypes and every dimension but
 * the first, and the outputs asked for.
 */
export function mergeKey(
  inputs: Readonly<Record<string, Tensor>>,
  outputs: readonly string[] | undefined,
): string {
  let key = '';
  for (const name of Object.keys(inputs).sort()) {
    const t = inputs[name];
    key += `${JSON.stringify(name)}:${t.datatype}:${t.shape.slice(1).join('x')};`;
  }
  return outputs ? `${key}>${JSON.stringify(outputs)}` : key;
}

/** One run's inputs made of several (same merge key), their rows in order. */
export function mergeInputs(
  runs: readonly Readonly<Record<string, Tensor>>[],
): Record<string, Tensor> {
  const merged: Record<string, Tensor> = {};
  for (const name of Object.keys(runs[0]))
    merged[name] = concatBatch(runs.map((r) => r[name]));
  return merged;
}

/**
 * A merged run's outputs split back into each run's, by the rows each brought. Null
 * when an output's leading dimension is not the merged batch (the model does not
 * keep rows apart after all: its runs must not be merged). The pieces are views of
 * the merged outputs (no copy).
 */
export function splitOutputs(
  outputs: Readonly<Record<string, Tensor>>,
  rows: readonly number[],
): Record<string, Tensor>[] | null {
  let total = 0;
  for (const n of rows) total += n;
  const pieces: Record<string, Tensor>[] = rows.map(() => ({}));
  for (const name in outputs) {
    const t = outputs[name];
    if (t.shape.length === 0 || t.shape[0] !== total) return null;
    splitBatch(t, rows).forEach((piece, i) => (pieces[i][name] = piece));
  }
  return pieces;
}
