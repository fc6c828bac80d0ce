import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.util';

describe('float32ToFloat16Bits', () => {
  it.each([
    [1.0, 0x3c00],
    [65504, 0x7bff],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [-(2 ** -24), 0x8001],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
  ])('%p -> 0x%s', (x, bits) => {
    expect(float32ToFloat16Bits(x)).toBe(bits);
  });

  it('maps NaN to the canonical quiet NaN', () => {
    expect(float32ToFloat16Bits(NaN)).toBe(0x7e00);
  });

  it('rounds to nearest, ties to even', () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, 0x3C00 is even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, 0x3C02 is even
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(float32ToFloat16Bits(2049)).toBe(0x6800); // 2048
    expect(float32ToFloat16Bits(2051)).toBe(0x6802); // 2052
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // half the smallest subnormal
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002);
    expect(float32ToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal rounds up into normal
  });

  it('rounds once from the double (no double rounding through float32)', () => {
    // Math.fround would first give exactly 1 + 2^-11, a tie that rounds down.
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -30)).toBe(0x3c01);
  });

  it('overflows to infinity from 65520 (the midpoint to 65536) upwards', () => {
    expect(float32ToFloat16Bits(65519.99)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-65520)).toBe(0xfc00);
    expect(float32ToFloat16Bits(1e10)).toBe(0x7c00);
  });

  it('rounds every midpoint between adjacent finite halves to the even one', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (float16BitsToFloat32(h) + float16BitsToFloat32(h + 1)) / 2;
      const even = (h & 1) === 0 ? h : h + 1;
      if (float32ToFloat16Bits(mid) !== even)
        throw new Error(`midpoint after 0x${h.toString(16)}`);
      if (float32ToFloat16Bits(-mid) !== (even | 0x8000))
        throw new Error(`negative midpoint after 0x${h.toString(16)}`);
    }
  });
});

describe('float16BitsToFloat32', () => {
  it.each([
    [0x3c00, 1],
    [0x7bff, 65504],
    [0xc000, -2],
    [0x3800, 0.5],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('0x%s -> %p', (bits, x) => {
    expect(float16BitsToFloat32(bits)).toBe(x);
  });

  it('keeps the sign of zero and decodes NaN patterns', () => {
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float16BitsToFloat32(0x7e00)).toBeNaN();
    expect(float16BitsToFloat32(0xfc01)).toBeNaN();
  });

  it('round-trips every non-NaN bit pattern exactly', () => {
    for (let h = 0; h <= 0xffff; h++) {
      const x = float16BitsToFloat32(h);
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
        if (!Number.isNaN(x))
          throw new Error(`0x${h.toString(16)} should be NaN`);
        continue;
      }
      if (float32ToFloat16Bits(x) !== h)
        throw new Error(`0x${h.toString(16)} did not round-trip`);
      if (Math.fround(x) !== x)
        throw new Error(`0x${h.toString(16)} is not a float32 value`);
    }
  });
});
