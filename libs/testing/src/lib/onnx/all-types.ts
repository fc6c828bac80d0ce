import {
  buildGenericModel,
  ElemType,
  NodeSpec,
  ValueSpec,
} from './generic-model';

/**
 * The ONNX element types that have an Open Inference Protocol datatype, by that name
 * (BYTES is ONNX's STRING). `input` is the model's input of that type; its Identity
 * is output `<input>_out`.
 */
export const ALL_TYPES_INPUTS = [
  { datatype: 'FP32', input: 'fp32', elemType: ElemType.FLOAT },
  { datatype: 'FP64', input: 'fp64', elemType: ElemType.DOUBLE },
  { datatype: 'FP16', input: 'fp16', elemType: ElemType.FLOAT16 },
  { datatype: 'INT8', input: 'int8', elemType: ElemType.INT8 },
  { datatype: 'INT16', input: 'int16', elemType: ElemType.INT16 },
  { datatype: 'INT32', input: 'int32', elemType: ElemType.INT32 },
  { datatype: 'INT64', input: 'int64', elemType: ElemType.INT64 },
  { datatype: 'UINT8', input: 'uint8', elemType: ElemType.UINT8 },
  { datatype: 'UINT16', input: 'uint16', elemType: ElemType.UINT16 },
  { datatype: 'UINT32', input: 'uint32', elemType: ElemType.UINT32 },
  { datatype: 'UINT64', input: 'uint64', elemType: ElemType.UINT64 },
  { datatype: 'BOOL', input: 'bool', elemType: ElemType.BOOL },
  { datatype: 'BYTES', input: 'bytes', elemType: ElemType.STRING },
] as const;

/**
 * One input of every type in ALL_TYPES_INPUTS, each 1-D of its own symbolic length
 * (`<input>_len`), returned unchanged by an Identity as `<input>_out`; and three Casts
 * whose results are known exactly:
 *   int64_text   BYTES = Cast<string>(int64)  (decimal text, exact beyond 2^53)
 *   fp16_widened FP32  = Cast<float>(fp16)    (every half is exactly a float)
 *   int8_nonzero BOOL  = Cast<bool>(int8)     (true where non-zero)
 */
export function buildAllTypesModel(): Uint8Array {
  const inputs: ValueSpec[] = ALL_TYPES_INPUTS.map((t) => ({
    name: t.input,
    elemType: t.elemType,
    shape: [`${t.input}_len`],
  }));
  const outputs: ValueSpec[] = ALL_TYPES_INPUTS.map((t) => ({
    name: `${t.input}_out`,
    elemType: t.elemType,
    shape: [`${t.input}_len`],
  }));
  const nodes: NodeSpec[] = ALL_TYPES_INPUTS.map((t) => ({
    opType: 'Identity',
    inputs: [t.input],
    outputs: [`${t.input}_out`],
  }));
  const casts = [
    { from: 'int64', to: ElemType.STRING, output: 'int64_text' },
    { from: 'fp16', to: ElemType.FLOAT, output: 'fp16_widened' },
    { from: 'int8', to: ElemType.BOOL, output: 'int8_nonzero' },
  ];
  for (const c of casts) {
    outputs.push({ name: c.output, elemType: c.to, shape: [`${c.from}_len`] });
    nodes.push({
      opType: 'Cast',
      inputs: [c.from],
      outputs: [c.output],
      attributes: { to: c.to },
    });
  }
  return buildGenericModel({
    inputs,
    outputs,
    nodes,
    docString: 'Every OIP datatype through an Identity, and three exact Casts',
    metadata: { fixture: 'all-types' },
  });
}
