import {
  buildGenericModel,
  ElemType,
  float32Raw,
  InitializerSpec,
  NodeSpec,
} from './generic-model';
import { mulberry32 } from './prng';

export interface MlpOptions {
  inputSize: number;
  hidden: number[];
  outputSize: number;
  /** Weight seed; the same options always give the same bytes. Default 42. */
  seed?: number;
  /** Default 'x'. */
  inputName?: string;
  /** Default 'y'. */
  outputName?: string;
  /** Append Softmax(axis 1) to the logits. Default false. */
  softmax?: boolean;
}

interface Layer {
  inSize: number;
  outSize: number;
  /** Row-major [inSize, outSize], already float32-representable. */
  weights: Float32Array;
  bias: Float32Array;
}

/**
 * Glorot-uniform weights and small biases, drawn layer by layer (W then b)
 * from one mulberry32 stream. Float32Array storage makes the JS reference use
 * exactly the values serialized into the model.
 */
function mlpLayers(opts: MlpOptions): Layer[] {
  const sizes = [opts.inputSize, ...opts.hidden, opts.outputSize];
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(
        `MLP layer sizes must be positive integers, got ${sizes.join(',')}`,
      );
  }
  const random = mulberry32(opts.seed ?? 42);
  const layers: Layer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inSize = sizes[l];
    const outSize = sizes[l + 1];
    const limit = Math.sqrt(6 / (inSize + outSize));
    const weights = new Float32Array(inSize * outSize);
    for (let i = 0; i < weights.length; i++)
      weights[i] = (random() * 2 - 1) * limit;
    const bias = new Float32Array(outSize);
    for (let i = 0; i < bias.length; i++) bias[i] = (random() * 2 - 1) * 0.1;
    layers.push({ inSize, outSize, weights, bias });
  }
  return layers;
}

/**
 * x FP32 [batch, inputSize] -> (MatMul + Add + Relu) per hidden layer ->
 * MatMul + Add [-> Softmax(axis 1)] -> y FP32 [batch, outputSize], where batch
 * is the symbolic dimension 'batch'.
 */
export function buildMlpModel(opts: MlpOptions): Uint8Array {
  const inputName = opts.inputName ?? 'x';
  const outputName = opts.outputName ?? 'y';
  const layers = mlpLayers(opts);
  const initializers: InitializerSpec[] = [];
  const nodes: NodeSpec[] = [];
  let current = inputName;
  layers.forEach((layer, l) => {
    const last = l === layers.length - 1;
    initializers.push(
      {
        name: `W${l}`,
        elemType: ElemType.FLOAT,
        dims: [layer.inSize, layer.outSize],
        raw: float32Raw(layer.weights),
      },
      {
        name: `b${l}`,
        elemType: ElemType.FLOAT,
        dims: [layer.outSize],
        raw: float32Raw(layer.bias),
      },
    );
    nodes.push({
      opType: 'MatMul',
      inputs: [current, `W${l}`],
      outputs: [`mm${l}`],
    });
    const added = last && !opts.softmax ? outputName : `z${l}`;
    nodes.push({
      opType: 'Add',
      inputs: [`mm${l}`, `b${l}`],
      outputs: [added],
    });
    if (!last) {
      nodes.push({ opType: 'Relu', inputs: [added], outputs: [`h${l}`] });
      current = `h${l}`;
    } else if (opts.softmax) {
      nodes.push({
        opType: 'Softmax',
        inputs: [added],
        outputs: [outputName],
        attributes: { axis: 1 },
      });
    }
  });
  return buildGenericModel({
    inputs: [
      {
        name: inputName,
        elemType: ElemType.FLOAT,
        shape: ['batch', opts.inputSize],
      },
    ],
    outputs: [
      {
        name: outputName,
        elemType: ElemType.FLOAT,
        shape: ['batch', opts.outputSize],
      },
    ],
    initializers,
    nodes,
    docString: `Test MLP ${[opts.inputSize, ...opts.hidden, opts.outputSize].join('-')} (seed ${opts.seed ?? 42})`,
    metadata: { fixture: 'mlp', seed: String(opts.seed ?? 42) },
  });
}

/**
 * The model's maths in plain JS with float32 rounding after every operation,
 * for checking runtime outputs. `input` is row-major [batch, inputSize]. The
 * runtime may accumulate in another order (or with FMA), so compare with a
 * relative tolerance around 1e-5, not for equality.
 */
export function mlpReference(
  opts: MlpOptions,
  input: Float32Array,
  batch: number,
): Float32Array {
  if (input.length !== batch * opts.inputSize) {
    throw new Error(
      `Input has ${input.length} values, expected batch ${batch} x ${opts.inputSize}`,
    );
  }
  const f = Math.fround;
  const layers = mlpLayers(opts);
  let activations = Float32Array.from(input);
  layers.forEach((layer, l) => {
    const next = new Float32Array(batch * layer.outSize);
    for (let row = 0; row < batch; row++) {
      for (let j = 0; j < layer.outSize; j++) {
        let acc = 0;
        for (let k = 0; k < layer.inSize; k++) {
          acc = f(
            acc +
              f(
                activations[row * layer.inSize + k] *
                  layer.weights[k * layer.outSize + j],
              ),
          );
        }
        const z = f(acc + layer.bias[j]);
        next[row * layer.outSize + j] =
          l < layers.length - 1 ? Math.max(0, z) : z;
      }
    }
    activations = next;
  });
  if (opts.softmax) {
    const n = opts.outputSize;
    for (let row = 0; row < batch; row++) {
      const logits = activations.subarray(row * n, (row + 1) * n);
      const max = Math.max(...logits);
      const exps = Array.from(logits, (v) => f(Math.exp(f(v - max))));
      const sum = exps.reduce((a, b) => f(a + b), 0);
      exps.forEach((e, i) => (logits[i] = f(e / sum)));
    }
  }
  return activations;
}
