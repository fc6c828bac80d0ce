import fs from 'node:fs';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';

import { PortfolioError } from '@portfolio/contracts';
import {
  buildGenericModel,
  buildLargeModel,
  buildMixedTypesModel,
  buildMlpModel,
  ElemType,
  largeModelSide,
  float32Raw,
  makeTempDir,
  mulberry32,
  ONNX_IR_VERSION,
  writeModel,
} from '@portfolio/testing';

import { inspectOnnxFile } from './onnx-inspector';

const MLP = { inputSize: 4, hidden: [8], outputSize: 3 };

/** Runs `fn`, expecting a PortfolioError, and returns it. */
function thrown(fn: () => unknown): PortfolioError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PortfolioError);
    return e as PortfolioError;
  }
  throw new Error('expected an error');
}

/** Decodes a model, lets `edit` change it, and encodes it again. */
function edited(
  bytes: Uint8Array,
  edit: (model: onnx.ModelProto) => void,
): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  edit(model);
  return onnx.ModelProto.encode(model).finish();
}

/** The graph's `role` value infos of a decoded model (the fixtures always have them). */
function valueInfos(
  model: onnx.ModelProto,
  role: 'input' | 'output',
): onnx.IValueInfoProto[] {
  const infos = model.graph?.[role];
  if (!infos?.length) throw new Error(`the fixture has no ${role}`);
  return infos;
}

/** The tensor type of a graph input or output of a decoded model. */
function tensorType(
  model: onnx.ModelProto,
  role: 'input' | 'output',
  index = 0,
): onnx.TypeProto.ITensor {
  const t = valueInfos(model, role)[index].type?.tensorType;
  if (!t) throw new Error(`the fixture's ${role} ${index} is not a tensor`);
  return t;
}

