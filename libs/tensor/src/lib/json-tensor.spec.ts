import { tensorFromJson } from './json-tensor';
import { PackedNumbers } from './packed-numbers';
import { TensorError } from './tensor.error';
import type { TensorSpec } from './tensor.types';

const spec = (
  datatype: TensorSpec['datatype'],
  shape: number[],
  name = 'x',
): TensorSpec => ({ name, datatype, shape });

/** The TensorError thrown by `fn`; fails the test when nothing or something else is thrown. */
function errorOf(fn: () => unknown): TensorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TensorError);
    return err as TensorError;
  }
  throw new Error('expected a TensorError');
}

describe('tensorFromJson: nested arrays', () => {
  it('measures the shape and fills storage of the spec datatype', () => {
    const t = tensorFromJson(
      'x',
      [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
      spec('FP32', [-1, 4]),
    );
    expect(t.datatype).toBe('FP32');
    expect(t.shape).toEqual([2, 4]);
    expect(t.data).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
  });

  it('reads three levels in row-major order', () => {
    const t = tensorFromJson(
      'x',
      [
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
        [
          [9, 10],
          [11, 12],
        ],
      ],
      spec('INT32', [3, 2, 2]),
    );
    expect(t.shape).toEqual([3, 2, 2]);
    expect(Array.from(t.data as Int32Array)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
  });

  it('gives a bare scalar shape []', () => {
    const t = tensorFromJson('x', 2.5, null);
    expect(t).toEqual({
      datatype: 'FP32',
      shape: [],
      data: new Float32Array([2.5]),
    });
    expect(tensorFromJson('s', 'hi', null)).toEqual({
      datatype: 'BYTES',
      shape: [],
      data: ['hi'],
    });
  });

  it('infers the datatype without a spec', () => {
    expect(tensorFromJson('x', [1, 2], null).datatype).toBe('FP32');
    expect(tensorFromJson('x', [[true], [false]], null)).toEqual({
      datatype: 'BOOL',
      shape: [2, 1],
      data: new Uint8Array([1, 0]),
    });
    expect(tensorFromJson('x', ['a', 'b'], null)).toEqual({
      datatype: 'BYTES',
      shape: [2],
      data: ['a', 'b'],
    });
    expect(tensorFromJson('x', [], null)).toEqual({
      datatype: 'FP32',
      shape: [0],
      data: new Float32Array(0),
    });
  });

  it('handles empty dimensions', () => {
    expect(tensorFromJson('x', [[], []], spec('INT8', [-1, 0]))).toEqual({
      datatype: 'INT8',
      shape: [2, 0],
      data: new Int8Array(0),
    });
  });

  it('rejects ragged arrays with the offending row', () => {
    const err = errorOf(() =>
      tensorFromJson(
        'x',
        [
          [1, 2, 3, 4],
          [1, 2, 3],
        ],
        null,
      ),
    );
    expect(err.message).toBe(
      'input "x": ragged array: row 1 at dimension 1 has 3 elements, expected 4',
    );
    expect(err.input).toBe('x');
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.name).toBe('TensorError');
  });

  it('locates ragged rows deeper down by their path', () => {
    expect(() =>
      tensorFromJson(
        'x',
        [
          [
            [1, 2],
            [3, 4],
          ],
          [[5, 6], [7]],
        ],
        null,
      ),
    ).toThrow(
      'input "x": ragged array: row [1][1] at dimension 2 has 1 element, expected 2',
    );
    expect(() => tensorFromJson('x', [[1, 2], 3], null)).toThrow(
      'input "x": ragged array: row 1 at dimension 1 is 3, expected an array of 2 elements',
    );
    expect(() =>
      tensorFromJson(
        'x',
        [
          [1, 2],
          [3, [4]],
        ],
        null,
      ),
    ).toThrow(
      'input "x": ragged array: element [1][1] is an array nested deeper than shape [2, 2]',
    );
    expect(() => tensorFromJson('x', [[], [1]], null)).toThrow(
      'input "x": ragged array: row 1 at dimension 1 has 1 element, expected 0',
    );
  });

  it('rejects nesting beyond 64 levels without exhausting the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => tensorFromJson('x', deep, null)).toThrow(
      'input "x": array is nested more than 64 levels deep',
    );
  });

  it('checks rows before allocating, so a ragged input cannot claim a huge shape', () => {
    const rows: unknown[] = [new Array(1_000_000).fill(0)];
    for (let i = 1; i < 2000; i++) rows.push([]);
    expect(() => tensorFromJson('x', rows, spec('FP64', [-1, -1]))).toThrow(
      'ragged array: row 1 at dimension 1 has 0 elements, expected 1000000',
    );
  });

  it('rejects inputs that are neither arrays, scalars nor tensor objects', () => {
    expect(() => tensorFromJson('x', null, null)).toThrow(
      'input "x": expected a nested array, a scalar or a tensor object {shape, datatype, data}, got null',
    );
    expect(() => tensorFromJson('x', undefined, null)).toThrow(TensorError);
  });
});

