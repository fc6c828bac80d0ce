import type { Signature } from '@portfolio/contracts';
import { allocateNumeric, elementCount, Tensor } from '@portfolio/tensor';

/**
 * Zero-filled inputs at batch 1 (every variable dimension set to 1), or null when the
 * signature does not allow one (string inputs).
 */
export function warmupInputs(
  signature: Signature,
): Record<string, Tensor> | null {
  const inputs: Record<string, Tensor> = {};
  for (const spec of signature.inputs) {
    if (spec.datatype === 'BYTES') return null;
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    inputs[spec.name] = {
      datatype: spec.datatype,
      shape,
      data: allocateNumeric(spec.datatype, elementCount(shape)),
    };
  }
  return inputs;
}
