import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { makeTempDir, REPO_ROOT } from '@portfolio/testing';

import { EngineError } from '../engine-message';
import { LoadedModel } from '../model-backend';
import { CustomBackend } from './custom.backend';

const EXAMPLE = join(REPO_ROOT, 'examples', 'custom-plugin', 'plugin.js');

/** A plugin whose predict returns `outputs` (JS source of an expression of `inputs`). */
function plugin(dir: string, body: string, file = 'plugin.js'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, body);
  return path;
}

const SIGNATURE = `{ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }] }`;

function returning(outputs: string): string {
  return `module.exports = {
  signature: ${SIGNATURE},
  load: () => ({}),
  predict: (state, inputs) => (${outputs}),
};`;
}

const x = (...values: number[]) => ({
  x: {
    datatype: 'FP32' as const,
    shape: [values.length],
    data: new Float32Array(values),
  },
});

async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

describe(CustomBackend.name, () => {
  let root: string;
  let sut: CustomBackend;
  const opened: LoadedModel[] = [];

  beforeAll(() => {
    root = makeTempDir('custom-backend');
  });
  beforeEach(() => {
    sut = new CustomBackend();
  });
  afterEach(async () => {
    for (const model of opened.splice(0)) await model.release();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function load(path: string): Promise<LoadedModel> {
    const model = await sut.load(path, { intraOpThreads: 1 });
    opened.push(model);
    return model;
  }

  it('loads the example linear plugin and computes y = xW + b', async () => {
    const model = await load(EXAMPLE);

    const out = await model.run({
      x: {
        datatype: 'FP32',
        shape: [2, 3],
        data: new Float32Array([1, 2, 3, 0, 0, 0]),
      },
    });

    expect(model.signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect(out['y'].datatype).toBe('FP32');
    expect(out['y'].shape).toEqual([2, 2]);
    const y = Array.from(out['y'].data as Float32Array);
    [-2.9, 9, 0.1, -1].forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
  });

  it("surfaces the plugin's own error from predict as a run error", async () => {
    const model = await load(EXAMPLE);

    const error = await engineError(model.run(x(1, 2, 3)));

    expect(error.stage).toBe('run');
    expect(error.message).toMatch(/predict failed: input "x" must be FP32/);
  });

  it('refuses a plugin without predict, naming it', async () => {
    const path = plugin(
      join(root, 'no-predict'),
      `module.exports = { signature: ${SIGNATURE}, load: () => ({}) };`,
    );

    const error = await engineError(sut.load(path, { intraOpThreads: 1 }));

    expect(error.stage).toBe('load');
    expect(error.message).toMatch(/must export predict\(\)/);
    expect(error.message).toMatch(/it exports signature, load/);
  });

  it('refuses a plugin without a signature or a portfolio.json declaring one', async () => {
    const path = plugin(
      join(root, 'no-signature'),
      `module.exports = { load: () => ({}), predict: () => ({}) };`,
    );

    const error = await engineError(sut.load(path, { intraOpThreads: 1 }));

    expect(error.message).toMatch(/declares no signature/);
  });

  it('takes the signature from portfolio.json when the plugin has none', async () => {
    const dir = join(root, 'manifest-signature');
    const path = plugin(
      dir,
      `module.exports = { load: () => ({}), predict: (s, i) => ({ y: i.x }) };`,
    );
    writeFileSync(
      join(dir, 'portfolio.json'),
      JSON.stringify({
        signature: {
          inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
          outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
        },
      }),
    );

    const model = await load(path);

    expect(model.signature.outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [-1] },
    ]);
    expect(
      Array.from((await model.run(x(4, 5)))['y'].data as Float32Array),
    ).toEqual([4, 5]);
  });

  it('refuses an invalid signature export', async () => {
    const path = plugin(
      join(root, 'bad-signature'),
      `module.exports = { signature: { inputs: [{ name: 'x', datatype: 'FLOAT', shape: [-1] }], outputs: [] }, load: () => ({}), predict: () => ({}) };`,
    );

    const error = await engineError(sut.load(path, { intraOpThreads: 1 }));

    expect(error.message).toMatch(
      /signature is invalid at inputs\.0\.datatype/,
    );
  });

  it("reports a failing load with the plugin's message, without server paths", async () => {
    const dir = join(root, 'load-throws');
    const path = plugin(
      dir,
      `module.exports = { signature: ${SIGNATURE}, load: (dir) => { throw new Error('cannot read ' + dir + '/weights.bin'); }, predict: () => ({}) };`,
    );

    const error = await engineError(sut.load(path, { intraOpThreads: 1 }));

    expect(error.message).toBe(
      "the plugin's load failed: cannot read weights.bin",
    );
    expect(error.detail).toContain(dir);
  });

  it.each([
    [
      'a wrong number of values',
      `{ y: { datatype: 'FP32', shape: [2, 2], data: new Float32Array(3) } }`,
      /output "y" has 3 values where its shape \[2, 2\] holds 4/,
    ],
    [
      'an unknown datatype',
      `{ y: { datatype: 'FLOAT', shape: [1], data: new Float32Array(1) } }`,
      /output "y" has an unknown datatype "FLOAT"/,
    ],
    [
      'data of the wrong storage',
      `{ y: { datatype: 'FP32', shape: [2], data: [1, 2] } }`,
      /output "y" is FP32, whose data must be a Float32Array, not a Array/,
    ],
    [
      'a bad shape',
      `{ y: { datatype: 'FP32', shape: [-1], data: new Float32Array(1) } }`,
      /output "y" has no shape/,
    ],
    [
      'BYTES that are not strings',
      `{ y: { datatype: 'BYTES', shape: [1], data: [1] } }`,
      /BYTES, whose values must be strings/,
    ],
    ['no object', `[1, 2]`, /must return an object of named tensors/],
  ])('refuses outputs with %s', async (what, outputs, message) => {
    const model = await load(
      plugin(
        join(root, `out-${what.replace(/\W+/g, '-')}`),
        returning(outputs),
      ),
    );

    const error = await engineError(model.run(x(1)));

    expect(error.stage).toBe('run');
    expect(error.message).toMatch(message);
  });

  it('returns only the outputs asked for, and checks they exist', async () => {
    const model = await load(
      plugin(
        join(root, 'two-outputs'),
        returning(
          `{ y: inputs.x, z: { datatype: 'INT64', shape: [1], data: new BigInt64Array([7n]) } }`,
        ),
      ),
    );

    const out = await model.run(x(1), ['z']);

    expect(Object.keys(out)).toEqual(['z']);
    expect(out['z'].data).toEqual(new BigInt64Array([7n]));
    await expect(model.run(x(1), ['w'])).rejects.toThrow(/no output "w"/);
  });

  it('calls unload on release, once', async () => {
    const dir = join(root, 'unload');
    const path = plugin(
      dir,
      `const { appendFileSync } = require('node:fs');
module.exports = {
  signature: ${SIGNATURE},
  load: (dir) => ({ dir }),
  predict: () => ({}),
  unload: (state) => appendFileSync(state.dir + '/unloaded', 'x'),
};`,
    );
    const model = await sut.load(path, { intraOpThreads: 1 });

    await model.release();
    await model.release();

    expect(require('node:fs').readFileSync(join(dir, 'unloaded'), 'utf8')).toBe(
      'x',
    );
    await expect(model.run(x(1))).rejects.toThrow(/released/);
  });

  it("loads the module package.json's main names", async () => {
    const dir = join(root, 'package');
    plugin(join(dir, 'lib'), returning('{ y: inputs.x }'), 'index.js');
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'p', main: 'lib/index.js' }),
    );

    const model = await load(join(dir, 'package.json'));

    expect(
      Array.from((await model.run(x(3)))['y'].data as Float32Array),
    ).toEqual([3]);
  });

  it('loads a single uploaded file, stored without a .js name, as CommonJS', async () => {
    const model = await load(
      plugin(
        join(root, 'single'),
        returning('{ y: inputs.x }'),
        'model.custom',
      ),
    );

    expect(model.signature.inputs[0].name).toBe('x');
  });

  it('loads an ES module plugin (.mjs) in a plain Node process', () => {
    // jest's VM has no dynamic import without --experimental-vm-modules, so the
    // backend runs here as the runtime runs it: in Node, from its TypeScript source.
    const path = plugin(
      join(root, 'esm'),
      `export const signature = ${SIGNATURE};
export async function load() { return { k: 3 }; }
export function predict(state, { x }) {
  return { y: { datatype: 'FP32', shape: [...x.shape], data: x.data.map((v) => v * state.k) } };
}`,
      'plugin.mjs',
    );
    const script = `
const { CustomBackend } = require('./libs/model-formats/src/lib/custom/custom.backend.ts');
(async () => {
  const model = await new CustomBackend().load(${JSON.stringify(path)}, { intraOpThreads: 1 });
  const out = await model.run({ x: { datatype: 'FP32', shape: [2], data: new Float32Array([1, 2]) } });
  await model.release();
  process.stdout.write(JSON.stringify({ signature: model.signature, y: Array.from(out.y.data) }));
})().catch((e) => { process.stderr.write(String(e && e.stack)); process.exit(1); });`;

    const child = spawnSync(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        '-r',
        'tsconfig-paths/register',
        '-e',
        script,
      ],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.base.json' },
      },
    );

    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
      },
      y: [3, 6],
    });
  });
});