describe('tensorFromJson: elements', () => {
  it('requires integers for integer types', () => {
    const err = errorOf(() =>
      tensorFromJson('ids', [1, 2, 3, 1.5], spec('INT64', [-1], 'ids')),
    );
    expect(err.message).toBe(
      'input "ids": element 3 is 1.5, expected an integer for INT64',
    );
    expect(err.details).toEqual({
      input: 'ids',
      element: 3,
      datatype: 'INT64',
    });
    expect(() => tensorFromJson('x', [1, '2'], spec('INT32', [-1]))).toThrow(
      'input "x": element 1 is "2", expected an integer for INT32',
    );
  });

  it('names the nested position of a bad element alongside its flat index', () => {
    expect(() =>
      tensorFromJson(
        'x',
        [
          [1, 2],
          [3, 0.5],
        ],
        spec('INT8', [2, 2]),
      ),
    ).toThrow(
      'input "x": element 3 (at [1][1]) is 0.5, expected an integer for INT8',
    );
  });

  it.each([
    ['UINT8', 256, '(0 to 255)'],
    ['UINT8', -1, '(0 to 255)'],
    ['INT8', 128, '(-128 to 127)'],
    ['INT8', -129, '(-128 to 127)'],
    ['UINT16', 65536, '(0 to 65535)'],
    ['INT16', -32769, '(-32768 to 32767)'],
    ['UINT32', 4294967296, '(0 to 4294967295)'],
    ['INT32', 2147483648, '(-2147483648 to 2147483647)'],
    ['UINT64', -1, '(0 to 18446744073709551615)'],
  ] as const)('rejects %s %p as out of range', (dt, v, range) => {
    expect(() => tensorFromJson('x', [0, v], spec(dt, [-1]))).toThrow(
      `input "x": element 1: ${v} is out of range for ${dt} ${range}`,
    );
  });

  it('says "300 is out of range for UINT8"', () => {
    expect(() => tensorFromJson('x', [300], spec('UINT8', [1]))).toThrow(
      'input "x": element 0: 300 is out of range for UINT8 (0 to 255)',
    );
  });

  it('accepts the extremes of each integer type', () => {
    const cases = [
      ['INT8', [-128, 127]],
      ['UINT8', [0, 255]],
      ['INT16', [-32768, 32767]],
      ['UINT16', [0, 65535]],
      ['INT32', [-2147483648, 2147483647]],
      ['UINT32', [0, 4294967295]],
    ] as const;
    for (const [dt, values] of cases) {
      expect(
        Array.from(
          tensorFromJson('x', values, spec(dt, [2])).data as Int32Array,
        ),
      ).toEqual(values);
    }
  });

  it('keeps INT64/UINT64 precision through decimal strings', () => {
    const t = tensorFromJson(
      'ids',
      ['9007199254740993', '-9223372036854775808', 42],
      spec('INT64', [-1]),
    );
    expect(t.data).toEqual(
      new BigInt64Array([9007199254740993n, -9223372036854775808n, 42n]),
    );
    const u = tensorFromJson(
      'u',
      ['18446744073709551615', 0],
      spec('UINT64', [-1]),
    );
    expect(u.data).toEqual(new BigUint64Array([18446744073709551615n, 0n]));
  });

  it('accepts safe-integer numbers for INT64 but not larger ones', () => {
    const t = tensorFromJson(
      'x',
      [9007199254740991, -9007199254740991],
      spec('INT64', [2]),
    );
    expect(t.data).toEqual(
      new BigInt64Array([9007199254740991n, -9007199254740991n]),
    );
    expect(() =>
      tensorFromJson('x', [9007199254740992], spec('INT64', [1])),
    ).toThrow(
      'input "x": element 0: 9007199254740992 is beyond ±(2^53-1) and may have lost precision; ' +
        'send INT64 values this large as decimal strings',
    );
  });

  it('range-checks and validates INT64 strings', () => {
    expect(() =>
      tensorFromJson('x', ['9223372036854775808'], spec('INT64', [1])),
    ).toThrow(
      'input "x": element 0: "9223372036854775808" is out of range for INT64 (-9223372036854775808 to 9223372036854775807)',
    );
    expect(() => tensorFromJson('x', ['-1'], spec('UINT64', [1]))).toThrow(
      'element 0: "-1" is out of range for UINT64',
    );
    for (const bad of [
      '1.0',
      '1e3',
      ' 1',
      '0x10',
      '',
      '123456789012345678901',
    ]) {
      expect(() => tensorFromJson('x', [bad], spec('INT64', [1]))).toThrow(
        `input "x": element 0 is ${JSON.stringify(bad)}, expected an integer or a decimal string for INT64`,
      );
    }
    expect(() => tensorFromJson('x', ['1'], spec('INT32', [1]))).toThrow(
      'expected an integer for INT32',
    );
  });

  it('requires finite numbers in range for float types', () => {
    expect(() => tensorFromJson('x', [1, 'a'], spec('FP32', [2]))).toThrow(
      'input "x": element 1 is "a", expected a number for FP32',
    );
    expect(() => tensorFromJson('x', [null], spec('FP64', [1]))).toThrow(
      'input "x": element 0 is null, expected a number for FP64',
    );
    expect(() => tensorFromJson('x', [true], spec('FP16', [1]))).toThrow(
      'input "x": element 0 is true, expected a number for FP16',
    );
    expect(() => tensorFromJson('x', [NaN], spec('FP32', [1]))).toThrow(
      'input "x": element 0 is NaN, expected a finite number for FP32',
    );
    expect(() => tensorFromJson('x', [Infinity], spec('FP64', [1]))).toThrow(
      'element 0 is Infinity, expected a finite number for FP64',
    );
    expect(() => tensorFromJson('x', [1e39], spec('FP32', [1]))).toThrow(
      'input "x": element 0: 1e+39 is out of range for FP32 (largest finite magnitude 3.4028234663852886e+38)',
    );
    expect(() => tensorFromJson('x', [70000], spec('FP16', [1]))).toThrow(
      'input "x": element 0: 70000 is out of range for FP16 (largest finite magnitude 65504)',
    );
  });

  it('stores FP16 as half bits', () => {
    const t = tensorFromJson(
      'h',
      [1, 65504, -2, 0.5, 2 ** -24],
      spec('FP16', [-1]),
    );
    expect(t.data).toEqual(
      new Uint16Array([0x3c00, 0x7bff, 0xc000, 0x3800, 0x0001]),
    );
  });

  it('accepts true/false and 0/1 for BOOL', () => {
    expect(
      tensorFromJson('b', [true, false, 1, 0], spec('BOOL', [4])).data,
    ).toEqual(new Uint8Array([1, 0, 1, 0]));
    expect(() => tensorFromJson('b', [true, 2], spec('BOOL', [2]))).toThrow(
      'input "b": element 1 is 2, expected true, false, 0 or 1 for BOOL',
    );
    expect(() => tensorFromJson('b', ['true'], spec('BOOL', [1]))).toThrow(
      'element 0 is "true", expected true',
    );
  });

  it('accepts only strings for BYTES and shortens long values in messages', () => {
    expect(
      tensorFromJson('s', ['a', 'héllo 🚀'], spec('BYTES', [2])).data,
    ).toEqual(['a', 'héllo 🚀']);
    expect(() => tensorFromJson('s', ['a', 5], spec('BYTES', [2]))).toThrow(
      'input "s": element 1 is 5, expected a string for BYTES',
    );
    expect(() =>
      tensorFromJson('x', ['z'.repeat(100)], spec('FP32', [1])),
    ).toThrow(`element 0 is "${'z'.repeat(40)}…", expected a number for FP32`);
    expect(() => tensorFromJson('x', [{}], spec('FP32', [1]))).toThrow(
      'element 0 is an object, expected a number',
    );
  });
});

