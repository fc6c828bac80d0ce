import {
  Datatype,
  float32ToFloat16Bits,
  Tensor,
  TensorError,
  tensorFromRaw,
  tensorToRaw,
} from '@portfolio/tensor';

import {
  InferTensorContents,
  ModelInferRequest,
  ModelInferResponse,
  oipServiceDefinition,
} from './oip-grpc.proto';
import {
  ContentsField,
  contentsField,
  tensorFromContents,
  tensorToContents,
} from './tensor-contents.codec';

const infer = oipServiceDefinition()['ModelInfer'];

/** A request as a client sends it and the server reads it: through the protobuf wire. */
function overTheWire(partial: Partial<ModelInferRequest>): ModelInferRequest {
  return infer.requestDeserialize(
    infer.requestSerialize({ model_name: 'm', ...partial }),
  ) as ModelInferRequest;
}

function responseOverTheWire(response: ModelInferResponse): ModelInferResponse {
  return infer.responseDeserialize(
    infer.responseSerialize(response),
  ) as ModelInferResponse;
}

/**
 * Two elements of every datatype, the extremes where there are any: what goes in a
 * typed field (64-bit integers as decimal strings, as they come off the wire), and
 * the tensor storage it must become.
 */
const SAMPLES: [Datatype, unknown[], Tensor['data']][] = [
  ['BOOL', [true, false], Uint8Array.from([1, 0])],
  ['UINT8', [0, 255], Uint8Array.from([0, 255])],
  ['UINT16', [0, 65535], Uint16Array.from([0, 65535])],
  ['UINT32', [0, 4294967295], Uint32Array.from([0, 4294967295])],
  [
    'UINT64',
    ['0', '18446744073709551615'],
    BigUint64Array.from([0n, 18446744073709551615n]),
  ],
  ['INT8', [-128, 127], Int8Array.from([-128, 127])],
  ['INT16', [-32768, 32767], Int16Array.from([-32768, 32767])],
  [
    'INT32',
    [-2147483648, 2147483647],
    Int32Array.from([-2147483648, 2147483647]),
  ],
  [
    'INT64',
    ['-9223372036854775808', '9223372036854775807'],
    BigInt64Array.from([-9223372036854775808n, 9223372036854775807n]),
  ],
  ['FP32', [1.5, -2.25], Float32Array.from([1.5, -2.25])],
  ['FP64', [Math.PI, -1e300], Float64Array.from([Math.PI, -1e300])],
  ['BYTES', ['héllo', ''], ['héllo', '']],
];

const bytesOf = (values: unknown[], datatype: Datatype) =>
  datatype === 'BYTES'
    ? (values as string[]).map((s) => Buffer.from(s, 'utf8'))
    : values;

describe('typed contents (InferTensorContents)', () => {
  it.each(SAMPLES)(
    '%s: read from its field off the wire, and written back the same',
    (datatype, values, data) => {
      const field = contentsField(datatype) as ContentsField;
      expect(field).not.toBeNull();
      const request = overTheWire({
        inputs: [
          {
            name: 'x',
            datatype,
            shape: [1, 2],
            parameters: {},
            contents: {
              [field]: bytesOf(values, datatype),
            } as unknown as InferTensorContents,
          },
        ],
      });
      const input = request.inputs[0];

      const tensor = tensorFromContents(
        'x',
        datatype,
        [1, 2],
        input.contents ?? {},
      );
      expect(tensor).toEqual({ datatype, shape: [1, 2], data });

      const response = responseOverTheWire({
        model_name: 'm',
        model_version: '1',
        id: '',
        outputs: [
          {
            name: 'y',
            datatype,
            shape: [1, 2],
            contents: tensorToContents(tensor) ?? {},
          },
        ],
        raw_output_contents: [],
      });
      const back = response.outputs[0].contents ?? {};
      expect(back[field]).toEqual(bytesOf(values, datatype));
    },
  );

  it('has no field for FP16, which is refused in typed contents', () => {
    expect(contentsField('FP16')).toBeNull();
    expect(
      tensorToContents({
        datatype: 'FP16',
        shape: [1],
        data: Uint16Array.from([0]),
      }),
    ).toBeNull();
    expect(() =>
      tensorFromContents('x', 'FP16', [1], { fp32_contents: [1] }),
    ).toThrow(
      'input "x": FP16 has no typed contents; send it in raw_input_contents',
    );
  });

  it.each<[string, Datatype, number[], Partial<InferTensorContents>, string]>([
    [
      'elements in another field',
      'FP32',
      [2],
      { fp64_contents: [1, 2] },
      'FP32 elements go in contents.fp32_contents, got fp64_contents',
    ],
    [
      'elements in two fields',
      'INT32',
      [1],
      { int_contents: [1], int64_contents: ['1'] },
      'INT32 elements go in contents.int_contents, got int64_contents',
    ],
    [
      'fewer elements than the shape',
      'FP32',
      [2, 2],
      { fp32_contents: [1, 2, 3] },
      'contents.fp32_contents has 3 elements, shape [2,2] needs 4',
    ],
    [
      'more elements than the shape',
      'BOOL',
      [1],
      { bool_contents: [true, false] },
      'contents.bool_contents has 2 elements, shape [1] needs 1',
    ],
    [
      'an INT8 out of range',
      'INT8',
      [2],
      { int_contents: [1, 300] },
      'INT8 element 1 is 300, outside -128..127',
    ],
    [
      'a UINT16 out of range',
      'UINT16',
      [1],
      { uint_contents: [70000] },
      'UINT16 element 0 is 70000, outside 0..65535',
    ],
    [
      'BYTES that are not UTF-8',
      'BYTES',
      [1],
      { bytes_contents: [Uint8Array.from([0xff, 0xfe])] },
      'BYTES element 0 is not UTF-8 text',
    ],
  ])('refuses %s', (_what, datatype, shape, contents, message) => {
    const read = () => tensorFromContents('x', datatype, shape, contents);
    expect(read).toThrow(TensorError);
    expect(read).toThrow(`input "x": ${message}`);
  });
});

describe('raw contents (raw_input_contents / raw_output_contents)', () => {
  const raw: [Datatype, Tensor['data']][] = [
    ...SAMPLES.map(([dt, , data]): [Datatype, Tensor['data']] => [dt, data]),
    [
      'FP16',
      Uint16Array.from([float32ToFloat16Bits(1.5), float32ToFloat16Bits(-2)]),
    ],
  ];

  it.each(raw)(
    '%s: the same little-endian bytes both ways, off the wire',
    (datatype, data) => {
      const tensor: Tensor = { datatype, shape: [2], data };
      const request = overTheWire({
        inputs: [
          { name: 'x', datatype, shape: [2], parameters: {}, contents: null },
        ],
        raw_input_contents: [tensorToRaw(tensor)],
      });
      expect(request.inputs[0].shape).toEqual(['2']);

      const read = tensorFromRaw(
        'x',
        datatype,
        [2],
        request.raw_input_contents[0],
      );
      expect(read).toEqual(tensor);
      const response = responseOverTheWire({
        model_name: 'm',
        model_version: '1',
        id: '',
        outputs: [{ name: 'y', datatype, shape: [2] }],
        raw_output_contents: [tensorToRaw(read)],
      });
      expect(
        tensorFromRaw('y', datatype, [2], response.raw_output_contents[0]),
      ).toEqual(tensor);
    },
  );
});
