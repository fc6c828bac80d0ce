import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type {
  FeatureExtractionPipeline,
  PreTrainedModel,
  PreTrainedTokenizer,
  Tensor as HfTensor,
  TextClassificationPipeline,
} from '@huggingface/transformers';
import type { Signature } from '@portfolio/contracts';
import type { Tensor } from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from '../engine-message';
import { LoadedModel, LoadOptions, ModelBackend } from '../model-backend';
import { ortSessionOptions } from '../onnx/onnx.backend';
import {
  describeHfModel,
  HfModelDescription,
  parseHfConfig,
  parseHfManifest,
  TEXT_INPUT,
} from './hf-model-description';

type Transformers = typeof import('@huggingface/transformers');

let transformersModule: Transformers | null = null;

/**
 * Loaded on first use (services that only inspect artifacts never pay for it), and
 * configured once for this process: local directories only, never the hub. `env` is
 * global to the library, so nothing per model goes there: each load names its model
 * by absolute directory path (see `load`), which needs no `localModelPath`.
 */
async function transformers(): Promise<Transformers> {
  if (transformersModule) return transformersModule;
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.allowLocalModels = true;
  // Caches key files by model id and relative path: two versions would share entries.
  t.env.useFSCache = false;
  t.env.useBrowserCache = false;
  t.env.useCustomCache = false;
  // Local files are read with fs; anything that still reaches for the network fails here.
  t.env.fetch = (input: string | URL) =>
    Promise.reject(
      new Error(
        `refusing to fetch ${String(input)}: HuggingFace models load from their uploaded files only`,
      ),
    );
  t.env.logLevel = t.LogLevel.ERROR;
  transformersModule = t;
  return t;
}

/**
 * HuggingFace Transformers models exported to ONNX (`config.json`, tokenizer files and
 * `onnx/model.onnx`), run by transformers.js on ONNX Runtime in this process, so the
 * runtime measures their memory in its own RSS.
 */
export class HuggingfaceBackend implements ModelBackend {
  readonly format = 'huggingface' as const;
  readonly eager = false;

  async warmUp(): Promise<void> {
    await transformers();
  }

  /** `path`: the model's config.json. */
  async load(path: string, options: LoadOptions): Promise<LoadedModel> {
    // First: a provider this server cannot start is refused before anything loads.
    const sessionOptions = ortSessionOptions(options);
    const t = await transformers();
    const dir = dirname(path);
    let description: HfModelDescription;
    try {
      const manifestPath = join(dir, 'portfolio.json');
      description = describeHfModel(
        parseHfConfig(readFileSync(path, 'utf8')),
        existsSync(manifestPath)
          ? parseHfManifest(readFileSync(manifestPath, 'utf8'))
          : {},
      );
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError('load', scrubEngineMessage(raw), raw);
    }
    const atTop = !existsSync(join(dir, 'onnx', 'model.onnx'));
    const onnxDir = atTop ? dir : join(dir, 'onnx');
    try {
      // An absolute path is no hub model id, so transformers.js reads it as a directory
      // and keys its memoized configs by it: versions in different directories never
      // share anything, whatever their directories are named.
      const pipe = await t.pipeline(description.task, dir, {
        dtype: 'fp32',
        subfolder: atTop ? '' : 'onnx',
        local_files_only: true,
        use_external_data_format: existsSync(join(onnxDir, 'model.onnx_data')),
        // The model's engine settings, as for plain ONNX models: transformers.js
        // spreads these over its own defaults, and its `device` only picks the
        // execution providers where session_options names none.
        session_options: sessionOptions,
      });
      return new HuggingfaceModel(
        pipe as FeatureExtractionPipeline | TextClassificationPipeline,
        description,
      );
    } catch (e) {
      const raw = errorMessage(e);
      throw new EngineError(
        'load',
        `transformers.js could not load the model: ${scrubEngineMessage(raw)}`,
        raw,
      );
    }
  }
}

class HuggingfaceModel implements LoadedModel {
  readonly signature: Signature;
  private released = false;