describe('tensorFromJson: tensor objects', () => {
  it('accepts flat data', () => {
    const t = tensorFromJson(
      'x',
      { shape: [2, 3], datatype: 'INT32', data: [1, 2, 3, 4, 5, 6] },
      null,
    );
    expect(t).toEqual({
      datatype: 'INT32',
      shape: [2, 3],
      data: new Int32Array([1, 2, 3, 4, 5, 6]),
    });
  });

  it('accepts nested data and flattens it row-major', () => {
    const t = tensorFromJson(
      'x',
      {
        name: 'x',
        shape: [3, 2],
        datatype: 'FP64',
        data: [
          [1, 2, 3],
          [4, 5, 6],
        ],
        parameters: {},
      },
      spec('FP64', [-1, 2]),
    );
    expect(t.shape).toEqual([3, 2]);
    expect(t.data).toEqual(new Float64Array([1, 2, 3, 4, 5, 6]));
  });

  it('copies the shape rather than aliasing the request', () => {
    const shape = [2];
    const t = tensorFromJson(
      'x',
      { shape, datatype: 'FP32', data: [1, 2] },
      null,
    );
    expect(t.shape).not.toBe(shape);
  });

  it('accepts a scalar with shape []', () => {
    expect(
      tensorFromJson('x', { shape: [], datatype: 'BOOL', data: [true] }, null)
        .data,
    ).toEqual(new Uint8Array([1]));
    expect(
      tensorFromJson('x', { shape: [], datatype: 'BOOL', data: false }, null)
        .data,
    ).toEqual(new Uint8Array([0]));
  });

  it('requires the element count to match the shape', () => {
    const err = errorOf(() =>
      tensorFromJson(
        'x',
        { shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7] },
        null,
      ),
    );
    expect(err.message).toBe('input "x": shape [2, 4] needs 8 elements, got 7');
    expect(err.details).toEqual({ input: 'x', shape: [2, 4], elements: 7 });
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [2, 2], datatype: 'FP32', data: [[1, 2, 3]] },
        null,
      ),
    ).toThrow('input "x": shape [2, 2] needs 4 elements, got 3');
  });

  it('still rejects ragged nested data', () => {
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [4], datatype: 'FP32', data: [[1, 2, 3], [4]] },
        null,
      ),
    ).toThrow(
      'input "x": ragged array: row 1 at dimension 1 has 1 element, expected 3',
    );
  });

  it('validates the object fields', () => {
    expect(() => tensorFromJson('x', { shape: [1], data: [1] }, null)).toThrow(
      'input "x": tensor object is missing "datatype"; expected {shape, datatype, data}',
    );
    expect(() =>
      tensorFromJson('x', { datatype: 'FP32', data: [1] }, null),
    ).toThrow('missing "shape"');
    expect(() =>
      tensorFromJson('x', { shape: [1], datatype: 'FP32' }, null),
    ).toThrow('missing "data"');
    expect(() =>
      tensorFromJson('x', { shape: [1], datatype: 'FLOAT32', data: [1] }, null),
    ).toThrow(
      'input "x": unknown datatype "FLOAT32"; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, ' +
        'INT32, INT64, FP16, FP32, FP64, BYTES',
    );
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [2, -1], datatype: 'FP32', data: [1] },
        null,
      ),
    ).toThrow(
      'input "x": shape must be an array of non-negative integers, got [2, -1]',
    );
    expect(() =>
      tensorFromJson('x', { shape: ['2'], datatype: 'FP32', data: [1] }, null),
    ).toThrow('got ["2"]');
    expect(() =>
      tensorFromJson('x', { shape: 2, datatype: 'FP32', data: [1] }, null),
    ).toThrow('got 2');
  });

  it('rejects element counts above 2^31-1 before allocating', () => {
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [65536, 65536], datatype: 'UINT8', data: [] },
        null,
      ),
    ).toThrow(
      'input "x": shape [65536, 65536] has 4294967296 elements, more than the limit of 2147483647',
    );
    // At the limit the count check, not the allocation, is what fails.
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [2147483647], datatype: 'FP64', data: [1] },
        null,
      ),
    ).toThrow('input "x": shape [2147483647] needs 2147483647 elements, got 1');
  });
});

