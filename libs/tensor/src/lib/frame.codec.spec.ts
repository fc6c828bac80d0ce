import { DATATYPES, type Datatype } from './datatype';
import {
  attachedFrame,
  decodeFrame,
  encodeFrame,
  frameDataBytes,
} from './frame.codec';
import { tensorToNested } from './json-output';
import { tensorFromJson } from './json-tensor';
import { TensorError } from './tensor.error';
import type { NamedTensor } from './tensor.types';

/** JSON inputs for every datatype whose values survive tensorToNested exactly. */
const SAMPLES: Record<Datatype, unknown> = {
  BOOL: [
    [true, false],
    [false, true],
  ],
  UINT8: [0, 7, 255],
  UINT16: [[0], [65535]],
  UINT32: [0, 4294967295],
  UINT64: [0, 9007199254740991],
  INT8: [-128, 0, 127],
  INT16: [-32768, 32767],
  INT32: [
    [-2147483648, 1],
    [2, 2147483647],
  ],
  INT64: [-9007199254740991, 0, 42],
  FP16: [1, -2, 0.5, 65504, 2 ** -24, 0.0999755859375],
  FP32: [[[1.5, -0.25, 3.4028234663852886e38]]],
  FP64: [0.1, -1e300, 5e-324],
  BYTES: ['hello', '', 'héllo ✓ 🚀', '\uFFFD real replacement char'],
};

function rankOf(value: unknown): number {
  let rank = 0;
  for (let v = value; Array.isArray(v); v = v[0]) rank++;
  return rank;
}

function errorOf(fn: () => unknown): TensorError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TensorError))
      throw new Error(`expected a TensorError, got ${String(err)}`);
    return err;
  }
  throw new Error('expected a TensorError');
}

/**
 * A frame with a hand-written header and tensor bytes placed at absolute
 * offsets. The header JSON is padded with spaces to 120 bytes (JSON allows
 * trailing whitespace), so tensor data starts at DATA_START whatever the
 * header says.
 */
const DATA_START = 256;
function rawFrame(
  header: unknown,
  chunks: Array<[offset: number, bytes: ArrayLike<number>]> = [],
): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = Buffer.from(text.padEnd(DATA_START - 8, ' '), 'utf8');
  if (json.length !== DATA_START - 8) throw new Error('test header too long');
  const end = chunks.reduce(
    (max, [offset, bytes]) => Math.max(max, offset + bytes.length),
    DATA_START,
  );
  const out = new Uint8Array(end);
  out.set([0x50, 0x54, 0x46, 0x31], 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  for (const [offset, bytes] of chunks) out.set(bytes, offset);
  return out;
}

function headerOf(frame: Uint8Array): Record<string, unknown> {
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(
    4,
    true,
  );
  return JSON.parse(
    Buffer.from(frame.subarray(8, 8 + length)).toString('utf8'),
  );
}

const f32 = (
  name: string,
  values: number[],
  shape = [values.length],
): NamedTensor => ({
  name,
  datatype: 'FP32',
  shape,
  data: new Float32Array(values),
});

