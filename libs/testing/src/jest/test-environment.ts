import { TestEnvironment } from 'jest-environment-node';

/**
 * jest's node environment, with every typed-array constructor shared with the
 * outer realm. Why: each test file runs in its own vm context with its own
 * Float32Array, but native addons (onnxruntime-node) create output arrays in
 * the main realm, and onnxruntime-common then rejects them with "A float32
 * tensor's data must be type of function Float32Array()" (an instanceof check
 * across realms). jest-environment-node already shares Uint8Array and
 * ArrayBuffer this way for Buffer; this extends it to the other element types.
 *
 * Use it as `testEnvironment` in any jest project that runs ONNX models.
 */
export default class PortfolioTestEnvironment extends TestEnvironment {
  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args);
    const shared: Record<string, unknown> = {
      Int8Array,
      Uint8Array,
      Uint8ClampedArray,
      Int16Array,
      Uint16Array,
      Int32Array,
      Uint32Array,
      Float32Array,
      Float64Array,
      BigInt64Array,
      BigUint64Array,
      ArrayBuffer,
      SharedArrayBuffer,
      DataView,
    };
    const float16 = (globalThis as Record<string, unknown>)['Float16Array'];
    if (float16 !== undefined) shared['Float16Array'] = float16;
    Object.assign(this.global, shared);
  }
}
