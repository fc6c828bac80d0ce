import { buildGenericModel, ElemType } from './generic-model';

/**
 * Two inputs of different element types and two outputs of different element
 * types, for code that must not assume "everything is FP32":
 *   a FP32 [-1, 3], b INT64 [-1, 3]
 *   sum    FP32 [-1, 3] = a + Cast<float>(b)
 *   argmax INT64 [-1]   = ArgMax(sum, axis 1, keepdims 0)
 */
export function buildMixedTypesModel(): Uint8Array {
  return buildGenericModel({
    inputs: [
      { name: 'a', elemType: ElemType.FLOAT, shape: [-1, 3] },
      { name: 'b', elemType: ElemType.INT64, shape: [-1, 3] },
    ],
    outputs: [
      { name: 'sum', elemType: ElemType.FLOAT, shape: [-1, 3] },
      { name: 'argmax', elemType: ElemType.INT64, shape: [-1] },
    ],
    nodes: [
      {
        opType: 'Cast',
        inputs: ['b'],
        outputs: ['b_float'],
        attributes: { to: ElemType.FLOAT },
      },
      { opType: 'Add', inputs: ['a', 'b_float'], outputs: ['sum'] },
      {
        opType: 'ArgMax',
        inputs: ['sum'],
        outputs: ['argmax'],
        attributes: { axis: 1, keepdims: 0 },
      },
    ],
    docString:
      'Mixed element types: sum = a + float(b); argmax = ArgMax(sum, axis 1)',
    metadata: { fixture: 'mixed-types' },
  });
}
