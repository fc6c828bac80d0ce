import {
  assertSupportedFormat,
  Bytes,
  isModelId,
  MODEL_FORMATS,
  ModelFormatSchema,
  ModelId,
  NodeId,
  Sha256,
  SignatureSchema,
  TensorSpecSchema,
  VersionNumber,
} from './common.schema';

const SHA = 'a'.repeat(64);

describe('model ids (^[a-z0-9][a-z0-9._-]{0,127}$)', () => {
  it.each([
    ['one character', 'm'],
    ['a digit first', '0-model'],
    ['dots, dashes and underscores after the first', 'iris_v2.onnx-final'],
    ['128 characters', 'a'.repeat(128)],
  ])('accepts %s', (_what, id) => {
    expect(ModelId.safeParse(id).success).toBe(true);
    expect(isModelId(id)).toBe(true);
  });

  it.each([
    ['an empty id', ''],
    ['129 characters', 'a'.repeat(129)],
    ['upper case', 'Iris'],
    ['a leading dash', '-iris'],
    ['a leading dot', '.iris'],
    ['a leading underscore', '_iris'],
    ['a slash (path traversal)', 'a/../b'],
    ['a space', 'my model'],
    ['a trailing newline', 'iris\n'],
    ['a NATS wildcard', 'iris*'],
    ['a non-ASCII letter', 'modèle'],
  ])('refuses %s, saying which rule', (_what, id) => {
    const result = ModelId.safeParse(id);

    expect(result.success).toBe(false);
    expect(result.error?.issues[0].message).toBe(
      'model ids match ^[a-z0-9][a-z0-9._-]{0,127}$',
    );
    expect(isModelId(id)).toBe(false);
  });

  it('refuses what is not a string', () => {
    for (const value of [null, undefined, 42, ['iris'], { id: 'iris' }]) {
      expect(ModelId.safeParse(value).success).toBe(false);
      expect(isModelId(value)).toBe(false);
    }
  });
});

describe('sha256 digests', () => {
  it('accepts 64 lower-case hex digits', () => {
    expect(Sha256.safeParse('0123456789abcdef'.repeat(4)).success).toBe(true);
  });

  it.each([
    ['63 digits', 'a'.repeat(63)],
    ['65 digits', 'a'.repeat(65)],
    ['upper case', 'A'.repeat(64)],
    ['a non-hex letter', `${'a'.repeat(63)}g`],
    ['a "sha256:" prefix', `sha256:${SHA}`],
    ['surrounding whitespace', ` ${SHA}`],
  ])('refuses %s', (_what, digest) => {
    expect(Sha256.safeParse(digest).success).toBe(false);
  });
});

describe('byte counts and version numbers', () => {
  it('accepts zero bytes and whole numbers up to the largest safe integer', () => {
    for (const n of [0, 1, Number.MAX_SAFE_INTEGER])
      expect(Bytes.safeParse(n).success).toBe(true);
  });

  it.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['a numeric string', '1024'],
  ])('refuses a %s byte count', (_what, n) => {
    expect(Bytes.safeParse(n).success).toBe(false);
  });

  it('numbers versions from 1', () => {
    expect(VersionNumber.safeParse(1).success).toBe(true);
    for (const n of [0, -1, 1.5, '1'])
      expect(VersionNumber.safeParse(n).success).toBe(false);
  });
});

describe('node ids', () => {
  it('accepts the ids runtimes are given', () => {
    for (const id of ['runtime-a', 'RT_01', 'a'.repeat(64)])
      expect(NodeId.safeParse(id).success).toBe(true);
  });

  // A node id is one token of a NATS subject (`<prefix>.runtime.<node>.infer.v1`).
  it.each([
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['with a dot (two subject tokens)', 'rt.a'],
    ['a * wildcard', '*'],
    ['a > wildcard', '>'],
    ['with a space', 'rt a'],
  ])('refuses one %s', (_what, id) => {
    expect(NodeId.safeParse(id).success).toBe(false);
  });
});

describe('model formats', () => {
  it('refuses a format outside the list, and the list in another case', () => {
    for (const format of ['tflite', 'ONNX', '', null])
      expect(ModelFormatSchema.safeParse(format).success).toBe(false);
  });

  it('lets every listed format through', () => {
    for (const format of MODEL_FORMATS)
      expect(() => assertSupportedFormat(format)).not.toThrow();
  });
});

describe('signatures', () => {
  const x = { name: 'x', datatype: 'FP32', shape: [-1, 4] };

  it('accepts variable (-1) and fixed dimensions, and scalars', () => {
    expect(
      SignatureSchema.safeParse({
        inputs: [x, { name: 's', datatype: 'INT64', shape: [] }],
        outputs: [{ name: 'y', datatype: 'BYTES', shape: [-1] }],
      }).success,
    ).toBe(true);
  });

  it.each([
    ['an unnamed tensor', { ...x, name: '' }],
    ['an unknown datatype', { ...x, datatype: 'BF16' }],
    ['a lower-case datatype', { ...x, datatype: 'fp32' }],
    ['a dimension below -1', { ...x, shape: [-2, 4] }],
    ['a fractional dimension', { ...x, shape: [1.5] }],
    ['a missing shape', { name: 'x', datatype: 'FP32' }],
  ])('refuses %s', (_what, spec) => {
    expect(TensorSpecSchema.safeParse(spec).success).toBe(false);
    expect(
      SignatureSchema.safeParse({ inputs: [spec], outputs: [] }).success,
    ).toBe(false);
  });
});
