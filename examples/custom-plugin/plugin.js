'use strict';
// A Portfolio `custom` model: a linear layer y = xW + b in plain JavaScript.
// It reads its weights from weights.json beside it:
//   { "W": [[...], ...] (n rows of m numbers), "b": [...] (m numbers) }
// Contract: libs/model-formats/src/lib/custom/plugin-contract.ts.

const { readFileSync } = require('node:fs');
const { join } = require('node:path');

function readWeights(dir) {
  const { W, b } = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8'));
  const n = W.length;
  const m = b.length;
  if (n === 0 || W.some((row) => row.length !== m)) {
    throw new Error(
      `weights.json: W must be ${n} rows of ${m} numbers, as many as b has`,
    );
  }
  return { n, m, W: Float32Array.from(W.flat()), b: Float32Array.from(b) };
}

/** Called with the plugin's directory: the sizes come from the weights. */
function signature(dir) {
  const { n, m } = readWeights(dir);
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, n] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, m] }],
  };
}

function load(dir) {
  return readWeights(dir);
}

function predict(state, inputs) {
  const x = inputs.x;
  if (
    !x ||
    x.datatype !== 'FP32' ||
    x.shape.length !== 2 ||
    x.shape[1] !== state.n
  ) {
    throw new Error(`input "x" must be FP32 [batch, ${state.n}]`);
  }
  const batch = x.shape[0];
  const { n, m, W, b } = state;
  const y = new Float32Array(batch * m);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < m; j++) {
      let acc = b[j];
      for (let k = 0; k < n; k++) acc += x.data[r * n + k] * W[k * m + j];
      y[r * m + j] = acc;
    }
  }
  return { y: { datatype: 'FP32', shape: [batch, m], data: y } };
}

function unload() {
  // Nothing beyond the state's arrays, which the garbage collector frees.
}

module.exports = { signature, load, predict, unload };
