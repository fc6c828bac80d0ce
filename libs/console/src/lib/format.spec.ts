import {
  formatBytes,
  formatClock,
  formatMs,
  formatPercent,
  formatRate,
  hueOf,
} from './format';

describe('formatting', () => {
  it.each([
    [null, '–'],
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [786432, '768.0 KiB'],
    [3 * 2 ** 20, '3.0 MiB'],
    [2 ** 31, '2.0 GiB'],
    [2 ** 50, '1024.0 TiB'],
  ])('formatBytes(%p) = %p', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it.each([
    [0.42, '0.42 ms'],
    [3.94, '3.9 ms'],
    [120.4, '120 ms'],
    [2500, '2.5 s'],
    [65_000, '65 s'],
    [null, '–'],
  ])('formatMs(%p) = %p', (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });

  it('writes fractions as percentages and rates per second', () => {
    expect(formatPercent(0.4567)).toBe('45.7%');
    expect(formatPercent(null)).toBe('–');
    expect([0, 0.25, 12.34, 1234].map(formatRate)).toEqual([
      '0/s',
      '0.25/s',
      '12.3/s',
      '1234/s',
    ]);
  });

  it('writes the wall clock of an ISO time, and leaves what is not one as it is', () => {
    // The tests run with TZ=UTC (jest.preset.js).
    expect(formatClock('2026-01-05T14:03:07.123Z')).toBe('14:03:07');
    expect(formatClock('not a time')).toBe('not a time');
  });

  it('gives each model id a hue of its own, the same every time', () => {
    const ids = ['fraud-a', 'fraud-b', 'iris', 'churn', 'recommender'];
    const hues = ids.map(hueOf);

    expect(ids.map(hueOf)).toEqual(hues);
    expect(new Set(hues).size).toBe(ids.length);
    for (const h of hues) {
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(360);
    }
  });
});
