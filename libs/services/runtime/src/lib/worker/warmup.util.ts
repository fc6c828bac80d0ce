import type { Signature } from '@portfolio/contracts';
import {
  bytesPerElement,
  elementCount,
  Tensor,
  TensorData,
} from '@portfolio/tensor';

/**
 * Zero-filled inputs at batch 1 (every variable dimension set to 1), or null when the
 * signature does not allow one (string inputs, undeclared shapes).
 */
export function warmupInputs(
  signature: Signature,
): Record<string, Tensor> | null {
  const inputs: Record<string, Tensor> = {};
  for (const spec of signature.inputs) {
    if (spec.datatype === 'BYTES') return null;
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    const n = elementCount(shape);
    const width = bytesPerElement(spec.datatype);
    if (width === null) return null;
    inputs[spec.name] = {
      datatype: spec.datatype,
      shape,
      data: zeros(spec.datatype, n),
    };
  }
  return inputs;
}

function zeros(datatype: Tensor['datatype'], n: number): TensorData {
  switch (datatype) {
    case 'FP32':
      return new Float32Array(n);
    case 'FP64':
      return new Float64Array(n);
    case 'FP16':
    case 'UINT16':
      return new Uint16Array(n);
    case 'INT8':
      return new Int8Array(n);
    case 'INT16':
      return new Int16Array(n);
    case 'INT32':
      return new Int32Array(n);
    case 'UINT32':
      return new Uint32Array(n);
    case 'INT64':
      return new BigInt64Array(n);
    case 'UINT64':
      return new BigUint64Array(n);
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(n);
    case 'BYTES':
      return Array.from({ length: n }, () => '');
  }
}
