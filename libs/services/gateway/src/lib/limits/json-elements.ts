import { PortfolioError } from '@portfolio/contracts';
import { PackedNumbers } from '@portfolio/tensor';

/**
 * Tensor elements a request may carry as JSON numbers, unless configured. Turning JSON
 * into typed arrays costs the event loop about a second per few million numbers, while
 * every other request waits; binary tensors (the /v2 binary extension, gRPC raw
 * contents) cost next to nothing and are not counted.
 */
export const DEFAULT_MAX_JSON_ELEMENTS = 1 << 20;

/**
 * How many elements a JSON input will become, found without walking it: a nested
 * array's dimensions along its first elements, or a tensor object's declared shape
 * (or its data's, if larger). Ragged arrays are refused later, by the conversion.
 */
export function jsonElementCount(value: unknown): number {
  if (value instanceof PackedNumbers)
    return value.shape.reduce((n, d) => n * d, 1);
  if (Array.isArray(value)) {
    let count = 1;
    for (let v: unknown = value; Array.isArray(v); v = v[0]) {
      if (v.length === 0) return 0;
      count *= v.length;
    }
    return count;
  }
  if (typeof value === 'object' && value !== null) {
    const { shape, data } = value as { shape?: unknown; data?: unknown };
    const declared = Array.isArray(shape)
      ? shape.reduce<number>(
          (n, d) => (typeof d === 'number' && d >= 0 ? n * d : n),
          1,
        )
      : 0;
    return Math.max(declared, jsonElementCount(data));
  }
  return 1;
}

/** Counts the JSON elements of a request's inputs, refusing once past the limit (413). */
export class JsonElementBudget {
  private used = 0;

  constructor(private readonly limit: number) {}

  take(input: string, value: unknown): void {
    this.used += jsonElementCount(value);
    if (this.used > this.limit)
      throw new PortfolioError(
        'PAYLOAD_TOO_LARGE',
        `the inputs hold more than ${this.limit} elements as JSON (at input "${input}": ${this.used} so far), the most a request may send that way (gateway.max_json_elements); send large batches as binary tensors (the /v2 binary extension or gRPC raw contents), or in smaller requests`,
        { input, elements: this.used, limit: this.limit },
      );
  }
}