describe('tensorFromJson: spec checks', () => {
  it('reports a datatype mismatch before looking at elements', () => {
    const err = errorOf(() =>
      tensorFromJson(
        'x',
        { shape: [2], datatype: 'INT64', data: [1, 'junk'] },
        spec('FP32', [-1, 4]),
      ),
    );
    expect(err.message).toBe('input "x": expected datatype FP32, got INT64');
    expect(err.details).toEqual({
      input: 'x',
      expected: { datatype: 'FP32', shape: [-1, 4] },
      got: { datatype: 'INT64', shape: [2] },
    });
  });

  it('reports a rank mismatch', () => {
    const err = errorOf(() =>
      tensorFromJson('x', [1, 2, 3, 4], spec('FP32', [-1, 4])),
    );
    expect(err.message).toBe(
      'input "x": expected shape [-1, 4] (rank 2), got [4] (rank 1)',
    );
    expect(err.details).toEqual({
      input: 'x',
      expected: { datatype: 'FP32', shape: [-1, 4] },
      got: { datatype: 'FP32', shape: [4] },
    });
  });

  it('reports a fixed dimension mismatch', () => {
    const err = errorOf(() =>
      tensorFromJson(
        'x',
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        spec('FP32', [-1, 4]),
      ),
    );
    expect(err.message).toBe('input "x": expected shape [-1, 4], got [2, 3]');
    expect(err.details).toEqual({
      input: 'x',
      expected: { datatype: 'FP32', shape: [-1, 4] },
      got: { datatype: 'FP32', shape: [2, 3] },
    });
  });

  it('lets -1 match any size, including 0', () => {
    expect(tensorFromJson('x', [], spec('FP32', [-1])).shape).toEqual([0]);
    expect(
      tensorFromJson('x', [[1, 2, 3, 4]], spec('FP32', [-1, 4])).shape,
    ).toEqual([1, 4]);
  });
});

