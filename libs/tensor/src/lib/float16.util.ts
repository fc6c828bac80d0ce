/**
 * IEEE 754 binary16 conversion. FP16 tensors are stored as Uint16Array of
 * half-precision bit patterns (what onnxruntime-node expects on Node versions
 * without Float16Array), so conversion happens only at the JSON boundary.
 */

/** Smallest magnitude that rounds to infinity: halfway between 65504 and 65536, ties to even go up. */
export const FP16_OVERFLOW_THRESHOLD = 65520;
export const FP16_MAX = 65504;

const TWO_POW_24 = 16777216;

/**
 * Nearest half-precision bit pattern, ties to even, rounding once from the
 * given double (a float32 value is a double exactly, so this is also correct
 * float32 -> float16 rounding, without the double-rounding error a detour
 * through Math.fround would add). NaN becomes the canonical quiet NaN 0x7E00;
 * magnitudes >= 65520 become infinity; -0 keeps its sign.
 */
export function float32ToFloat16Bits(x: number): number {
  if (x !== x) return 0x7e00;
  const sign = x < 0 || (x === 0 && 1 / x < 0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= FP16_OVERFLOW_THRESHOLD) return sign | 0x7c00;
  if (a < 6.103515625e-5) {
    // Subnormal (or zero): the value in units of 2^-24, rounded. A result of
    // 0x400 is the smallest normal, which the bit layout encodes correctly.
    return sign | roundHalfEven(a * TWO_POW_24);
  }
  let e = Math.floor(Math.log2(a));
  // log2 may be off by one next to powers of two; the exact check fixes it.
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  // a / 2^e is in [1, 2); scaling by powers of two and subtracting 1 are exact.
  let mantissa = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    e += 1;
  }
  // e <= 15 here: values that would carry into e = 16 are >= 65520, handled above.
  return sign | ((e + 15) << 10) | mantissa;
}

/** The value of a half-precision bit pattern (only the low 16 bits of `h` are used). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  return rest > 0.5 || (rest === 0.5 && (floor & 1) === 1) ? floor + 1 : floor;
}
