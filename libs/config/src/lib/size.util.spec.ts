import { formatBytes, parseSize } from './size.util';

describe('parseSize', () => {
  it.each<[string | number, number]>([
    [0, 0],
    [1024, 1024],
    ['0', 0],
    ['1024', 1024],
    ['900B', 900],
    ['900 b', 900],
    ['100 KB', 100_000],
    ['1kb', 1000],
    ['2GB', 2_000_000_000],
    ['3 MB', 3_000_000],
    ['1TB', 1e12],
    ['1KiB', 1024],
    ['512MiB', 512 * 1024 ** 2],
    ['512mib', 512 * 1024 ** 2],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['2 TiB', 2 * 1024 ** 4],
    ['1.5KB', 1500],
    ['0.3KiB', 307], // 307.2 rounded down
    ['  64MiB  ', 64 * 1024 ** 2],
  ])('parses %p as %p bytes', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it('always returns an integer', () => {
    expect(Number.isInteger(parseSize('1.1KiB'))).toBe(true);
    expect(parseSize('1.1KiB')).toBe(1126);
  });

  it.each<[string | number]>([
    ['2XB'],
    [''],
    ['   '],
    ['-1'],
    ['-5MiB'],
    ['1K'],
    ['1M'],
    ['1G'],
    ['MiB'],
    ['1  MiB'],
    ['1.5'],
    ['1.5B'],
    ['1e3'],
    ['NaN'],
    ['1,5GiB'],
    ['12 MiB extra'],
    [-1],
    [1.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
  ])('refuses %p', (input) => {
    expect(() => parseSize(input)).toThrow(/^invalid size /);
  });

  it('explains the accepted forms, quoting the value', () => {
    expect(() => parseSize('2XB')).toThrow(
      'invalid size "2XB" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)',
    );
  });

  it('names what is being parsed when told', () => {
    expect(() => parseSize('lots', 'cache size')).toThrow(
      'invalid size "lots" for cache size (expected bytes',
    );
  });

  it('refuses sizes beyond the safe integer range', () => {
    expect(() => parseSize('99999999TiB')).toThrow(
      'invalid size "99999999TiB" (too large)',
    );
  });

  it('refuses a fraction of a byte with a specific reason', () => {
    expect(() => parseSize('10.5')).toThrow(
      'a byte count must be a whole number',
    );
  });
});

describe('formatBytes', () => {
  it.each<[number, string]>([
    [0, '0 B'],
    [900, '900 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [512 * 1024 ** 2, '512 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [1.25 * 1024 ** 3, '1.3 GiB'],
    [2 * 1024 ** 4, '2 TiB'],
    [1024 ** 2 - 1, '1 MiB'], // would otherwise read "1024 KiB"
    [3 * 1024 ** 5, '3 PiB'],
    [-2048, '-2 KiB'],
  ])('formats %p as %p', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected);
  });

  it('round-trips with parseSize for whole IEC amounts', () => {
    for (const text of ['512 MiB', '2 GiB', '3 KiB', '900 B']) {
      expect(formatBytes(parseSize(text))).toBe(text);
    }
  });

  it('refuses non-finite numbers', () => {
    expect(() => formatBytes(Number.NaN)).toThrow(RangeError);
    expect(() => formatBytes(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
