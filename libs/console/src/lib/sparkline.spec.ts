import { sparklinePoints } from './sparkline';

describe('sparklinePoints', () => {
  it('spreads the values across the width, 0 at the bottom and the largest at the top', () => {
    expect(sparklinePoints([0, 5, 10], 100, 24)).toEqual(['0,22 50,12 100,2']);
  });

  it('scales to a given top, and keeps values past it at the top', () => {
    expect(sparklinePoints([0.5, 2], 10, 24, 1)).toEqual(['0,12 10,2']);
  });

  it('breaks the line where there is no value', () => {
    expect(sparklinePoints([1, 1, null, 1, 1], 40, 24)).toEqual([
      '0,2 10,2',
      '30,2 40,2',
    ]);
  });

  it('draws a lone value as a short flat stroke, and the whole width when it is alone', () => {
    expect(sparklinePoints([null, 4, null], 40, 24)).toEqual(['10,2 30,2']);
    expect(sparklinePoints([4], 40, 24)).toEqual(['0,2 40,2']);
  });

  it('draws nothing without a value, and a flat line at the bottom for zeros', () => {
    expect(sparklinePoints([], 40, 24)).toEqual([]);
    expect(sparklinePoints([null, null], 40, 24)).toEqual([]);
    expect(sparklinePoints([0, 0], 40, 24)).toEqual(['0,22 40,22']);
  });
});
