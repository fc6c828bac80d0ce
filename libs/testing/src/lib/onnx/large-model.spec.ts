import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { makeTempDir } from '../services/temp-dir';
import { buildLargeModel, largeModelSide } from './large-model';
import { mulberry32 } from './prng';

/** y = x · W computed in float64 from W's stored bytes, for a single row. */
function matVec(x: Float32Array, weightBytes: Buffer, n: number): number[] {
  const w = new Float32Array(weightBytes.buffer, weightBytes.byteOffset, n * n);
  const y = new Array<number>(n).fill(0);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) y[j] += x[k] * w[k * n + j];
  }
  return y;
}

async function runOnce(
  path: string,
  n: number,
): Promise<{ x: Float32Array; y: Float32Array }> {
  const session = await InferenceSession.create(path, { intraOpNumThreads: 1 });
  try {
    const random = mulberry32(11);
    const x = Float32Array.from({ length: n }, () => random() * 2 - 1);
    const { y } = await session.run({ x: new Tensor('float32', x, [1, n]) });
    expect(y.dims).toEqual([1, n]);
    return { x, y: y.data as Float32Array };
  } finally {
    await session.release();
  }
}

describe('buildLargeModel', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir('large-spec')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('chooses n so that W is about weightBytes', () => {
    expect(largeModelSide(4 * 1024 * 1024)).toBe(1024);
    expect(largeModelSide(5_000_000)).toBe(1118);
    expect(largeModelSide(1)).toBe(1);
  });

  it('writes W as external data that onnxruntime loads and uses', async () => {
    const weightBytes = 4 * 1024 * 1024;
    const path = buildLargeModel({
      weightBytes,
      externalData: true,
      dir,
      name: 'big-ext',
    });
    expect(path).toBe(join(dir, 'big-ext.onnx'));
    const dataPath = join(dir, 'big-ext.data');
    expect(statSync(dataPath).size).toBe(weightBytes);
    expect(statSync(path).size).toBeLessThan(4096);

    const n = largeModelSide(weightBytes);
    const { x, y } = await runOnce(path, n);
    const expected = matVec(x, readFileSync(dataPath), n);
    for (let j = 0; j < n; j++)
      expect(Math.abs(y[j] - expected[j])).toBeLessThan(1e-4);
  });

  it('embeds W when externalData is off, with the same weights for the same seed', async () => {
    const weightBytes = 256 * 256 * 4;
    const embedded = buildLargeModel({
      weightBytes,
      dir,
      name: 'big-embedded',
    });
    const external = buildLargeModel({
      weightBytes,
      externalData: true,
      dir,
      name: 'big-external',
    });
    expect(statSync(embedded).size).toBeGreaterThan(weightBytes);
    const a = await runOnce(embedded, 256);
    const b = await runOnce(external, 256);
    expect(Array.from(a.y)).toEqual(Array.from(b.y));
  });

  it('gives identical bytes for a seed and different ones for another seed', () => {
    const build = (name: string, seed: number): Buffer => {
      buildLargeModel({
        weightBytes: 64 * 64 * 4,
        externalData: true,
        dir,
        name,
        seed,
      });
      return readFileSync(join(dir, `${name}.data`));
    };
    expect(build('s1a', 1)).toEqual(build('s1b', 1));
    expect(build('s1c', 1)).not.toEqual(build('s2', 2));
  });
});
