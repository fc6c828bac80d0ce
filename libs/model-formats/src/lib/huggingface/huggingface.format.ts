import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';

import type { FormatModule } from '../format-module';
import { describePaths } from '../format-paths';
import { inspectOnnxFile } from '../onnx/onnx-inspector';
import { HuggingfaceBackend } from './huggingface.backend';
import {
  describeHfModel,
  parseHfConfig,
  parseHfManifest,
} from './hf-model-description';

const UPLOAD_HINT =
  'upload the model directory as a tar, a zip or a multipart upload holding config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx';

/** Where, relative to config.json's directory, the ONNX graph may be: the hub's exports use onnx/. */
const ONNX_LOCATIONS = ['onnx/model.onnx', 'model.onnx'];

function invalid(sentence: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', sentence);
}

/**
 * The config.json that heads the model directory: one with the ONNX graph beside it
 * (`onnx/model.onnx` or `model.onnx`). Several such directories are several models;
 * a config.json without a graph names what is missing.
 */
function entryPoint(paths: readonly string[]): string {
  const configs = paths.filter((p) => posix.basename(p) === 'config.json');
  if (configs.length === 0)
    throw invalid(
      `the upload holds no config.json (${describePaths(paths)}); ${UPLOAD_HINT}`,
    );
  const present = new Set(paths);
  const withGraph = configs.filter((c) => {
    const dir = posix.dirname(c);
    return ONNX_LOCATIONS.some((l) =>
      present.has(dir === '.' ? l : `${dir}/${l}`),
    );
  });
  // A config.json inside another model's directory (some exports put one in onnx/)
  // belongs to that model.
  const dirOf = (c: string) =>
    posix.dirname(c) === '.' ? '' : `${posix.dirname(c)}/`;
  const outermost = withGraph.filter(
    (c) =>
      !withGraph.some(
        (other) => other !== c && dirOf(c).startsWith(dirOf(other)),
      ),
  );
  if (outermost.length === 1) return outermost[0];
  if (withGraph.length === 0)
    throw invalid(
      `the upload has ${describePaths(configs)} but no onnx/model.onnx beside it: export the model to ONNX (e.g. with optimum) and ${UPLOAD_HINT}`,
    );
  throw invalid(
    `the upload holds ${outermost.length} models (${describePaths(outermost)}); a version is one model: upload one model directory`,
  );
}

function readBeside(dir: string, name: string, what: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    throw invalid(`${name} (${what}) is missing beside config.json`);
  }
}

/**
 * HuggingFace Transformers models exported to ONNX, in the hub's layout: config.json,
 * the tokenizer (tokenizer.json, tokenizer_config.json) and onnx/model.onnx, plus an
 * optional portfolio.json saying the task and pooling. Validated by content: config.json
 * names a `model_type`, tokenizer.json holds a tokenizer `model`, and the graph is a
 * well-formed ONNX model. Nothing is loaded or executed at ingest.
 */
export const huggingfaceFormat: FormatModule = {
  format: 'huggingface',
  entryPoint,
  inspect: async (path, beside) => {
    if (!beside)
      throw invalid(
        `a single file cannot be a HuggingFace model, which is a directory of files; ${UPLOAD_HINT}`,
      );
    const dir = dirname(path);
    const config = parseHfConfig(readFileSync(path, 'utf8'));
    const has = (name: string) =>
      beside.has(name) && existsSync(join(dir, name));

    if (!has('tokenizer.json'))
      throw invalid(
        `tokenizer.json is missing beside config.json; ${UPLOAD_HINT}`,
      );
    let tokenizer: unknown;
    try {
      tokenizer = JSON.parse(
        readBeside(dir, 'tokenizer.json', 'the tokenizer'),
      );
    } catch (e) {
      if (e instanceof PortfolioError) throw e;
      throw invalid(
        `tokenizer.json is not valid JSON: ${(e as Error).message}`,
      );
    }
    if (
      typeof tokenizer !== 'object' ||
      tokenizer === null ||
      typeof (tokenizer as { model?: unknown }).model !== 'object' ||
      (tokenizer as { model?: unknown }).model === null
    )
      throw invalid(
        'tokenizer.json has no "model": it is not a tokenizer saved by the tokenizers library',
      );
    if (!has('tokenizer_config.json'))
      throw invalid(
        `tokenizer_config.json is missing beside config.json; ${UPLOAD_HINT}`,
      );
    try {
      JSON.parse(
        readBeside(dir, 'tokenizer_config.json', 'the tokenizer settings'),
      );
    } catch (e) {
      if (e instanceof PortfolioError) throw e;
      throw invalid(
        `tokenizer_config.json is not valid JSON: ${(e as Error).message}`,
      );
    }

    const graph = ONNX_LOCATIONS.find(has);
    if (!graph)
      throw invalid(
        `onnx/model.onnx is missing beside config.json: export the model to ONNX (e.g. with optimum) and ${UPLOAD_HINT}`,
      );
    const graphDir = posix.dirname(graph);
    const besideGraph = new Map<string, number>();
    for (const [name, size] of beside) {
      if (graphDir === '.') besideGraph.set(name, size);
      else if (name.startsWith(`${graphDir}/`))
        besideGraph.set(name.slice(graphDir.length + 1), size);
    }
    const onnx = inspectOnnxFile(join(dir, graph), besideGraph);

    const description = describeHfModel(
      config,
      has('portfolio.json')
        ? parseHfManifest(readFileSync(join(dir, 'portfolio.json'), 'utf8'))
        : {},
    );
    const onnxInputs = new Set(onnx.signature.inputs.map((i) => i.name));
    if (!onnxInputs.has('input_ids'))
      throw invalid(
        `${graph} does not take "input_ids" (it takes ${[...onnxInputs].join(', ') || 'nothing'}): it is not a text model transformers.js can run`,
      );
    return {
      format: 'huggingface',
      signature: description.signature,
      metadata: {
        task: description.task,
        model_type: description.modelType,
        ...(description.task === 'feature-extraction'
          ? {
              pooling: description.pooling,
              normalize: String(description.normalize),
            }
          : { labels: description.labels.join(',') }),
        onnx_ir_version: String(onnx.irVersion),
      },
    };
  },
  createBackend: () => new HuggingfaceBackend(),
};
