import { isPortfolioError, Signature } from '@portfolio/contracts';
import {
  Datatype,
  float32ToFloat16Bits,
  NamedTensor,
  TensorData,
} from '@portfolio/tensor';

import { decodeInferRequest, encodeInferResponse } from './oip.codec';

interface Sample {
  datatype: Datatype;
  json: unknown[];
  data: TensorData;
}

/** One input and one output per datatype, each [-1, 2] ([-1] for BYTES). */
const SAMPLES: Sample[] = [
  {
    datatype: 'BOOL',
    json: [true, false, false, true],
    data: new Uint8Array([1, 0, 0, 1]),
  },
  {
    datatype: 'UINT8',
    json: [0, 1, 254, 255],
    data: new Uint8Array([0, 1, 254, 255]),
  },
  {
    datatype: 'UINT16',
    json: [0, 1, 2, 65535],
    data: new Uint16Array([0, 1, 2, 65535]),
  },
  {
    datatype: 'UINT32',
    json: [0, 1, 2, 4294967295],
    data: new Uint32Array([0, 1, 2, 4294967295]),
  },
  {
    datatype: 'UINT64',
    json: [0, 1, 2, 2 ** 53 - 1],
    data: new BigUint64Array([0n, 1n, 2n, 2n ** 53n - 1n]),
  },
  {
    datatype: 'INT8',
    json: [-128, -1, 0, 127],
    data: new Int8Array([-128, -1, 0, 127]),
  },
  {
    datatype: 'INT16',
    json: [-32768, -1, 0, 32767],
    data: new Int16Array([-32768, -1, 0, 32767]),
  },
  {
    datatype: 'INT32',
    json: [-2147483648, -1, 0, 2147483647],
    data: new Int32Array([-2147483648, -1, 0, 2147483647]),
  },
  {
    datatype: 'INT64',
    json: [-(2 ** 53 - 1), -1, 0, 2 ** 53 - 1],
    data: new BigInt64Array([-(2n ** 53n - 1n), -1n, 0n, 2n ** 53n - 1n]),
  },
  {
    datatype: 'FP16',
    json: [0.5, -2, 1024, 2 ** -14],
    data: new Uint16Array([0.5, -2, 1024, 2 ** -14].map(float32ToFloat16Bits)),
  },
  {
    datatype: 'FP32',
    json: [0.5, -2.25, 2 ** 100, 0],
    data: new Float32Array([0.5, -2.25, 2 ** 100, 0]),
  },
  {
    datatype: 'FP64',
    json: [Math.PI, -1e300, 5e-324, 0],
    data: new Float64Array([Math.PI, -1e300, 5e-324, 0]),
  },
  {
    datatype: 'BYTES',
    json: ['ab', '', 'é', '☃'],
    data: ['ab', '', 'é', '☃'],
  },
];

const nameOf = (dt: Datatype) => `in_${dt.toLowerCase()}`;
const shapeOf = (dt: Datatype) => (dt === 'BYTES' ? [4] : [2, 2]);
const outputHead = (dt: Datatype) => ({
  name: `out_${dt.toLowerCase()}`,
  datatype: dt,
  shape: shapeOf(dt),
});

const SIGNATURE: Signature = {
  inputs: SAMPLES.map(({ datatype }) => ({
    name: nameOf(datatype),
    datatype,
    shape: datatype === 'BYTES' ? [-1] : [-1, 2],
  })),
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1, 1] },
    { name: 'label', datatype: 'INT64', shape: [-1] },
  ],
};

/** A tiny signature for the envelope's tests. */
const SMALL: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 2] },
    { name: 'k', datatype: 'INT64', shape: [-1] },
  ],
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1, 1] },
    { name: 'label', datatype: 'INT64', shape: [-1] },
  ],
};

function le(bytes: number, write: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  write(new DataView(out.buffer));
  return out;
}

/** What numpy's tobytes() (or Triton's serialize_byte_tensor for BYTES) writes. */
function rawOf(sample: Sample): Uint8Array {
  const data = sample.data;
  if (Array.isArray(data)) {
    return Buffer.concat(
      data.map((s) => {
        const b = Buffer.from(s, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        return Buffer.concat([len, b]);
      }),
    );
  }
  return new Uint8Array(data.buffer.slice(0));
}

/** A body as the binary extension lays it out, and its header length. */
function binaryBody(
  header: unknown,
  raws: Uint8Array[],
): { body: Buffer; headerLength: string } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return {
    body: Buffer.concat([json, ...raws]),
    headerLength: String(json.length),
  };
}

const json = (header: unknown) => Buffer.from(JSON.stringify(header), 'utf8');

