import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { AutoTokenizer, env } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';

import { EngineSettings, PortfolioError } from '@portfolio/contracts';
import { makeTempDir, writeTinyBertModel } from '@portfolio/testing';
import type { Tensor } from '@portfolio/tensor';

import { EngineError } from '../engine-message';
import { LoadedModel } from '../model-backend';
import { missingCudaFiles } from '../onnx/onnx.backend';
import { HuggingfaceBackend } from './huggingface.backend';

const TEXTS = [
  'Hello world!',
  'The cat sat on the mat.',
  'this movie is GREAT, i love it',
  'zebras playing',
];

function text(...values: string[]): Tensor {
  return { datatype: 'BYTES', shape: [values.length], data: values };
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(
      1e-5 * Math.max(1, Math.abs(expected[i])),
    );
}

/**
 * The model's outputs computed without transformers.js' pipeline: its tokenizer
 * (padding to the longest text, as the pipeline does) feeding ONNX Runtime directly.
 */
async function direct(
  dir: string,
  texts: string[],
  outputName: string,
): Promise<{ data: Float32Array; dims: number[]; mask: BigInt64Array }> {
  const tokenizer = await AutoTokenizer.from_pretrained(dir);
  const encoded = tokenizer(texts, {
    padding: true,
    truncation: true,
  }) as unknown as Record<string, { data: BigInt64Array; dims: number[] }>;
  const session = await ort.InferenceSession.create(
    join(dir, 'onnx', 'model.onnx'),
  );
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of ['input_ids', 'attention_mask', 'token_type_ids']) {
      const t = encoded[name];
      feeds[name] = new ort.Tensor('int64', t.data, t.dims);
    }
    const out = (await session.run(feeds))[outputName];
    return {
      data: out.data as Float32Array,
      dims: [...out.dims],
      mask: encoded['attention_mask'].data,
    };
  } finally {
    await session.release();
  }
}

/** Mean over the tokens the mask keeps, then optionally L2 normalization. */
function meanPool(
  states: Float32Array,
  [batch, tokens, hidden]: number[],
  mask: BigInt64Array,
  normalize: boolean,
): Float32Array {
  const out = new Float32Array(batch * hidden);
  for (let b = 0; b < batch; b++) {
    let kept = 0;
    for (let t = 0; t < tokens; t++) {
      if (mask[b * tokens + t] === 0n) continue;
      kept++;
      for (let h = 0; h < hidden; h++)
        out[b * hidden + h] += states[(b * tokens + t) * hidden + h];
    }
    const row = out.subarray(b * hidden, (b + 1) * hidden);
    row.forEach((v, h) => (row[h] = v / kept));
    if (normalize) {
      const norm = Math.hypot(...row);
      row.forEach((v, h) => (row[h] = v / norm));
    }
  }
  return out;
}

