import { assertLittleEndian } from './platform.util';

describe('assertLittleEndian', () => {
  it('passes on this (little-endian) platform', () => {
    expect(() => assertLittleEndian()).not.toThrow();
  });

  it('refuses a big-endian platform with a clear message', () => {
    expect(() => assertLittleEndian(false)).toThrow(
      '@portfolio/tensor requires a little-endian platform',
    );
  });
});
