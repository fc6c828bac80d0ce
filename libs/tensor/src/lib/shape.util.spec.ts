import { elementCount, formatShape } from './shape.util';
import { TensorError } from './tensor.error';

describe('elementCount', () => {
  it('multiplies dimensions; a scalar has one element', () => {
    expect(elementCount([])).toBe(1);
    expect(elementCount([3])).toBe(3);
    expect(elementCount([2, 3, 4])).toBe(24);
    expect(elementCount([5, 0, 7])).toBe(0);
  });

  it('rejects dimensions that are not non-negative integers', () => {
    expect(() => elementCount([-1, 4])).toThrow(TensorError);
    expect(() => elementCount([-1, 4])).toThrow(
      'shape [-1, 4] is not concrete: dimension 0 is -1',
    );
    expect(() => elementCount([2, 1.5])).toThrow('dimension 1 is 1.5');
    expect(() => elementCount([NaN])).toThrow('dimension 0 is NaN');
  });

  it('does not cap the count (callers enforce the element limit)', () => {
    expect(elementCount([65536, 65536])).toBe(2 ** 32);
  });
});

describe('formatShape', () => {
  it('uses the bracket notation of error messages', () => {
    expect(formatShape([-1, 4])).toBe('[-1, 4]');
    expect(formatShape([])).toBe('[]');
  });
});