describe('frame round trip', () => {
  it('carries every datatype JSON -> tensor -> frame -> tensor -> JSON', () => {
    const typed = DATATYPES.map((dt) => {
      const spec = {
        name: dt,
        datatype: dt,
        shape: new Array<number>(rankOf(SAMPLES[dt])).fill(-1),
      };
      return {
        name: dt.toLowerCase(),
        ...tensorFromJson(dt, SAMPLES[dt], spec),
      };
    });
    const decoded = decodeFrame(encodeFrame({ model: 'm' }, typed));
    expect(decoded.tensors.map((t) => t.datatype)).toEqual(DATATYPES);
    for (let i = 0; i < DATATYPES.length; i++) {
      const t = decoded.tensors[i];
      expect(t.name).toBe(typed[i].name);
      expect(t.shape).toEqual(typed[i].shape);
      expect(t.data).toEqual(typed[i].data);
      expect(tensorToNested(t)).toEqual(SAMPLES[DATATYPES[i]]);
    }
  });

  it('keeps INT64/UINT64 values beyond 2^53 exact', () => {
    const ids = tensorFromJson(
      'ids',
      ['9007199254740993', '-9223372036854775808'],
      {
        name: 'ids',
        datatype: 'INT64',
        shape: [-1],
      },
    );
    const big = tensorFromJson('u', ['18446744073709551615'], {
      name: 'u',
      datatype: 'UINT64',
      shape: [1],
    });
    const { tensors } = decodeFrame(
      encodeFrame({}, [
        { name: 'ids', ...ids },
        { name: 'u', ...big },
      ]),
    );
    expect(tensors[0].data).toEqual(
      new BigInt64Array([9007199254740993n, -9223372036854775808n]),
    );
    expect(tensors[1].data).toEqual(
      new BigUint64Array([18446744073709551615n]),
    );
  });

  it('returns the caller header without the tensor table', () => {
    const header = {
      model: 'resnet',
      version: 3,
      requestId: 'r-1',
      parameters: { a: [1, null, 'x'] },
    };
    const decoded = decodeFrame(encodeFrame(header, [f32('x', [1])]));
    expect(decoded.header).toEqual(header);
  });

  it('encodes the documented layout', () => {
    const frame = encodeFrame({ id: 'é' }, [
      f32('a', [1, 2, 3]),
      { name: 'b', datatype: 'BYTES', shape: [2], data: ['hi', 'ü'] },
      { name: 'c', datatype: 'INT8', shape: [1], data: new Int8Array([-1]) },
    ]);
    expect(Array.from(frame.subarray(0, 4))).toEqual([0x50, 0x54, 0x46, 0x31]);
    const headerLength = new DataView(frame.buffer).getUint32(4, true);
    const dataStart = Math.ceil((8 + headerLength) / 8) * 8;
    const header = headerOf(frame);
    expect(header).toEqual({
      id: 'é',
      tensors: [
        {
          name: 'a',
          datatype: 'FP32',
          shape: [3],
          offset: dataStart,
          byteLength: 12,
        },
        {
          name: 'b',
          datatype: 'BYTES',
          shape: [2],
          offset: dataStart + 16,
          byteLength: 4 + 2 + 4 + 2,
        },
        {
          name: 'c',
          datatype: 'INT8',
          shape: [1],
          offset: dataStart + 32,
          byteLength: 1,
        },
      ],
    });
    expect(frame.length).toBe(dataStart + 33);
    // Zero padding after the header and between tensors.
    expect(
      frame.subarray(8 + headerLength, dataStart).every((b) => b === 0),
    ).toBe(true);
    expect(
      frame.subarray(dataStart + 12, dataStart + 16).every((b) => b === 0),
    ).toBe(true);
    expect(Array.from(frame.subarray(dataStart, dataStart + 12))).toEqual(
      Array.from(new Uint8Array(new Float32Array([1, 2, 3]).buffer)),
    );
    expect(Array.from(frame.subarray(dataStart + 16, dataStart + 28))).toEqual([
      2, 0, 0, 0, 0x68, 0x69, 2, 0, 0, 0, 0xc3, 0xbc,
    ]);
  });

  it('settles the header length when offsets gain digits', () => {
    for (const count of [1, 7, 40, 300]) {
      const tensors = Array.from({ length: count }, (_, i) =>
        f32(`t${i}`, new Array((i * 37) % 11).fill(i)),
      );
      const frame = encodeFrame({ pad: 'x'.repeat(count) }, tensors);
      const decoded = decodeFrame(frame);
      expect(decoded.tensors).toEqual(tensors);
      const table = headerOf(frame)['tensors'] as Array<{ offset: number }>;
      for (const entry of table) expect(entry.offset % 8).toBe(0);
    }
  });

  it('handles no tensors and empty tensors', () => {
    expect(decodeFrame(encodeFrame({ a: 1 }, []))).toEqual({
      header: { a: 1 },
      tensors: [],
    });
    const empty: NamedTensor[] = [
      { name: 'e', datatype: 'FP64', shape: [0, 4], data: new Float64Array(0) },
      { name: 's', datatype: 'BYTES', shape: [0], data: [] },
      f32('last', []),
    ];
    expect(decodeFrame(encodeFrame({}, empty)).tensors).toEqual(empty);
  });

  it('encodes views on a larger buffer using only their own bytes', () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    const view = backing.subarray(1, 3);
    const { tensors } = decodeFrame(
      encodeFrame({}, [
        { name: 'v', datatype: 'FP32', shape: [2], data: view },
      ]),
    );
    expect(tensors[0].data).toEqual(new Float32Array([1, 2]));
  });
});

