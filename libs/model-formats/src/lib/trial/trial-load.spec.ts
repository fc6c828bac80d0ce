import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';
import {
  buildGenericModel,
  buildLargeModel,
  buildMlpModel,
  compileForNode,
  ElemType,
  makeTempDir,
  writeModel,
} from '@portfolio/testing';

import { trialLoad, TrialLoadOptions } from './trial-load';

const MiB = 1024 * 1024;

describe(trialLoad.name, () => {
  let dir: string;
  let options: TrialLoadOptions;

  beforeAll(() => {
    dir = makeTempDir('trial-load');
    options = {
      script: compileForNode(resolve(__dirname, 'trial-load.main.ts')),
      timeoutMs: 60_000,
      maxBytes: 2048 * MiB,
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(PortfolioError);
        return e as PortfolioError;
      },
    );

  it('loads a valid model and answers the signature its framework reports', async () => {
    const path = writeModel(
      dir,
      'mlp.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3 }),
    );

    await expect(trialLoad('onnx', path, options)).resolves.toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });
  });

  it('refuses a model with an operator no framework knows, in its words', async () => {
    const path = writeModel(
      dir,
      'unknown-op.onnx',
      buildGenericModel({
        inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['n', 2] }],
        outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['n', 2] }],
        nodes: [{ opType: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }],
      }),
    );

    const e = await refusal(trialLoad('onnx', path, options));

    expect(e.code).toBe('INVALID_ARTIFACT');
    expect(e.message).toMatch(/^the model does not load: .*NoSuchOperator/);
    expect(e.message).not.toContain(dir);
  });

  it('refuses a model whose load takes more memory than a trial may', async () => {
    const path = buildLargeModel({
      weightBytes: 128 * MiB,
      externalData: true,
      dir,
      name: 'large',
    });

    const e = await refusal(
      trialLoad('onnx', path, { ...options, maxBytes: 128 * MiB }),
    );

    expect(e.code).toBe('INVALID_ARTIFACT');
    expect(e.message).toBe(
      'loading the model took more than 128 MiB of memory, the most a trial load may take (storage.trial_load.memory_limit); nothing was registered',
    );
  }, 120_000);

  it('refuses a model that does not load in time', async () => {
    const path = writeModel(
      dir,
      'mlp-slow.onnx',
      buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 3 }),
    );

    const e = await refusal(
      trialLoad('onnx', path, { ...options, timeoutMs: 1 }),
    );

    expect(e.code).toBe('INVALID_ARTIFACT');
    expect(e.message).toMatch(/^the model did not load within 0.001 s/);
  });

  it('says so when the trial process dies without an answer', async () => {
    const script = join(dir, 'dies.js');
    writeFileSync(script, 'process.exit(3);\n');

    const e = await refusal(trialLoad('onnx', script, { ...options, script }));

    expect(e.code).toBe('INVALID_ARTIFACT');
    expect(e.message).toBe(
      'loading the model crashed its framework (exit code 3); nothing was registered',
    );
  });
});
