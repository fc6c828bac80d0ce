import { buildGenericModel, ElemType, int64Raw } from './generic-model';

/** Tensor names of buildIoModel; any string ONNX allows, the defaults are plain. */
export interface IoModelNames {
  a: string;
  b: string;
  sum: string;
  difference: string;
  product: string;
}

export const PLAIN_IO_NAMES: IoModelNames = {
  a: 'a',
  b: 'b',
  sum: 'sum',
  difference: 'difference',
  product: 'product',
};

/**
 * Two FP32 inputs and three FP32 outputs, all [-1, 2] (batch, 2):
 *   sum = a + b, difference = a - b, product = a * b
 * with the tensor names given, for code that must pass names through untouched
 * (`input:0`, spaces, quotes, non-ASCII) and pick a subset of the outputs.
 */
export function buildIoModel(names: IoModelNames = PLAIN_IO_NAMES): Uint8Array {
  const value = (name: string) => ({
    name,
    elemType: ElemType.FLOAT,
    shape: ['batch', 2],
  });
  return buildGenericModel({
    inputs: [value(names.a), value(names.b)],
    outputs: [value(names.sum), value(names.difference), value(names.product)],
    nodes: [
      { opType: 'Add', inputs: [names.a, names.b], outputs: [names.sum] },
      {
        opType: 'Sub',
        inputs: [names.a, names.b],
        outputs: [names.difference],
      },
      { opType: 'Mul', inputs: [names.a, names.b], outputs: [names.product] },
    ],
    docString: 'sum, difference and product of two FP32 inputs',
    metadata: { fixture: 'io' },
  });
}

/**
 * Several symbolic dimensions: x FP32 ['batch', 'rows', 'cols'] and an unnamed one in
 * bias FP32 [-1]:
 *   t   FP32 ['batch', 'cols', 'rows'] = Transpose(x, perm [0, 2, 1])
 *   row FP32 ['batch', 'rows']         = ReduceSum(x, axes [2], keepdims 0) + bias
 * bias broadcasts over the rows, so it has length rows (or 1).
 */
export function buildSymbolicDimsModel(): Uint8Array {
  return buildGenericModel({
    inputs: [
      { name: 'x', elemType: ElemType.FLOAT, shape: ['batch', 'rows', 'cols'] },
      { name: 'bias', elemType: ElemType.FLOAT, shape: [-1] },
    ],
    outputs: [
      { name: 't', elemType: ElemType.FLOAT, shape: ['batch', 'cols', 'rows'] },
      { name: 'row', elemType: ElemType.FLOAT, shape: ['batch', 'rows'] },
    ],
    nodes: [
      {
        opType: 'Transpose',
        inputs: ['x'],
        outputs: ['t'],
        attributes: { perm: [0, 2, 1] },
      },
      // Opset 13: ReduceSum takes its axes as an input.
      {
        opType: 'ReduceSum',
        inputs: ['x', 'axes'],
        outputs: ['row_sum'],
        attributes: { keepdims: 0 },
      },
      { opType: 'Add', inputs: ['row_sum', 'bias'], outputs: ['row'] },
    ],
    initializers: [
      { name: 'axes', elemType: ElemType.INT64, dims: [1], raw: int64Raw([2]) },
    ],
    docString: 'Transpose and row sums over three symbolic dimensions',
    metadata: { fixture: 'symbolic-dims' },
  });
}