describe('decodeFrame memory', () => {
  const tensors: NamedTensor[] = [
    f32('a', [1, 2, 3]),
    { name: 'b', datatype: 'INT64', shape: [1], data: new BigInt64Array([5n]) },
    {
      name: 'c',
      datatype: 'FP16',
      shape: [1],
      data: new Uint16Array([0x3c00]),
    },
  ];

  it('returns views sharing the input buffer when it is 8-aligned', () => {
    const frame = encodeFrame({}, tensors);
    const decoded = decodeFrame(frame);
    for (const t of decoded.tensors)
      expect((t.data as Float32Array).buffer).toBe(frame.buffer);
    // Writes through the input show up in the tensor: no copy was made.
    const offset = (headerOf(frame)['tensors'] as Array<{ offset: number }>)[0]
      .offset;
    new DataView(frame.buffer).setFloat32(offset, 42, true);
    expect(decoded.tensors[0].data[0]).toBe(42);
  });

  it('shares the buffer at a non-zero aligned byteOffset', () => {
    const frame = encodeFrame({}, tensors);
    const backing = new Uint8Array(frame.length + 16);
    backing.set(frame, 8);
    const input = backing.subarray(8, 8 + frame.length);
    const decoded = decodeFrame(input);
    expect(decoded.tensors).toEqual(tensors);
    for (const t of decoded.tensors)
      expect((t.data as Float32Array).buffer).toBe(input.buffer);
  });

  it('copies once into an aligned buffer when the input is misaligned', () => {
    const frame = encodeFrame({}, tensors);
    const backing = new Uint8Array(frame.length + 3);
    backing.set(frame, 3);
    const input = backing.subarray(3);
    const decoded = decodeFrame(input);
    expect(decoded.tensors).toEqual(tensors);
    const buffers = new Set(
      decoded.tensors.map((t) => (t.data as Float32Array).buffer),
    );
    expect(buffers.size).toBe(1);
    expect(buffers.has(input.buffer)).toBe(false);
  });

  it('accepts Node Buffers', () => {
    expect(decodeFrame(Buffer.from(encodeFrame({}, tensors))).tensors).toEqual(
      tensors,
    );
  });
});

describe('encodeFrame refusals', () => {
  it('refuses a header with a tensors key', () => {
    expect(() => encodeFrame({ tensors: [] }, [])).toThrow(
      'frame: header must not have a "tensors" key; the frame stores its tensor table there',
    );
  });

  it('refuses headers that are not JSON objects', () => {
    expect(() => encodeFrame({ id: 1n }, [])).toThrow(
      'frame: header is not JSON-serializable',
    );
    expect(() =>
      encodeFrame([] as unknown as Record<string, unknown>, []),
    ).toThrow('frame: header must be a plain object');
  });

  it('refuses duplicate names and inconsistent tensors', () => {
    expect(() => encodeFrame({}, [f32('x', [1]), f32('x', [2])])).toThrow(
      'frame: tensor "x": appears more than once',
    );
    expect(() => encodeFrame({}, [f32('x', [1, 2], [3])])).toThrow(
      'input "x": shape [3] needs 3 elements, got 2',
    );
    expect(() =>
      encodeFrame({}, [
        {
          name: 's',
          datatype: 'BYTES',
          shape: [1],
          data: [5 as unknown as string],
        },
      ]),
    ).toThrow('frame: tensor "s": BYTES element 0 is not a string');
  });
});