  constructor(
    private readonly pipe:
      | FeatureExtractionPipeline
      | TextClassificationPipeline,
    private readonly description: HfModelDescription,
  ) {
    this.signature = description.signature;
  }

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (this.released)
      throw new EngineError('run', 'the model was released', 'released');
    const texts = textsOf(inputs);
    let out: Record<string, Tensor>;
    try {
      out =
        this.description.task === 'feature-extraction'
          ? await this.embed(texts)
          : await this.classify(texts);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      const raw = errorMessage(e);
      throw new EngineError('run', scrubEngineMessage(raw), raw);
    }
    if (!outputNames?.length) return out;
    const picked: Record<string, Tensor> = {};
    for (const name of outputNames) {
      if (!(name in out))
        throw new EngineError(
          'run',
          `the model has no output "${name}" (it has ${Object.keys(out).join(', ')})`,
          `unknown output ${name}`,
        );
      picked[name] = out[name];
    }
    return picked;
  }

  private async embed(texts: string[]): Promise<Record<string, Tensor>> {
    const { pooling, normalize } = this.description;
    const result = await (this.pipe as FeatureExtractionPipeline)(texts, {
      pooling,
      normalize,
    });
    return { embeddings: fp32(result) };
  }

  /**
   * The pipeline's own call returns only labels and scores; the tokenizer and model
   * it holds give the logits too. Probabilities as the pipeline computes them: sigmoid
   * for multi-label models, softmax otherwise.
   */
  private async classify(texts: string[]): Promise<Record<string, Tensor>> {
    const tokenizer = this.pipe.tokenizer as PreTrainedTokenizer;
    const model = this.pipe.model as PreTrainedModel;
    const encoded = tokenizer(texts, { padding: true, truncation: true });
    const { logits } = (await model(encoded)) as { logits: HfTensor };
    const logitsData = Float32Array.from(logits.data as Float32Array);
    const [batch, classes] = logits.dims;
    const multiLabel =
      (model.config as { problem_type?: string }).problem_type ===
      'multi_label_classification';
    const probabilities = new Float32Array(logitsData.length);
    const label: string[] = [];
    const score = new Float32Array(batch);
    const names = this.description.labels;
    for (let row = 0; row < batch; row++) {
      const z = logitsData.subarray(row * classes, (row + 1) * classes);
      const p = probabilities.subarray(row * classes, (row + 1) * classes);
      if (multiLabel) {
        z.forEach((v, i) => (p[i] = 1 / (1 + Math.exp(-v))));
      } else {
        const max = Math.max(...z);
        let sum = 0;
        z.forEach((v, i) => (sum += p[i] = Math.exp(v - max)));
        p.forEach((v, i) => (p[i] = v / sum));
      }
      let best = 0;
      for (let i = 1; i < classes; i++) if (p[i] > p[best]) best = i;
      label.push(names[best] ?? `LABEL_${best}`);
      score[row] = p[best];
    }
    return {
      label: { datatype: 'BYTES', shape: [batch], data: label },
      score: { datatype: 'FP32', shape: [batch], data: score },
      logits: { datatype: 'FP32', shape: [batch, classes], data: logitsData },
      probabilities: {
        datatype: 'FP32',
        shape: [batch, classes],
        data: probabilities,
      },
    };
  }

  /** Releases the pipeline's ONNX Runtime sessions, which hold the weights. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.pipe.dispose();
  }
}

function textsOf(inputs: Readonly<Record<string, Tensor>>): string[] {
  const text = inputs[TEXT_INPUT];
  const fail = (sentence: string) => new EngineError('run', sentence, sentence);
  if (!text)
    throw fail(
      `the model takes one input, "${TEXT_INPUT}" (BYTES [batch]); got ${Object.keys(inputs).join(', ') || 'none'}`,
    );
  if (text.datatype !== 'BYTES' || !Array.isArray(text.data))
    throw fail(
      `input "${TEXT_INPUT}" must be BYTES (strings), not ${text.datatype}`,
    );
  if (text.shape.length !== 1)
    throw fail(
      `input "${TEXT_INPUT}" must have shape [batch], not [${text.shape.join(', ')}]`,
    );
  if (text.data.length === 0) throw fail(`input "${TEXT_INPUT}" holds no text`);
  return text.data;
}

/** A copy: the pipeline's tensors are views on buffers it may reuse or free. */
function fp32(t: HfTensor): Tensor {
  return {
    datatype: 'FP32',
    shape: [...t.dims],
    data: Float32Array.from(t.data as Float32Array),
  };
}

/** Errors may come from another realm (the native binding's, jest's), so no instanceof. */
function errorMessage(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(e);
}
