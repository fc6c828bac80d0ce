import type { Signature } from '@portfolio/contracts';
import { allocateNumeric, elementCount, Tensor } from '@portfolio/tensor';

/**
 * Zero-filled inputs at `batch` (a variable leading dimension set to it, every other
 * variable dimension to 1; empty strings for string inputs), or null when the
 * signature has no inputs to fill.
 */
export function warmupInputs(
  signature: Signature,
  batch = 1,
): Record<string, Tensor> | null {
  if (signature.inputs.length === 0) return null;
  const inputs: Record<string, Tensor> = {};
  for (const spec of signature.inputs) {
    const shape = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? batch : 1));
    inputs[spec.name] = {
      datatype: spec.datatype,
      shape,
      data:
        spec.datatype === 'BYTES'
          ? new Array<string>(elementCount(shape)).fill('')
          : allocateNumeric(spec.datatype, elementCount(shape)),
    };
  }
  return inputs;
}

/**
 * The batch of a request: the largest leading dimension among inputs whose declared
 * leading dimension is variable (1 when none is). Runs at a batch larger than any before
 * may grow the model's arena.
 */
export function batchOf(
  signature: Signature,
  inputs: Readonly<Record<string, Tensor>>,
): number {
  let batch = 1;
  for (const spec of signature.inputs) {
    const tensor = inputs[spec.name];
    if (spec.shape.length > 0 && spec.shape[0] < 0 && tensor?.shape.length)
      batch = Math.max(batch, tensor.shape[0]);
  }
  return batch;
}
