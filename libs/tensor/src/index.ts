export {
  allocateNumeric,
  DATATYPES,
  bytesPerElement,
  isDatatype,
} from './lib/datatype';
export type { Datatype, NumericDatatype } from './lib/datatype';
export type {
  NamedTensor,
  Tensor,
  TensorData,
  TensorSpec,
} from './lib/tensor.types';
export { TensorError } from './lib/tensor.error';
export { elementCount } from './lib/shape.util';
export { tensorFromJson } from './lib/json-tensor';
export { PackedNumbers } from './lib/packed-numbers';
export { tensorToFlat, tensorToNested } from './lib/json-output';
export { checkTensor } from './lib/tensor.check';
export { fromOnnxElemType, fromOrtType, toOrtType } from './lib/ort-type.util';
export type { OrtTensorType } from './lib/ort-type.util';
export { float16BitsToFloat32, float32ToFloat16Bits } from './lib/float16.util';
export {
  attachedFrame,
  decodeFrame,
  encodeFrame,
  frameDataBytes,
} from './lib/frame.codec';
export { tensorFromRaw, tensorToRaw } from './lib/raw-tensor.codec';
export type { DecodedFrame } from './lib/frame.codec';
export { concatBatch, splitBatch } from './lib/batch.util';
