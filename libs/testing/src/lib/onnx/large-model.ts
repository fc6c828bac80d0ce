import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  buildGenericModel,
  ElemType,
  float32Raw,
  GenericModelSpec,
} from './generic-model';
import { mulberry32 } from './prng';
import { writeModel } from './write-model';

export interface LargeModelOptions {
  /** Target size of the single weight matrix; the actual size is 4·n² for n = floor(sqrt(weightBytes / 4)). */
  weightBytes: number;
  /** Store W as ONNX external data in `<name>.data` next to the model. Default false. */
  externalData?: boolean;
  dir: string;
  /** File name stem: writes `<name>.onnx` (and `<name>.data`). */
  name: string;
  /** Weight seed. Default 7. */
  seed?: number;
}

/** Weights are generated and written in slices of this many floats, so external-data models never need 2x their size in memory. */
const CHUNK_FLOATS = 1 << 20;

/** The side n of the square weight matrix that buildLargeModel writes for a weightBytes target. */
export function largeModelSide(weightBytes: number): number {
  return Math.max(1, Math.floor(Math.sqrt(weightBytes / 4)));
}

/**
 * x FP32 [batch, n] -> MatMul(W FP32 [n, n]) -> y FP32 [batch, n], with W
 * about weightBytes in size; returns the absolute .onnx path. Weights are
 * uniform in ±1/sqrt(n) so outputs stay O(1). With externalData the model
 * refers to `<name>.data` by a relative location (offset 0, whole length),
 * which is how runtimes expect external data to sit beside the model file.
 */
export function buildLargeModel(opts: LargeModelOptions): string {
  const n = largeModelSide(opts.weightBytes);
  const random = mulberry32(opts.seed ?? 7);
  const scale = 1 / Math.sqrt(n);
  const nextChunk = (count: number): Float32Array => {
    const chunk = new Float32Array(count);
    for (let i = 0; i < count; i++) chunk[i] = (random() * 2 - 1) * scale;
    return chunk;
  };
  const total = n * n;
  const spec: GenericModelSpec = {
    inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['batch', n] }],
    outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['batch', n] }],
    nodes: [{ opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    docString: `Large test model: one ${n}x${n} FP32 MatMul (${total * 4} weight bytes)`,
    metadata: { fixture: 'large', n: String(n) },
  };
  if (opts.externalData) {
    const dataFile = `${opts.name}.data`;
    mkdirSync(resolve(opts.dir), { recursive: true });
    const fd = openSync(resolve(opts.dir, dataFile), 'w');
    try {
      for (let written = 0; written < total; written += CHUNK_FLOATS) {
        writeSync(
          fd,
          float32Raw(nextChunk(Math.min(CHUNK_FLOATS, total - written))),
        );
      }
    } finally {
      closeSync(fd);
    }
    spec.externalInitializers = [
      {
        name: 'W',
        elemType: ElemType.FLOAT,
        dims: [n, n],
        location: dataFile,
        offset: 0,
        length: total * 4,
      },
    ];
  } else {
    spec.initializers = [
      {
        name: 'W',
        elemType: ElemType.FLOAT,
        dims: [n, n],
        raw: float32Raw(nextChunk(total)),
      },
    ];
  }
  return writeModel(opts.dir, `${opts.name}.onnx`, buildGenericModel(spec));
}
