import type { Signature } from '@portfolio/contracts';
import type { Tensor } from '@portfolio/tensor';

import {
  mergeable,
  mergeInputs,
  mergeKey,
  rowsOf,
  splitOutputs,
} from './run-merge';

const f32 = (shape: number[], values: number[]): Tensor => ({
  datatype: 'FP32',
  shape,
  data: Float32Array.from(values),
});

describe('run merging', () => {
  describe(mergeable.name, () => {
    const spec = (shape: number[]) => ({ name: 't', datatype: 'FP32', shape });
    const sig = (inputs: number[][], outputs: number[][]): Signature =>
      ({
        inputs: inputs.map(spec),
        outputs: outputs.map(spec),
      }) as Signature;

    it('takes models whose every input and output has a variable leading dimension', () => {
      expect(mergeable(sig([[-1, 4]], [[-1, 3]]))).toBe(true);
      expect(mergeable(sig([[-1, 4], [-1]], [[-1, 3], [-1]]))).toBe(true);
    });

    it('refuses a fixed leading dimension, a scalar, or a model without inputs', () => {
      expect(mergeable(sig([[1, 4]], [[-1, 3]]))).toBe(false);
      expect(mergeable(sig([[-1, 4]], [[3]]))).toBe(false);
      expect(mergeable(sig([[-1, 4]], [[]]))).toBe(false);
      expect(mergeable(sig([], [[-1]]))).toBe(false);
    });
  });

  describe(rowsOf.name, () => {
    it('is the leading dimension the inputs share, or null', () => {
      expect(
        rowsOf({ a: f32([2, 2], [1, 2, 3, 4]), b: f32([2], [1, 2]) }),
      ).toBe(2);
      expect(rowsOf({ a: f32([2, 2], [1, 2, 3, 4]), b: f32([1], [1]) })).toBe(
        null,
      );
      expect(rowsOf({ a: f32([], [1]) })).toBe(null);
    });
  });

  describe(mergeKey.name, () => {
    it('agrees for runs differing only in rows and input order', () => {
      const a = mergeKey(
        { x: f32([1, 2], [1, 2]), y: f32([1], [0]) },
        undefined,
      );
      const b = mergeKey(
        { y: f32([3], [0, 0, 0]), x: f32([3, 2], [1, 2, 3, 4, 5, 6]) },
        undefined,
      );
      expect(a).toBe(b);
    });

    it('differs in an inner dimension, a datatype, a name or the outputs asked for', () => {
      const base = mergeKey({ x: f32([1, 2], [1, 2]) }, undefined);
      expect(mergeKey({ x: f32([1, 1, 2], [1, 2]) }, undefined)).not.toBe(base);
      expect(
        mergeKey(
          { x: { datatype: 'FP64', shape: [1, 2], data: new Float64Array(2) } },
          undefined,
        ),
      ).not.toBe(base);
      expect(mergeKey({ z: f32([1, 2], [1, 2]) }, undefined)).not.toBe(base);
      expect(mergeKey({ x: f32([1, 2], [1, 2]) }, ['y'])).not.toBe(base);
    });
  });

  it('merges inputs in order and splits outputs back by rows, as views', () => {
    const merged = mergeInputs([
      { x: f32([1, 2], [1, 2]) },
      { x: f32([2, 2], [3, 4, 5, 6]) },
    ]);
    expect(merged['x'].shape).toEqual([3, 2]);
    expect(Array.from(merged['x'].data as Float32Array)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);

    const out = f32([3, 1], [10, 20, 30]);
    const pieces = splitOutputs({ y: out }, [1, 2]);
    expect(pieces).not.toBeNull();
    const [first, second] = pieces as Record<string, Tensor>[];
    expect(first['y'].shape).toEqual([1, 1]);
    expect(Array.from(first['y'].data as Float32Array)).toEqual([10]);
    expect(second['y'].shape).toEqual([2, 1]);
    expect(Array.from(second['y'].data as Float32Array)).toEqual([20, 30]);
    expect((second['y'].data as Float32Array).buffer).toBe(
      (out.data as Float32Array).buffer,
    );
  });

  it('will not split outputs whose leading dimension is not the merged rows', () => {
    expect(splitOutputs({ y: f32([2, 1], [1, 2]) }, [1, 2])).toBeNull();
    expect(splitOutputs({ y: f32([], [1]) }, [1, 2])).toBeNull();
  });
});