describe('tensorFromJson: packed numbers (parsed off the event loop)', () => {
  /** What the gateway's JSON offload makes of a rectangular array of numbers. */
  const pack = (nested: number[][]): PackedNumbers =>
    new PackedNumbers(
      [nested.length, nested[0].length],
      Float64Array.from(nested.flat()),
    );
  const rows = [
    [1.5, -2, 3],
    [4, 5.25, -6],
  ];

  it.each([
    ['FP32', [2, 3]],
    ['FP64', [-1, 3]],
    ['INT32', [-1, -1]],
  ] as const)(
    'makes the same %s tensor as the nested array it came from',
    (datatype, shape) => {
      const spec = { name: 'x', datatype, shape: [...shape] };
      const values = datatype === 'INT32' ? [[1, -2, 3]] : rows;

      expect(tensorFromJson('x', pack(values), spec)).toEqual(
        tensorFromJson('x', values, spec),
      );
    },
  );

  it('is FP32 without a spec, like a nested array of numbers', () => {
    expect(tensorFromJson('x', pack(rows), null)).toEqual(
      tensorFromJson('x', rows, null),
    );
  });

  it('refuses an element the datatype cannot hold with the nested array error, position included', () => {
    const values = [
      [1, 2],
      [3, 300],
    ];
    const spec = { name: 'x', datatype: 'INT8' as const, shape: [-1, 2] };

    const nestedError = errorOf(() => tensorFromJson('x', values, spec));
    const packedError = errorOf(() => tensorFromJson('x', pack(values), spec));

    expect(packedError.message).toBe(nestedError.message);
    expect(packedError.message).toContain('element 3 (at [1][1])');
  });

  it('takes packed data in a tensor object and checks its element count against the shape', () => {
    const t = tensorFromJson(
      'x',
      { shape: [3, 2], datatype: 'FP32', data: pack(rows) },
      null,
    );

    expect(t).toEqual({
      datatype: 'FP32',
      shape: [3, 2],
      data: Float32Array.from([1.5, -2, 3, 4, 5.25, -6]),
    });
    expect(() =>
      tensorFromJson(
        'x',
        { shape: [4, 2], datatype: 'FP32', data: pack(rows) },
        null,
      ),
    ).toThrow('shape [4, 2] needs 8 elements, got 6');
  });
});
