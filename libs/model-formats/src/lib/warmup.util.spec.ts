import { batchOf, warmupInputs } from './warmup.util';

describe(warmupInputs.name, () => {
  it('makes zero-filled inputs at batch 1, one typed array per datatype', () => {
    const sut = warmupInputs({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
        { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'mask', datatype: 'BOOL', shape: [2] },
        { name: 'h', datatype: 'FP16', shape: [3] },
      ],
      outputs: [],
    });

    expect(sut).not.toBeNull();
    expect(sut?.['x'].shape).toEqual([1, 4]);
    expect(sut?.['x'].data).toEqual(new Float32Array(4));
    expect(sut?.['ids'].shape).toEqual([1, 1]);
    expect(sut?.['ids'].data).toEqual(new BigInt64Array(1));
    expect(sut?.['mask'].data).toEqual(new Uint8Array(2));
    expect(sut?.['h'].data).toEqual(new Uint16Array(3));
  });

  it('sets a variable leading dimension to the batch asked for, and nothing else', () => {
    const sut = warmupInputs(
      {
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [-1, 4] },
          { name: 'seq', datatype: 'INT64', shape: [-1, -1] },
          { name: 'fixed', datatype: 'FP32', shape: [2, -1] },
        ],
        outputs: [],
      },
      8,
    );

    expect(sut?.['x'].shape).toEqual([8, 4]);
    expect(sut?.['x'].data).toEqual(new Float32Array(32));
    expect(sut?.['seq'].shape).toEqual([8, 1]);
    expect(sut?.['fixed'].shape).toEqual([2, 1]);
  });

  it('gives string inputs empty strings (a tokenizer takes them, and they cost nothing)', () => {
    const sut = warmupInputs(
      {
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1] },
          { name: 'text', datatype: 'BYTES', shape: [-1] },
        ],
        outputs: [],
      },
      3,
    );

    expect(sut?.['text']).toEqual({
      datatype: 'BYTES',
      shape: [3],
      data: ['', '', ''],
    });
  });
});

describe(batchOf.name, () => {
  const signature = {
    inputs: [
      { name: 'a', datatype: 'FP32' as const, shape: [-1, 3] },
      { name: 'b', datatype: 'FP32' as const, shape: [2, 3] },
      { name: 'c', datatype: 'FP32' as const, shape: [] },
    ],
    outputs: [],
  };
  const tensor = (shape: number[]) => ({
    datatype: 'FP32' as const,
    shape,
    data: new Float32Array(shape.reduce((n, d) => n * d, 1)),
  });

  it('is the leading dimension of the inputs whose leading dimension is variable', () => {
    expect(
      batchOf(signature, {
        a: tensor([5, 3]),
        b: tensor([2, 3]),
        c: tensor([7]),
      }),
    ).toBe(5);
  });

  it('is 1 when no input has a variable leading dimension', () => {
    expect(
      batchOf(
        { inputs: [signature.inputs[1]], outputs: [] },
        { b: tensor([2, 3]) },
      ),
    ).toBe(1);
  });
});
