import { rmSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { makeTempDir } from '../services/temp-dir';
import {
  buildGenericModel,
  ElemType,
  float32Raw,
  int64Raw,
} from './generic-model';
import { writeModel } from './write-model';

describe('buildGenericModel', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir('generic-spec')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const spec = {
    inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['n', 2] }],
    outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['n', 2] }],
    initializers: [
      {
        name: 'scale',
        elemType: ElemType.FLOAT,
        dims: [2],
        raw: float32Raw([2, -1]),
      },
    ],
    nodes: [
      { opType: 'Mul', inputs: ['x', 'scale'], outputs: ['scaled'] },
      // alpha is a FLOAT attribute: a non-integral number is written as FLOAT.
      {
        opType: 'LeakyRelu',
        inputs: ['scaled'],
        outputs: ['y'],
        attributes: { alpha: 0.5 },
      },
    ],
    docString: 'doubles column 0, negates column 1, then LeakyRelu(0.5)',
    metadata: { purpose: 'spec', owner: 'testing' },
  };

  it('writes IR 8 / opset 13 with doc string, metadata and initializers as raw data', () => {
    const model = onnx.ModelProto.decode(buildGenericModel(spec));
    expect(Number(model.irVersion)).toBe(8);
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual(
      [['', 13]],
    );
    expect(model.docString).toBe(spec.docString);
    expect(model.metadataProps.map((p) => [p.key, p.value])).toEqual([
      ['purpose', 'spec'],
      ['owner', 'testing'],
    ]);
    const [init] = model.graph?.initializer ?? [];
    expect(Array.from(init.rawData ?? [])).toEqual(
      Array.from(float32Raw([2, -1])),
    );
    expect(
      model.graph?.input?.[0].type?.tensorType?.shape?.dim?.[0].dimParam,
    ).toBe('n');
  });

  it('builds a graph onnxruntime runs', async () => {
    const path = writeModel(dir, 'generic.onnx', buildGenericModel(spec));
    const session = await InferenceSession.create(path, {
      intraOpNumThreads: 1,
    });
    try {
      const { y } = await session.run({
        x: new Tensor('float32', Float32Array.from([1, 2, -3, -4]), [2, 2]),
      });
      expect(Array.from(y.data as Float32Array)).toEqual([2, -1, -3, 4]);
    } finally {
      await session.release();
    }
  });

  it('encodes integral numbers as INT and wrapped or fractional ones as FLOAT', () => {
    const model = onnx.ModelProto.decode(
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: [-1, 3] }],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: [-1, 3] }],
        nodes: [
          {
            opType: 'Elu',
            inputs: ['x'],
            outputs: ['y'],
            attributes: { alpha: { float: 1 } },
          },
        ],
      }),
    );
    const [alpha] = model.graph?.node?.[0].attribute ?? [];
    expect(alpha.type).toBe(onnx.AttributeProto.AttributeType.FLOAT);
    expect(alpha.f).toBe(1);
    expect(model.graph?.input?.[0].type?.tensorType?.shape?.dim?.[0]).toEqual(
      onnx.TensorShapeProto.Dimension.create({}),
    );

    const withInts = onnx.ModelProto.decode(
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.INT64, shape: [4] }],
        outputs: [{ name: 'y', elemType: ElemType.INT64, shape: [2, 2] }],
        initializers: [
          {
            name: 'shape',
            elemType: ElemType.INT64,
            dims: [2],
            raw: int64Raw([2, 2]),
          },
        ],
        nodes: [
          { opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
          {
            opType: 'Transpose',
            inputs: ['r'],
            outputs: ['y'],
            attributes: { perm: [1, 0] },
          },
        ],
      }),
    );
    const [perm] = withInts.graph?.node?.[1].attribute ?? [];
    expect(perm.type).toBe(onnx.AttributeProto.AttributeType.INTS);
    expect((perm.ints ?? []).map(Number)).toEqual([1, 0]);
  });

  it('rejects invalid dimensions', () => {
    expect(() =>
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: [-2] }],
        outputs: [],
        nodes: [],
      }),
    ).toThrow(/Invalid ONNX dimension -2/);
  });
});
