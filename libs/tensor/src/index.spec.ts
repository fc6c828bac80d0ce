import * as api from './index';

describe('public entry point', () => {
  it('serves the gateway -> runtime path end to end', () => {
    const spec: api.TensorSpec = {
      name: 'input',
      datatype: 'FP32',
      shape: [-1, 2],
    };
    const input = api.tensorFromJson(
      'input',
      [
        [1, 2],
        [3, 4],
      ],
      spec,
    );
    const frame = api.encodeFrame({ model: 'm' }, [
      { name: 'input', ...input },
    ]);
    const { header, tensors } = api.decodeFrame(frame);
    expect(header).toEqual({ model: 'm' });
    expect(api.toOrtType(tensors[0].datatype)).toBe('float32');
    const [a, b] = api.splitBatch(tensors[0], [1, 1]);
    expect(api.tensorToFlat(api.concatBatch([b, a]))).toEqual([3, 4, 1, 2]);
  });
});
