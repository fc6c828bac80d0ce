import { warmupInputs } from './warmup.util';

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

  it('gives up on string inputs', () => {
    expect(
      warmupInputs({
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1] },
          { name: 'text', datatype: 'BYTES', shape: [-1] },
        ],
        outputs: [],
      }),
    ).toBeNull();
  });
});
