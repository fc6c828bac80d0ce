import { checkTensor } from './tensor.check';
import { TensorError } from './tensor.error';
import type { Tensor, TensorSpec } from './tensor.types';

const spec: TensorSpec = { name: 'x', datatype: 'FP32', shape: [-1, 3, -1] };
const tensor = (
  shape: number[],
  data = new Float32Array(shape.reduce((a, b) => a * b, 1)),
): Tensor => ({
  datatype: 'FP32',
  shape,
  data,
});

describe('checkTensor', () => {
  it('accepts any size in variable dimensions', () => {
    expect(() => checkTensor('x', tensor([1, 3, 7]), spec)).not.toThrow();
    expect(() => checkTensor('x', tensor([0, 3, 0]), spec)).not.toThrow();
  });

  it('checks datatype, rank and fixed dimensions in that order', () => {
    expect(() =>
      checkTensor('x', { ...tensor([4]), datatype: 'FP64' }, spec),
    ).toThrow('input "x": expected datatype FP32, got FP64');
    expect(() => checkTensor('x', tensor([4]), spec)).toThrow(
      'input "x": expected shape [-1, 3, -1] (rank 3), got [4] (rank 1)',
    );
    expect(() => checkTensor('x', tensor([2, 4, 1]), spec)).toThrow(
      'input "x": expected shape [-1, 3, -1], got [2, 4, 1]',
    );
    expect(() =>
      checkTensor('x', tensor([], new Float32Array(1)), { ...spec, shape: [] }),
    ).not.toThrow();
  });

  it('leaves the shape to the framework where the model declares none (an empty shape)', () => {
    const undeclared = { ...spec, shape: [] };

    expect(() => checkTensor('x', tensor([2, 4]), undeclared)).not.toThrow();
    expect(() =>
      checkTensor('x', { ...tensor([2]), datatype: 'FP64' }, undeclared),
    ).toThrow('input "x": expected datatype FP32, got FP64');
    expect(() =>
      checkTensor('x', tensor([2, 4], new Float32Array(7)), undeclared),
    ).toThrow(TensorError);
  });

  it('checks the data agrees with shape and datatype', () => {
    expect(() =>
      checkTensor('x', tensor([1, 3, 2], new Float32Array(5)), spec),
    ).toThrow('input "x": shape [1, 3, 2] needs 6 elements, got 5');
    expect(() =>
      checkTensor(
        'x',
        { datatype: 'FP32', shape: [1, 3, 1], data: new Float64Array(3) },
        spec,
      ),
    ).toThrow(
      'input "x": datatype FP32 must be stored in a Float32Array, got Float64Array',
    );
    expect(() =>
      checkTensor(
        's',
        { datatype: 'BYTES', shape: [1], data: new Uint8Array(1) },
        { ...spec, datatype: 'BYTES', shape: [1] },
      ),
    ).toThrow(
      'input "s": datatype BYTES must be stored in a string array, got Uint8Array',
    );
  });

  it('accepts Buffers as UINT8 storage', () => {
    const t: Tensor = {
      datatype: 'UINT8',
      shape: [2],
      data: Buffer.from([1, 2]),
    };
    expect(() =>
      checkTensor('b', t, { name: 'b', datatype: 'UINT8', shape: [2] }),
    ).not.toThrow();
  });

  it('throws TensorError with structured details', () => {
    try {
      checkTensor('x', tensor([2, 4, 1]), spec);
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(TensorError);
      expect((err as TensorError).details).toEqual({
        input: 'x',
        expected: { datatype: 'FP32', shape: [-1, 3, -1] },
        got: { datatype: 'FP32', shape: [2, 4, 1] },
      });
    }
  });
});
