import { parseDuration } from './duration.util';

describe('parseDuration', () => {
  it.each<[string | number, number]>([
    [0, 0],
    [45, 45_000],
    [1.5, 1500],
    [0.25, 250],
    ['45', 45_000],
    ['2.5', 2500],
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5h', 5_400_000],
    ['1h30m', 5_400_000],
    ['2m 30s', 150_000],
    ['1d2h3m4s5ms', 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5],
    ['1s 500ms', 1500],
    ['0s', 0],
    [' 10s ', 10_000],
  ])('parses %p as %p ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it('rounds to whole milliseconds', () => {
    expect(parseDuration(0.0004)).toBe(0);
    expect(parseDuration('1.0006s')).toBe(1001);
  });

  it.each<[string | number]>([
    ['5x'],
    [''],
    ['  '],
    ['-5s'],
    ['-5'],
    ['s'],
    ['10 s'],
    ['1H'],
    ['5M'],
    ['1h  30m'],
    ['30m1h'],
    ['1m1m'],
    ['1h30'],
    ['1,5s'],
    ['1e3'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
  ])('refuses %p', (input) => {
    expect(() => parseDuration(input)).toThrow(/^invalid duration /);
  });

  it('explains the accepted forms, quoting the value', () => {
    expect(() => parseDuration('5x')).toThrow(
      'invalid duration "5x" (expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d)',
    );
  });

  it('names what is being parsed when told', () => {
    expect(() => parseDuration('soon', 'load timeout')).toThrow(
      'invalid duration "soon" for load timeout (expected',
    );
  });

  it('reads "ms" as milliseconds, not minutes followed by seconds', () => {
    expect(parseDuration('5ms')).toBe(5);
    expect(parseDuration('5m')).toBe(300_000);
  });
});