describe(HuggingfaceBackend.name, () => {
  let root: string;
  let sut: HuggingfaceBackend;
  const opened: LoadedModel[] = [];
  const fetched: string[] = [];
  const realFetch = globalThis.fetch;

  beforeAll(() => {
    root = makeTempDir('hf-backend');
    // Any attempt at the network fails the test loudly and is recorded.
    globalThis.fetch = (async (input: unknown) => {
      fetched.push(String(input));
      throw new Error(`network access attempted: ${String(input)}`);
    }) as typeof fetch;
  });
  beforeEach(() => {
    sut = new HuggingfaceBackend();
  });
  afterEach(async () => {
    for (const model of opened.splice(0)) await model.release();
    expect(fetched).toEqual([]);
  });
  afterAll(() => {
    globalThis.fetch = realFetch;
    rmSync(root, { recursive: true, force: true });
  });

  async function load(configPath: string): Promise<LoadedModel> {
    const model = await sut.load(configPath, { intraOpThreads: 1 });
    opened.push(model);
    return model;
  }

  it('warms up without a model and configures transformers.js for local files only', async () => {
    await sut.warmUp();

    expect(env.allowRemoteModels).toBe(false);
    expect(env.allowLocalModels).toBe(true);
    await expect(env.fetch('https://huggingface.co/x')).rejects.toThrow(
      /refusing to fetch/,
    );
  });

  it('extracts mean-pooled, normalized embeddings equal to the direct computation', async () => {
    const files = writeTinyBertModel(join(root, 'embed-mean'), {
      task: 'feature-extraction',
      hidden: 8,
      manifest: {
        task: 'feature-extraction',
        pooling: 'mean',
        normalize: true,
      },
    });
    const model = await load(files.configPath);

    const out = await model.run({ text: text(...TEXTS) });

    expect(Object.keys(out)).toEqual(['embeddings']);
    expect(out['embeddings'].datatype).toBe('FP32');
    expect(out['embeddings'].shape).toEqual([TEXTS.length, 8]);
    const { data, dims, mask } = await direct(
      files.dir,
      TEXTS,
      'last_hidden_state',
    );
    expectClose(
      out['embeddings'].data as Float32Array,
      meanPool(data, dims, mask, true),
    );
  });

  it('returns token embeddings [batch, tokens, hidden] without pooling', async () => {
    const files = writeTinyBertModel(join(root, 'embed-none'), {
      task: 'feature-extraction',
      hidden: 6,
      seed: 11,
      manifest: { pooling: 'none' },
    });
    const model = await load(files.configPath);

    const out = await model.run({ text: text(...TEXTS) });

    const { data, dims } = await direct(files.dir, TEXTS, 'last_hidden_state');
    expect(out['embeddings'].shape).toEqual(dims);
    expectClose(out['embeddings'].data as Float32Array, data);
  });

  it('pools with the [CLS] token when the manifest says so', async () => {
    const files = writeTinyBertModel(join(root, 'embed-cls'), {
      task: 'feature-extraction',
      hidden: 4,
      manifest: { pooling: 'cls' },
    });
    const model = await load(files.configPath);

    const out = await model.run({ text: text(...TEXTS) });

    const { data, dims } = await direct(files.dir, TEXTS, 'last_hidden_state');
    const [batch, tokens, hidden] = dims;
    const cls = new Float32Array(batch * hidden);
    for (let b = 0; b < batch; b++)
      cls.set(
        data.subarray(b * tokens * hidden, b * tokens * hidden + hidden),
        b * hidden,
      );
    expect(out['embeddings'].shape).toEqual([batch, hidden]);
    expectClose(out['embeddings'].data as Float32Array, cls);
  });

  it('classifies texts: labels from id2label, logits equal to the direct computation, softmax probabilities', async () => {
    const labels = ['negative', 'neutral', 'positive'];
    const files = writeTinyBertModel(join(root, 'classify'), {
      task: 'text-classification',
      labels,
      hidden: 8,
      seed: 3,
    });
    const model = await load(files.configPath);

    const out = await model.run({ text: text(...TEXTS) });

    const { data: logits } = await direct(files.dir, TEXTS, 'logits');
    expect(out['logits'].shape).toEqual([TEXTS.length, 3]);
    expectClose(out['logits'].data as Float32Array, logits);
    for (let b = 0; b < TEXTS.length; b++) {
      const z = Array.from(logits.subarray(b * 3, b * 3 + 3));
      const exps = z.map((v) => Math.exp(v - Math.max(...z)));
      const p = exps.map((e) => e / exps.reduce((a, c) => a + c, 0));
      const best = p.indexOf(Math.max(...p));
      expectClose(
        (out['probabilities'].data as Float32Array).subarray(b * 3, b * 3 + 3),
        p,
      );
      expect((out['label'].data as string[])[b]).toBe(labels[best]);
      expect((out['score'].data as Float32Array)[b]).toBeCloseTo(p[best], 5);
    }
    expect(out['label']).toMatchObject({ datatype: 'BYTES', shape: [4] });
    expect(out['score']).toMatchObject({ datatype: 'FP32', shape: [4] });
  });

  it('reports the signature the task gives: text in, task outputs out', async () => {
    const embed = await load(
      writeTinyBertModel(join(root, 'sig-embed'), {
        task: 'feature-extraction',
        hidden: 5,
      }).configPath,
    );
    const classify = await load(
      writeTinyBertModel(join(root, 'sig-classify'), {
        task: 'text-classification',
      }).configPath,
    );

    expect(embed.signature).toEqual({
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
      outputs: [{ name: 'embeddings', datatype: 'FP32', shape: [-1, 5] }],
    });
    expect(classify.signature).toEqual({
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'score', datatype: 'FP32', shape: [-1] },
        { name: 'logits', datatype: 'FP32', shape: [-1, 2] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    });
  });

  it('keeps two models of the same directory name apart', async () => {
    // Same leaf name, different weights: a cache keyed by model id would mix them up.
    const a = writeTinyBertModel(join(root, 'a', 'model'), {
      task: 'feature-extraction',
      hidden: 4,
      seed: 1,
    });
    const b = writeTinyBertModel(join(root, 'b', 'model'), {
      task: 'feature-extraction',
      hidden: 6,
      seed: 2,
    });
    const modelA = await load(a.configPath);
    const modelB = await load(b.configPath);

    const outA = await modelA.run({ text: text('hello world') });
    const outB = await modelB.run({ text: text('hello world') });

    expect(outA['embeddings'].shape).toEqual([1, 4]);
    expect(outB['embeddings'].shape).toEqual([1, 6]);
    const directB = await direct(b.dir, ['hello world'], 'last_hidden_state');
    expectClose(
      outB['embeddings'].data as Float32Array,
      meanPool(directB.data, directB.dims, directB.mask, false),
    );
  });

  it('loads a graph at the top of the directory, without token_type_ids', async () => {
    const files = writeTinyBertModel(join(root, 'top'), {
      task: 'feature-extraction',
      onnxAtTop: true,
      tokenTypeIds: false,
    });
    const model = await load(files.configPath);

    const out = await model.run({ text: text('a cat', 'the mat') });

    expect(out['embeddings'].shape).toEqual([2, 8]);
  });

  it('returns only the outputs asked for', async () => {
    const model = await load(
      writeTinyBertModel(join(root, 'pick'), { task: 'text-classification' })
        .configPath,
    );

    const out = await model.run({ text: text('great film') }, ['label']);

    expect(Object.keys(out)).toEqual(['label']);
    await expect(
      model.run({ text: text('great film') }, ['nope']),
    ).rejects.toThrow(/no output "nope"/);
  });

  it('refuses inputs that are not a batch of strings', async () => {
    const model = await load(
      writeTinyBertModel(join(root, 'bad-input'), {
        task: 'feature-extraction',
      }).configPath,
    );

    await expect(
      model.run({
        x: { datatype: 'FP32', shape: [1], data: new Float32Array(1) },
      }),
    ).rejects.toThrow(/takes one input, "text"/);
    await expect(
      model.run({
        text: { datatype: 'FP32', shape: [1], data: new Float32Array(1) },
      }),
    ).rejects.toThrow(/must be BYTES/);
    await expect(
      model.run({ text: { datatype: 'BYTES', shape: [1, 1], data: ['a'] } }),
    ).rejects.toBeInstanceOf(EngineError);
  });

  it('releases the pipeline: the model is unusable afterwards and release is idempotent', async () => {
    const files = writeTinyBertModel(join(root, 'release'), {
      task: 'feature-extraction',
    });
    const model = await sut.load(files.configPath, { intraOpThreads: 1 });

    await model.release();
    await model.release();

    await expect(model.run({ text: text('hello') })).rejects.toThrow(
      /released/,
    );
  });

  it('fails to load without a tokenizer, from local files only', async () => {
    const files = writeTinyBertModel(join(root, 'no-tokenizer'), {
      task: 'feature-extraction',
    });
    rmSync(files.tokenizerPath);

    const failure = sut.load(files.configPath, { intraOpThreads: 1 });

    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toThrow(/tokenizer\.json/);
    await expect(failure).rejects.not.toThrow(new RegExp(root));
  });

  describe('engine options', () => {
    // The intra-op pool is OS threads (threads - 1 of them), which Linux lists.
    const taskDir = '/proc/self/task';

    (existsSync(taskDir) ? it : it.skip)(
      "passes the model's thread count to ONNX Runtime",
      async () => {
        const files = writeTinyBertModel(join(root, 'threads'), {
          task: 'feature-extraction',
        });
        const added = async (engine?: EngineSettings): Promise<number> => {
          const before = readdirSync(taskDir).length;
          const model = await sut.load(files.configPath, {
            intraOpThreads: 1,
            ...(engine ? { engine } : {}),
          });
          const count = readdirSync(taskDir).length - before;
          await model.release();
          return count;
        };

        const one = await added();

        expect(await added({ threads: 3 })).toBe(one + 2);
      },
    );

    it('embeds the same with graph optimization disabled and without the memory arena', async () => {
      const files = writeTinyBertModel(join(root, 'engine'), {
        task: 'feature-extraction',
      });
      const plain = await load(files.configPath);
      const tuned = await sut.load(files.configPath, {
        intraOpThreads: 1,
        engine: { graph_optimization: 'disabled', memory_arena: false },
      });
      opened.push(tuned);

      const a = await plain.run({ text: text(...TEXTS) });
      const b = await tuned.run({ text: text(...TEXTS) });

      const name = Object.keys(a)[0];
      expectClose(b[name].data as Float32Array, a[name].data as Float32Array);
    });

    const ortBinaries = join(
      require.resolve('onnxruntime-node/package.json'),
      '..',
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
    );

    (missingCudaFiles(ortBinaries).length > 0 ? it : it.skip)(
      "refuses execution provider 'cuda' where ONNX Runtime's CUDA binaries are missing",
      async () => {
        const files = writeTinyBertModel(join(root, 'cuda'), {
          task: 'feature-extraction',
        });

        const failure = sut.load(files.configPath, {
          intraOpThreads: 1,
          engine: { execution_provider: 'cuda' },
        });

        await expect(failure).rejects.toBeInstanceOf(PortfolioError);
        await expect(failure).rejects.toMatchObject({
          code: 'FORMAT_UNAVAILABLE',
        });
        await expect(failure).rejects.toThrow(
          /libonnxruntime_providers_cuda\.so.*use execution_provider cpu$/,
        );
      },
    );
  });
});
