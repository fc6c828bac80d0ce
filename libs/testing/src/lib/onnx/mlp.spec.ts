import { rmSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { makeTempDir } from '../services/temp-dir';
import { buildMlpModel, mlpReference, MlpOptions } from './mlp';
import { mulberry32 } from './prng';
import { writeModel } from './write-model';

/** |actual - expected| / max(|expected|, 1e-3): relative, with a floor so values near zero stay comparable. */
function maxRelativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const error =
      Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-3);
    if (!(error <= worst)) worst = error;
  }
  return worst;
}

function randomInput(length: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length }, () => random() * 4 - 2);
}

describe('buildMlpModel', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir('mlp-spec')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, MlpOptions][] = [
    ['4-16-3', { inputSize: 4, hidden: [16], outputSize: 3, seed: 1 }],
    [
      '10-32-16-5 with softmax and custom names',
      {
        inputSize: 10,
        hidden: [32, 16],
        outputSize: 5,
        seed: 9,
        softmax: true,
        inputName: 'features',
        outputName: 'probs',
      },
    ],
    ['no hidden layer', { inputSize: 6, hidden: [], outputSize: 2, seed: 3 }],
  ];

  it.each(cases)(
    '%s: onnxruntime outputs match mlpReference for batch 1 and 7',
    async (_label, opts) => {
      const path = writeModel(
        dir,
        `mlp-${opts.seed}.onnx`,
        buildMlpModel(opts),
      );
      const session = await InferenceSession.create(path, {
        intraOpNumThreads: 1,
      });
      try {
        const inputName = opts.inputName ?? 'x';
        const outputName = opts.outputName ?? 'y';
        expect(session.inputNames).toEqual([inputName]);
        expect(session.outputNames).toEqual([outputName]);
        for (const batch of [1, 7]) {
          const input = randomInput(batch * opts.inputSize, batch);
          const result = await session.run({
            [inputName]: new Tensor('float32', input, [batch, opts.inputSize]),
          });
          const output = result[outputName];
          expect(output.type).toBe('float32');
          expect(output.dims).toEqual([batch, opts.outputSize]);
          const actual = Array.from(output.data as Float32Array);
          expect(
            maxRelativeError(actual, mlpReference(opts, input, batch)),
          ).toBeLessThan(1e-5);
          if (opts.softmax) {
            for (let row = 0; row < batch; row++) {
              const sum = actual
                .slice(row * opts.outputSize, (row + 1) * opts.outputSize)
                .reduce((a, b) => a + b, 0);
              expect(sum).toBeCloseTo(1, 5);
            }
          }
        }
      } finally {
        await session.release();
      }
    },
  );

  it('declares a symbolic batch dimension', async () => {
    const path = writeModel(
      dir,
      'mlp-meta.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3 }),
    );
    const session = await InferenceSession.create(path, {
      intraOpNumThreads: 1,
    });
    try {
      const [input] = session.inputMetadata;
      const [output] = session.outputMetadata;
      expect(input).toMatchObject({
        name: 'x',
        isTensor: true,
        type: 'float32',
        shape: ['batch', 4],
      });
      expect(output).toMatchObject({
        name: 'y',
        isTensor: true,
        type: 'float32',
        shape: ['batch', 3],
      });
    } finally {
      await session.release();
    }
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const opts = { inputSize: 4, hidden: [16], outputSize: 3 };
    expect(Buffer.from(buildMlpModel({ ...opts, seed: 5 }))).toEqual(
      Buffer.from(buildMlpModel({ ...opts, seed: 5 })),
    );
    expect(Buffer.from(buildMlpModel({ ...opts, seed: 5 }))).not.toEqual(
      Buffer.from(buildMlpModel({ ...opts, seed: 6 })),
    );
    expect(Buffer.from(buildMlpModel(opts))).toEqual(
      Buffer.from(buildMlpModel({ ...opts, seed: 42 })),
    );
  });

  it('rejects non-positive layer sizes', () => {
    expect(() =>
      buildMlpModel({ inputSize: 0, hidden: [], outputSize: 1 }),
    ).toThrow(/positive integers/);
  });
});

describe('mlpReference', () => {
  it('rejects an input whose length does not match the batch', () => {
    expect(() =>
      mlpReference(
        { inputSize: 4, hidden: [], outputSize: 2 },
        new Float32Array(7),
        2,
      ),
    ).toThrow(/expected batch 2 x 4/);
  });
});