describe(inspectOnnxFile.name, () => {
  let dir: string;

  beforeAll(() => {
    dir = makeTempDir('onnx-inspector');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  describe('valid models', () => {
    it('extracts the signature, IR version, opsets, producer and metadata of an MLP', () => {
      const path = writeModel(dir, 'mlp.onnx', buildMlpModel(MLP));

      const sut = inspectOnnxFile(path);

      expect(sut).toEqual({
        signature: {
          inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
          outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
        },
        irVersion: ONNX_IR_VERSION,
        opsets: { 'ai.onnx': 13 },
        producer: 'portfolio-testing',
        metadata: { fixture: 'mlp', seed: '42' },
      });
    });

    it('names the datatype of every input and output of a mixed-types model', () => {
      const path = writeModel(dir, 'mixed.onnx', buildMixedTypesModel());

      const { signature } = inspectOnnxFile(path);

      expect(signature).toEqual({
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [-1, 3] },
          { name: 'b', datatype: 'INT64', shape: [-1, 3] },
        ],
        outputs: [
          { name: 'sum', datatype: 'FP32', shape: [-1, 3] },
          { name: 'argmax', datatype: 'INT64', shape: [-1] },
        ],
      });
    });

    it('leaves out of the signature the initializers an IR<4-style model lists among its inputs', () => {
      const bytes = buildGenericModel({
        inputs: [
          { name: 'x', elemType: ElemType.FLOAT, shape: ['batch', 2] },
          { name: 'W', elemType: ElemType.FLOAT, shape: [2, 2] },
        ],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['batch', 2] }],
        initializers: [
          {
            name: 'W',
            elemType: ElemType.FLOAT,
            dims: [2, 2],
            raw: float32Raw([1, 0, 0, 1]),
          },
        ],
        nodes: [{ opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
      });
      const path = writeModel(dir, 'ir3-style.onnx', bytes);

      const { signature } = inspectOnnxFile(path);

      expect(signature.inputs).toEqual([
        { name: 'x', datatype: 'FP32', shape: [-1, 2] },
      ]);
    });

    it('describes an output without a shape as one variable dimension', () => {
      const bytes = edited(buildMlpModel(MLP), (model) => {
        tensorType(model, 'output').shape = null;
      });
      const path = writeModel(dir, 'no-output-shape.onnx', bytes);

      const { signature } = inspectOnnxFile(path);

      expect(signature.outputs).toEqual([
        { name: 'y', datatype: 'FP32', shape: [-1] },
      ]);
    });

    it('keeps fixed dimensions and turns unnamed unknown ones into -1', () => {
      const bytes = buildGenericModel({
        inputs: [
          { name: 'img', elemType: ElemType.UINT8, shape: [-1, 28, 28, 1] },
        ],
        outputs: [
          { name: 'out', elemType: ElemType.UINT8, shape: [-1, 28, 28, 1] },
        ],
        nodes: [{ opType: 'Identity', inputs: ['img'], outputs: ['out'] }],
      });
      const path = writeModel(dir, 'fixed-dims.onnx', bytes);

      expect(inspectOnnxFile(path).signature.inputs).toEqual([
        { name: 'img', datatype: 'UINT8', shape: [-1, 28, 28, 1] },
      ]);
    });
  });

  describe('invalid artifacts', () => {
    describe('that ONNX Runtime could never load', () => {
      const mlp = () =>
        buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3 });
      const firstInitializer = (model: onnx.ModelProto) => {
        const init = model.graph?.initializer?.[0];
        if (!init) throw new Error('the fixture has no initializer');
        return init;
      };

      it('refuses an initializer that declares 4 TB and holds no data', () => {
        const path = write(
          'four-tb.onnx',
          edited(mlp(), (m) => {
            const w = firstInitializer(m);
            w.dims = [1 << 20, 1 << 20];
            w.rawData = new Uint8Array(0);
          }),
        );

        const e = thrown(() => inspectOnnxFile(path));

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toMatch(
          /^initializer "[^"]+" declares shape \[1048576, 1048576\] \(4398046511104 bytes\) but holds no data$/,
        );
      });

      it('refuses an initializer whose data is shorter than its shape', () => {
        const path = write(
          'short-initializer.onnx',
          edited(mlp(), (m) => {
            const w = firstInitializer(m);
            w.rawData = (w.rawData as Uint8Array).subarray(4);
          }),
        );

        const e = thrown(() => inspectOnnxFile(path));

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toMatch(
          /declares shape \[4, 8\] \(128 bytes\) but holds 124 bytes of data/,
        );
      });

      it('refuses external data referenced from a Constant node in a file that did not come with it, naming the node', () => {
        const path = write(
          'constant-external.onnx',
          edited(mlp(), (m) => {
            m.graph?.node?.unshift(
              onnx.NodeProto.create({
                name: 'c0',
                opType: 'Constant',
                output: ['unused'],
                attribute: [
                  onnx.AttributeProto.create({
                    name: 'value',
                    type: onnx.AttributeProto.AttributeType.TENSOR,
                    t: onnx.TensorProto.create({
                      dims: [4],
                      dataType: ElemType.FLOAT,
                      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
                      externalData: [
                        onnx.StringStringEntryProto.create({
                          key: 'location',
                          value: 'weights.bin',
                        }),
                      ],
                    }),
                  }),
                ],
              }),
            );
          }),
        );

        const e = thrown(() =>
          inspectOnnxFile(path, new Map([['other.bin', 16]])),
        );

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toBe(
          'node "c0" (Constant)\'s attribute "value" keeps its weights in "weights.bin", which is not part of the upload',
        );
        // With its file, ONNX Runtime reads it like an initializer's.
        expect(
          inspectOnnxFile(path, new Map([['weights.bin', 16]])).signature
            .outputs,
        ).toHaveLength(1);
      });

      it('accepts a Constant node whose value is in the model', () => {
        const path = write(
          'constant-inline.onnx',
          edited(mlp(), (m) => {
            m.graph?.node?.unshift(
              onnx.NodeProto.create({
                name: 'c1',
                opType: 'Constant',
                output: ['unused'],
                attribute: [
                  onnx.AttributeProto.create({
                    name: 'value',
                    type: onnx.AttributeProto.AttributeType.TENSOR,
                    t: onnx.TensorProto.create({
                      dims: [2],
                      dataType: ElemType.FLOAT,
                      rawData: new Uint8Array(8),
                    }),
                  }),
                ],
              }),
            );
          }),
        );

        expect(inspectOnnxFile(path).signature.outputs).toHaveLength(1);
      });
    });

    it('refuses a model whose weights live in an external data file', () => {
      const path = buildLargeModel({
        weightBytes: 4096,
        externalData: true,
        dir,
        name: 'external',
      });

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/external data/);
      expect(e.message).toContain('"W"');
      expect(e.message).toMatch(/multipart\/form-data|archive/);
    });

    describe('with the files uploaded beside it', () => {
      const side = largeModelSide(4096);
      const bytes = side * side * 4;
      let path: string;
      beforeAll(() => {
        path = buildLargeModel({
          weightBytes: 4096,
          externalData: true,
          dir,
          name: 'beside',
        });
      });

      it('accepts external data in a file that came with it, covering the range read', () => {
        const inspection = inspectOnnxFile(
          path,
          new Map([['beside.data', bytes]]),
        );

        expect(inspection.signature.inputs).toEqual([
          { name: 'x', datatype: 'FP32', shape: [-1, side] },
        ]);
      });

      it.each([
        [
          'a file that did not come with it',
          new Map([['other.data', bytes]]),
          /not part of the upload/,
        ],
        [
          'a file shorter than the range read',
          new Map([['beside.data', bytes - 1]]),
          /holds \d+ bytes/,
        ],
      ])('refuses external data in %s', (_what, beside, message) => {
        const e = thrown(() => inspectOnnxFile(path, beside));

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toMatch(message);
      });
    });

    it.each([1, 2, 3, 4, 5, 6, 7, 8])(
      'refuses random bytes (seed %i) as not a valid ONNX model',
      (seed) => {
        const random = mulberry32(seed);
        const path = write(
          `random-${seed}.onnx`,
          Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256)),
        );

        const e = thrown(() => inspectOnnxFile(path));

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toMatch(/^not a valid ONNX model/);
      },
    );

    it('refuses an empty file as not a valid ONNX model', () => {
      const path = write('empty.onnx', new Uint8Array(0));

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toBe('not a valid ONNX model: the file is empty');
    });

    it.each([0.5, 0.1, 0.9])(
      'refuses a valid model cut at %f of its length as not a valid ONNX model',
      (fraction) => {
        const bytes = buildMlpModel({
          inputSize: 16,
          hidden: [32],
          outputSize: 4,
        });
        const path = write(
          `truncated-${fraction}.onnx`,
          bytes.subarray(0, Math.floor(bytes.length * fraction)),
        );

        const e = thrown(() => inspectOnnxFile(path));

        expect(e.code).toBe('INVALID_ARTIFACT');
        expect(e.message).toMatch(/^not a valid ONNX model/);
      },
    );

    it('refuses a JSON file as not a valid ONNX model', () => {
      const path = write(
        'model.json',
        JSON.stringify({
          inputs: [{ name: 'x', shape: [1, 4] }],
          weights: [0.1, 0.2],
        }),
      );

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/^not a valid ONNX model/);
    });

    it('refuses a protobuf message that is not a model (no ir_version)', () => {
      const path = write(
        'graph-only.onnx',
        onnx.GraphProto.encode({ name: 'g', input: [], output: [] }).finish(),
      );

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/^not a valid ONNX model/);
    });

    it('refuses a model without a graph', () => {
      const bytes = onnx.ModelProto.encode({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 13 }],
      }).finish();
      const path = write('no-graph.onnx', bytes);

      const e = thrown(() => inspectOnnxFile(path));

      expect(e).toMatchObject({
        code: 'INVALID_ARTIFACT',
        message: 'not a valid ONNX model: it has no graph',
      });
    });

    it('refuses an input that declares no shape', () => {
      const bytes = edited(buildMlpModel(MLP), (model) => {
        tensorType(model, 'input').shape = null;
      });
      const path = writeModel(dir, 'no-input-shape.onnx', bytes);

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toBe('input "x" declares no shape');
    });

    it('refuses a sequence output, pointing scikit-learn users at zipmap=False', () => {
      const bytes = edited(buildMlpModel(MLP), (model) => {
        valueInfos(model, 'output')[0].type = {
          sequenceType: {
            elemType: { tensorType: { elemType: ElemType.FLOAT } },
          },
        };
      });
      const path = writeModel(dir, 'sequence-output.onnx', bytes);

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/output "y" is a sequence/);
      expect(e.message).toMatch(/zipmap=False/);
    });

    it('refuses an element type without a datatype', () => {
      const bytes = edited(buildMlpModel(MLP), (model) => {
        tensorType(model, 'input').elemType = 16; // BFLOAT16
      });
      const path = writeModel(dir, 'bfloat16.onnx', bytes);

      const e = thrown(() => inspectOnnxFile(path));

      expect(e.code).toBe('INVALID_ARTIFACT');
      expect(e.message).toMatch(/input "x" has ONNX element type 16/);
    });

    it('answers ARTIFACT_NOT_FOUND for a file that does not exist', () => {
      const e = thrown(() => inspectOnnxFile(join(dir, 'missing.onnx')));

      expect(e.code).toBe('ARTIFACT_NOT_FOUND');
    });
  });

  describe('large models', () => {
    const WEIGHT_BYTES = 100 * 1024 * 1024;
    let path: string;

    beforeAll(() => {
      path = buildLargeModel({
        weightBytes: WEIGHT_BYTES,
        dir,
        name: 'large-embedded',
      });
    }, 120_000);

    it('reads only a small part of a 100 MB embedded model', () => {
      const fileBytes = statSync(path).size;
      expect(fileBytes).toBeGreaterThan(WEIGHT_BYTES * 0.99);
      const reads = jest.spyOn(fs, 'readSync');

      let sut: ReturnType<typeof inspectOnnxFile>;
      let readCalls: number;
      let bytesRead: number;
      try {
        sut = inspectOnnxFile(path);
        readCalls = reads.mock.calls.length;
        bytesRead = reads.mock.results.reduce(
          (n, r) => n + (r.value as number),
          0,
        );
      } finally {
        reads.mockRestore();
      }

      expect(sut.signature.inputs).toEqual([
        { name: 'x', datatype: 'FP32', shape: [-1, 5120] },
      ]);
      // It seeks over the weights: what it reads is the graph, not the file.
      expect(readCalls).toBeGreaterThan(0);
      expect(bytesRead).toBeLessThan(1024 * 1024);
    });
  });
});