describe('decodeFrame corruption', () => {
  const valid = encodeFrame({ m: 1 }, [
    f32('a', [1, 2, 3]),
    { name: 's', datatype: 'BYTES', shape: [2], data: ['xy', 'z'] },
    { name: 'b', datatype: 'INT16', shape: [2], data: new Int16Array([1, 2]) },
  ]);

  it('rejects every truncation with a TensorError', () => {
    for (let n = 0; n < valid.length; n++)
      errorOf(() => decodeFrame(valid.subarray(0, n)));
    expect(errorOf(() => decodeFrame(valid.subarray(0, 5))).message).toBe(
      'frame: truncated: 5 bytes, a frame has at least 8',
    );
    expect(
      errorOf(() => decodeFrame(valid.subarray(0, valid.length - 1))).message,
    ).toMatch(
      /^frame: tensor "b": bytes \d+\.\.\d+ run past the end of the frame \(\d+ bytes\)$/,
    );
  });

  it('rejects a bad magic', () => {
    const bad = valid.slice();
    bad[3] = 0x32;
    expect(errorOf(() => decodeFrame(bad)).message).toBe(
      'frame: bad magic 0x50544632, expected "PTF1" (0x50544631)',
    );
  });

  it('rejects a header length past the end', () => {
    const bad = valid.slice();
    new DataView(bad.buffer).setUint32(4, 0xfffffff0, true);
    const err = errorOf(() => decodeFrame(bad));
    expect(err.message).toBe(
      `frame: header length 4294967280 runs past the end of the frame (${bad.length} bytes)`,
    );
    expect(err.input).toBeNull();
  });

  it('rejects malformed headers', () => {
    expect(errorOf(() => decodeFrame(rawFrame('{"a":'))).message).toMatch(
      /^frame: header is not valid UTF-8 JSON/,
    );
    expect(errorOf(() => decodeFrame(rawFrame('[1]'))).message).toBe(
      'frame: header is not a JSON object',
    );
    expect(errorOf(() => decodeFrame(rawFrame({ a: 1 }))).message).toBe(
      'frame: header has no "tensors" array',
    );
    const badUtf8 = rawFrame('{"a":"..."}');
    badUtf8[14] = 0xff;
    expect(errorOf(() => decodeFrame(badUtf8)).message).toMatch(
      /^frame: header is not valid UTF-8 JSON/,
    );
  });

  /** A frame with one FP32 tensor table entry (overrides applied) and 16 data bytes at the data start. */
  function oneTensor(overrides: Record<string, unknown>) {
    const entry = {
      name: 'x',
      datatype: 'FP32',
      shape: [4],
      offset: DATA_START,
      byteLength: 16,
      ...overrides,
    };
    return rawFrame({ tensors: [entry] }, [[DATA_START, new Uint8Array(16)]]);
  }

  it('accepts the hand-built baseline', () => {
    expect(decodeFrame(oneTensor({})).tensors[0].data).toEqual(
      new Float32Array(4),
    );
  });

  it('rejects misaligned offsets', () => {
    const err = errorOf(() =>
      decodeFrame(oneTensor({ offset: 260, byteLength: 12, shape: [3] })),
    );
    expect(err.message).toBe(
      'frame: tensor "x": offset 260 is not 8-byte aligned',
    );
    expect(err.input).toBe('x');
  });

  it('rejects byteLength that does not match shape and datatype', () => {
    expect(
      errorOf(() => decodeFrame(oneTensor({ byteLength: 12 }))).message,
    ).toBe(
      'frame: tensor "x": byteLength 12 does not match shape [4] of FP32 (4 elements of 4 bytes = 16)',
    );
    expect(
      errorOf(() => decodeFrame(oneTensor({ datatype: 'FP64' }))).message,
    ).toBe(
      'frame: tensor "x": byteLength 16 does not match shape [4] of FP64 (4 elements of 8 bytes = 32)',
    );
  });

  it('rejects tensors running past the end', () => {
    expect(
      errorOf(() => decodeFrame(oneTensor({ byteLength: 24, shape: [6] })))
        .message,
    ).toBe(
      'frame: tensor "x": bytes 256..280 run past the end of the frame (272 bytes)',
    );
    expect(
      errorOf(() => decodeFrame(oneTensor({ offset: 2 ** 40 }))).message,
    ).toContain('run past the end');
  });

  it('rejects offsets inside the header or overlapping the previous tensor', () => {
    expect(errorOf(() => decodeFrame(oneTensor({ offset: 0 }))).message).toBe(
      'frame: tensor "x": offset 0 lies inside the header, which ends at 256',
    );
    const overlap = rawFrame(
      {
        tensors: [
          {
            name: 'a',
            datatype: 'UINT8',
            shape: [16],
            offset: 256,
            byteLength: 16,
          },
          {
            name: 'b',
            datatype: 'UINT8',
            shape: [8],
            offset: 264,
            byteLength: 8,
          },
        ],
      },
      [[256, new Uint8Array(16)]],
    );
    expect(errorOf(() => decodeFrame(overlap)).message).toBe(
      'frame: tensor "b": offset 264 overlaps the previous tensor, which ends at 272',
    );
  });

  it('rejects bad table entries', () => {
    expect(
      errorOf(() => decodeFrame(oneTensor({ datatype: 'FLOAT' }))).message,
    ).toMatch(
      /^frame: tensor "x": unknown datatype "FLOAT"; expected one of BOOL, /,
    );
    expect(errorOf(() => decodeFrame(oneTensor({ shape: [-4] }))).message).toBe(
      'frame: tensor "x": shape [-4] is not an array of non-negative integers',
    );
    expect(
      errorOf(() => decodeFrame(oneTensor({ shape: [1.5] }))).message,
    ).toContain('shape [1.5] is not');
    expect(
      errorOf(() => decodeFrame(oneTensor({ offset: '256' }))).message,
    ).toBe('frame: tensor "x": offset "256" is not a non-negative integer');
    expect(
      errorOf(() => decodeFrame(oneTensor({ byteLength: -1 }))).message,
    ).toContain('byteLength -1 is not');
    expect(errorOf(() => decodeFrame(oneTensor({ name: 5 }))).message).toBe(
      'frame: tensor table entry 0 has no string name',
    );
    expect(errorOf(() => decodeFrame(rawFrame({ tensors: [7] }))).message).toBe(
      'frame: tensor table entry 0 is not an object',
    );
    expect(
      errorOf(() =>
        decodeFrame(oneTensor({ shape: [65536, 65536], byteLength: 0 })),
      ).message,
    ).toBe(
      'frame: tensor "x": shape [65536, 65536] has 4294967296 elements, more than the limit of 2147483647',
    );
  });

  it('rejects trailing bytes after the header of a frame without tensors', () => {
    const frame = encodeFrame({}, []);
    const padded = new Uint8Array(frame.length + 8);
    padded.set(frame);
    expect(errorOf(() => decodeFrame(padded)).message).toBe(
      'frame: 8 unexpected bytes after the header',
    );
    expect(
      errorOf(() => decodeFrame(frame.subarray(0, frame.length - 1))).message,
    ).toMatch(
      /^frame: truncated: header padding ends at \d+, frame has \d+ bytes$/,
    );
  });

  it('rejects trailing bytes after the last tensor', () => {
    const padded = new Uint8Array(valid.length + 16);
    padded.set(valid);
    expect(errorOf(() => decodeFrame(padded)).message).toMatch(
      /^frame: \d+ unexpected bytes after the last tensor$/,
    );
  });

  it('rejects corrupt BYTES data', () => {
    const bytesFrame = (byteLength: number, data: number[], count = 1) =>
      rawFrame(
        {
          tensors: [
            {
              name: 's',
              datatype: 'BYTES',
              shape: [count],
              offset: DATA_START,
              byteLength,
            },
          ],
        },
        [[DATA_START, data]],
      );
    expect(
      decodeFrame(bytesFrame(6, [2, 0, 0, 0, 0x6f, 0x6b])).tensors[0].data,
    ).toEqual(['ok']);
    expect(
      errorOf(() => decodeFrame(bytesFrame(6, [9, 0, 0, 0, 0x6f, 0x6b])))
        .message,
    ).toBe(
      'frame: tensor "s": BYTES element 0 of 1: length 9 runs past the tensor\'s end (2 bytes left)',
    );
    expect(
      errorOf(() => decodeFrame(bytesFrame(6, [2, 0, 0, 0, 0x6f, 0x6b], 2)))
        .message,
    ).toBe(
      'frame: tensor "s": BYTES element 1 of 2: length prefix runs past the tensor\'s end',
    );
    expect(
      errorOf(() => decodeFrame(bytesFrame(7, [1, 0, 0, 0, 0x6f, 0x6b, 0])))
        .message,
    ).toBe('frame: tensor "s": BYTES data has 2 bytes after its 1 elements');
    expect(
      errorOf(() => decodeFrame(bytesFrame(5, [1, 0, 0, 0, 0xff]))).message,
    ).toBe('frame: tensor "s": BYTES element 0 is not valid UTF-8');
  });

  it('rejects duplicate tensor names', () => {
    const dup = rawFrame({
      tensors: [
        {
          name: 'a',
          datatype: 'UINT8',
          shape: [0],
          offset: 256,
          byteLength: 0,
        },
        {
          name: 'a',
          datatype: 'UINT8',
          shape: [0],
          offset: 256,
          byteLength: 0,
        },
      ],
    });
    expect(errorOf(() => decodeFrame(dup)).message).toBe(
      'frame: tensor "a": appears more than once',
    );
  });

  it('rejects inputs that are not byte arrays', () => {
    expect(
      errorOf(() => decodeFrame(new Uint16Array(8) as unknown as Uint8Array))
        .message,
    ).toBe('frame: expected a Uint8Array');
    expect(
      errorOf(() => decodeFrame('PTF1' as unknown as Uint8Array)).message,
    ).toBe('frame: expected a Uint8Array');
  });

  it('never throws anything but TensorError on random corruption', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    for (let round = 0; round < 2000; round++) {
      const bad = valid.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++)
        bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      try {
        decodeFrame(bad);
      } catch (err) {
        if (!(err instanceof TensorError)) throw err;
      }
    }
  });
});

describe('frames handed over as objects', () => {
  const tensors: NamedTensor[] = [
    { name: 'a', datatype: 'FP32', shape: [2], data: new Float32Array(2) },
    { name: 'b', datatype: 'BYTES', shape: [2], data: ['hé', ''] },
  ];

  it('counts the tensor bytes a frame would carry, BYTES as length-prefixed UTF-8', () => {
    const frame = encodeFrame({}, tensors);

    expect(frameDataBytes(tensors)).toBe(8 + (4 + 3) + 4);
    expect(frameDataBytes(tensors)).toBeLessThan(frame.byteLength);
  });

  it('recognizes a header and tensors, and nothing else', () => {
    const header = { model_id: 'm' };

    expect(attachedFrame({ header, tensors })).toEqual({ header, tensors });
    expect(attachedFrame({ header, tensors })?.tensors).toBe(tensors);
    expect(attachedFrame(undefined)).toBeNull();
    expect(attachedFrame({ header })).toBeNull();
    expect(attachedFrame({ header: null, tensors })).toBeNull();
    expect(attachedFrame(new Uint8Array(4))).toBeNull();
  });
});