const smallInputs = [
  { name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
  { name: 'k', shape: [1], datatype: 'INT64', data: [7] },
];

function decodeSmall(
  header: unknown,
  headerLength?: string,
  body: Buffer = json(header),
) {
  return decodeInferRequest(body, headerLength, SMALL, 'm');
}

/** The error thrown by `run`, as the client would read it (status from its code). */
function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (e) {
    if (isPortfolioError(e)) return { code: e.code, message: e.message };
    if (e instanceof Error && 'code' in e)
      return { code: String(e.code), message: e.message };
    throw e;
  }
  throw new Error('expected a refusal');
}

function expectSameTensors(got: NamedTensor[]): void {
  expect(got.map((t) => t.name)).toEqual(SIGNATURE.inputs.map((s) => s.name));
  got.forEach((t, i) => {
    const sample = SAMPLES[i];
    expect(t.datatype).toBe(sample.datatype);
    expect(t.shape).toEqual(shapeOf(sample.datatype));
    expect(Array.from(t.data as ArrayLike<unknown>)).toEqual(
      Array.from(sample.data as ArrayLike<unknown>),
    );
  });
}

describe('Open Inference Protocol codec', () => {
  describe('inputs', () => {
    it.each([
      ['flat', (s: Sample) => s.json],
      [
        'nested (row-major)',
        (s: Sample) =>
          s.datatype === 'BYTES'
            ? s.json
            : [s.json.slice(0, 2), s.json.slice(2)],
      ],
    ])('reads every datatype from %s JSON data', (_how, dataOf) => {
      const req = decodeInferRequest(
        json({
          inputs: SAMPLES.map((s) => ({
            name: nameOf(s.datatype),
            shape: shapeOf(s.datatype),
            datatype: s.datatype,
            data: dataOf(s),
          })),
        }),
        undefined,
        SIGNATURE,
        'm',
      );
      expectSameTensors(req.inputs);
    });

    it('reads every datatype as binary data after the JSON (binary_data_size, in input order)', () => {
      const raws = SAMPLES.map(rawOf);
      const { body, headerLength } = binaryBody(
        {
          inputs: SAMPLES.map((s, i) => ({
            name: nameOf(s.datatype),
            shape: shapeOf(s.datatype),
            datatype: s.datatype,
            parameters: { binary_data_size: raws[i].length },
          })),
        },
        raws,
      );
      const req = decodeInferRequest(body, headerLength, SIGNATURE, 'm');
      expectSameTensors(req.inputs);
    });

    it('mixes JSON and binary inputs, and returns them in signature order', () => {
      const k = le(16, (v) => {
        v.setBigInt64(0, 2n ** 60n, true);
        v.setBigInt64(8, -3n, true);
      });
      const { body, headerLength } = binaryBody(
        {
          inputs: [
            {
              name: 'k',
              shape: [2],
              datatype: 'INT64',
              parameters: { binary_data_size: 16 },
            },
            {
              name: 'x',
              shape: [2, 2],
              datatype: 'FP32',
              data: [
                [1, 2],
                [3, 4],
              ],
            },
          ],
        },
        [k],
      );
      const req = decodeSmall(null, headerLength, body);
      expect(req.inputs.map((t) => t.name)).toEqual(['x', 'k']);
      expect(req.inputs[1].data).toEqual(new BigInt64Array([2n ** 60n, -3n]));
      expect(req.inputs[0].data).toEqual(new Float32Array([1, 2, 3, 4]));
    });

    it('takes the whole body as JSON without the header, whatever other keys the client adds', () => {
      const req = decodeSmall({
        id: 'req-1',
        model_name: 'm',
        parameters: { priority: 1 },
        inputs: smallInputs.map((i) => ({ ...i, parameters: { note: 'x' } })),
      });
      expect(req.id).toBe('req-1');
      expect(req.outputs).toBeUndefined();
      expect(req.binary('y')).toBe(false);
    });

    it.each([
      [
        'flat data of the wrong size',
        [
          { name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3] },
          smallInputs[1],
        ],
        'input "x": shape [2, 2] needs 4 elements, got 3',
      ],
      [
        'a shape the model does not take',
        [
          { name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
          smallInputs[1],
        ],
        'input "x": expected shape [-1, 2], got [1, 3]',
      ],
      [
        'another datatype',
        [
          { name: 'x', shape: [1, 2], datatype: 'FP64', data: [1, 2] },
          smallInputs[1],
        ],
        'input "x": expected datatype FP32, got FP64',
      ],
      [
        'a ragged nested array',
        [
          { name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [3]] },
          smallInputs[1],
        ],
        'input "x": ragged array: row 1 at dimension 1 has 1 element, expected 2',
      ],
      [
        'an element out of range',
        [
          smallInputs[0],
          { name: 'k', shape: [1], datatype: 'INT64', data: [1.5] },
        ],
        'input "k": element 0 is 1.5, expected an integer for INT64',
      ],
      [
        'an unknown input',
        [
          ...smallInputs,
          { name: 'z', shape: [1], datatype: 'FP32', data: [1] },
        ],
        'model "m" has no input "z" (inputs: x, k)',
      ],
      [
        'a missing input',
        [smallInputs[0]],
        'input "k" is missing (expected INT64 [-1])',
      ],
      [
        'an input given twice',
        [smallInputs[0], smallInputs[0]],
        'input "x" is given more than once',
      ],
      [
        'an input without data',
        [{ name: 'x', shape: [1, 2], datatype: 'FP32' }, smallInputs[1]],
        'input "x" has neither "data" nor parameters.binary_data_size',
      ],
    ])('refuses %s with a message naming it', (_what, inputs, message) => {
      const err = refusal(() => decodeSmall({ inputs }));
      expect(err.code).toBe('INVALID_INPUT');
      expect(err.message).toBe(message);
    });

    it.each([
      [
        'a body that is not JSON',
        Buffer.from('{"inputs": ['),
        /^the inference request is not valid JSON/,
      ],
      ['an empty body', Buffer.alloc(0), /^the body is empty/],
      [
        'a JSON array',
        json([1]),
        /^the inference request must be a JSON object, got an array$/,
      ],
      ['no inputs', json({ id: 'a' }), /^"inputs" must be an array/],
      [
        'an id that is not a string',
        json({ id: 7, inputs: smallInputs }),
        /^"id" must be a string, got 7$/,
      ],
    ])('refuses %s as a bad request', (_what, body, message) => {
      const err = refusal(() => decodeSmall(null, undefined, body));
      expect(err.code).toBe('INVALID_REQUEST');
      expect(err.message).toMatch(message);
    });
  });

  describe('binary extension, refused', () => {
    const x = le(8, (v) => {
      v.setFloat32(0, 1, true);
      v.setFloat32(4, 2, true);
    });
    const header = (size: number) => ({
      inputs: [
        {
          name: 'x',
          shape: [1, 2],
          datatype: 'FP32',
          parameters: { binary_data_size: size },
        },
        smallInputs[1],
      ],
    });

    it('a truncated body: binary_data_size runs past its end', () => {
      const { body, headerLength } = binaryBody(header(8), [x.subarray(0, 5)]);
      expect(refusal(() => decodeSmall(null, headerLength, body))).toEqual({
        code: 'INVALID_INPUT',
        message:
          'input "x" binary_data_size 8 runs past the end of the body (5 bytes of binary data left)',
      });
    });

    it('a binary_data_size that does not match the shape', () => {
      const { body, headerLength } = binaryBody(header(4), [x.subarray(0, 4)]);
      expect(refusal(() => decodeSmall(null, headerLength, body)).message).toBe(
        'input "x": binary data has 4 bytes, shape [1, 2] of FP32 needs 8 (2 elements of 4 bytes)',
      );
    });

    it('bytes left over after the inputs', () => {
      const { body, headerLength } = binaryBody(header(8), [
        x,
        new Uint8Array(3),
      ]);
      expect(refusal(() => decodeSmall(null, headerLength, body))).toEqual({
        code: 'INVALID_REQUEST',
        message:
          "the body has 3 bytes after the JSON header that no input's binary_data_size accounts for",
      });
    });

    it('a header length past the body, or not a number', () => {
      const { body } = binaryBody(header(8), [x]);
      expect(
        refusal(() => decodeSmall(null, String(body.length + 1), body)).message,
      ).toBe(
        `Inference-Header-Content-Length is ${body.length + 1}, but the body has only ${body.length} bytes`,
      );
      expect(refusal(() => decodeSmall(null, '-3', body)).message).toBe(
        'Inference-Header-Content-Length must be a byte count, got "-3"',
      );
    });

    it('a header length that cuts the JSON short', () => {
      const { body, headerLength } = binaryBody(header(8), [x]);
      const err = refusal(() =>
        decodeSmall(null, String(Number(headerLength) - 2), body),
      );
      expect(err.code).toBe('INVALID_REQUEST');
      expect(err.message).toMatch(/^the inference request is not valid JSON/);
    });

    it('binary_data_size without the header, or with data as well', () => {
      expect(refusal(() => decodeSmall(header(8))).message).toBe(
        'input "x" has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header',
      );
      const both = header(8);
      Object.assign(both.inputs[0], { data: [1, 2] });
      const { body, headerLength } = binaryBody(both, [x]);
      expect(refusal(() => decodeSmall(null, headerLength, body)).message).toBe(
        'input "x" has both "data" and parameters.binary_data_size; send one',
      );
    });

    it('a binary input of another datatype, before its size is looked at', () => {
      const { body, headerLength } = binaryBody(
        {
          inputs: [
            {
              name: 'x',
              shape: [1, 2],
              datatype: 'FP64',
              parameters: { binary_data_size: 8 },
            },
            smallInputs[1],
          ],
        },
        [x],
      );
      expect(refusal(() => decodeSmall(null, headerLength, body)).message).toBe(
        'input "x": expected datatype FP32, got FP64',
      );
    });
  });

  describe('requested outputs', () => {
    it('passes the names asked for, in order, with binary_data per output over binary_data_output', () => {
      const req = decodeSmall({
        inputs: smallInputs,
        parameters: { binary_data_output: true },
        outputs: [
          { name: 'label', parameters: { binary_data: false } },
          { name: 'y' },
        ],
      });
      expect(req.outputs).toEqual(['label', 'y']);
      expect(req.binary('label')).toBe(false);
      expect(req.binary('y')).toBe(true);
    });

    it('takes binary_data_output on an output as binary_data', () => {
      const req = decodeSmall({
        inputs: smallInputs,
        outputs: [{ name: 'y', parameters: { binary_data_output: true } }],
      });
      expect(req.binary('y')).toBe(true);
    });

    it.each([
      [[{ name: 'z' }], 'model "m" has no output "z" (outputs: y, label)'],
      [
        [{ name: 'y' }, { name: 'y' }],
        'output "y" is requested more than once',
      ],
      [
        [{ name: 'y', parameters: { binary_data: 'yes' } }],
        'output "y": binary_data must be true or false, got "yes"',
      ],
      [
        [{ name: 'y', parameters: { classification: 2 } }],
        'output "y": the classification extension is not supported',
      ],
    ])('refuses %j', (outputs, message) => {
      expect(
        refusal(() => decodeSmall({ inputs: smallInputs, outputs })).message,
      ).toBe(message);
    });
  });

  describe('response', () => {
    const outputs: NamedTensor[] = SAMPLES.map((s) => ({
      ...outputHead(s.datatype),
      data: s.data,
    }));

    it('writes every datatype as flat JSON data, with the model, its version as a string and the id', () => {
      const res = encodeInferResponse({
        modelId: 'm',
        version: 3,
        id: 'req-9',
        outputs,
        binary: () => false,
      });
      expect(res.headerLength).toBeNull();
      const body = JSON.parse(res.body.toString('utf8'));
      expect(body.model_name).toBe('m');
      expect(body.model_version).toBe('3');
      expect(body.id).toBe('req-9');
      expect(body.outputs).toEqual(
        SAMPLES.map((s) => ({ ...outputHead(s.datatype), data: s.json })),
      );
    });

    it('writes every datatype as binary data after the JSON, in output order', () => {
      const res = encodeInferResponse({
        modelId: 'm',
        version: 1,
        outputs,
        binary: () => true,
      });
      expect(res.headerLength).not.toBeNull();
      const headerLength = res.headerLength ?? 0;
      const body = JSON.parse(
        res.body.subarray(0, headerLength).toString('utf8'),
      );
      expect(body.id).toBeUndefined();
      let at = headerLength;
      body.outputs.forEach(
        (
          o: {
            name: string;
            data?: unknown;
            parameters: { binary_data_size: number };
          },
          i: number,
        ) => {
          expect(o.data).toBeUndefined();
          const size = o.parameters.binary_data_size;
          expect(Array.from(res.body.subarray(at, at + size))).toEqual(
            Array.from(rawOf(SAMPLES[i])),
          );
          at += size;
        },
      );
      expect(at).toBe(res.body.length);
    });

    it('writes only the outputs asked for as binary, the others as JSON', () => {
      const res = encodeInferResponse({
        modelId: 'm',
        version: 1,
        outputs: outputs.slice(10, 12),
        binary: (name) => name === 'out_fp64',
      });
      const headerLength = res.headerLength ?? 0;
      const body = JSON.parse(
        res.body.subarray(0, headerLength).toString('utf8'),
      );
      expect(body.outputs[0]).toEqual({
        name: 'out_fp32',
        datatype: 'FP32',
        shape: [2, 2],
        data: SAMPLES[10].json,
      });
      expect(body.outputs[1].parameters).toEqual({ binary_data_size: 32 });
      expect(res.body.length).toBe(headerLength + 32);
    });
  });
});
