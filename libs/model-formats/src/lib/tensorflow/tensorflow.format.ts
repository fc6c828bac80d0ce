import { open, stat } from 'node:fs/promises';
import { posix } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';

import type { FormatModule } from '../format-module';
import { describePaths, theOnly } from '../format-paths';
import { isSavedModelFile, savedModelUnavailable } from './saved-model';
import { TensorflowBackend } from './tensorflow.backend';
import {
  checkShards,
  parseModelJson,
  signatureOfModelJson,
} from './tfjs-model-json';
import { hasTfjsNode } from './tfjs-runtime';

/** Larger than any model.json TF.js writes (topologies of big graphs are a few MiB). */
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

const base = (p: string) => posix.basename(p).toLowerCase();

/**
 * The file a runtime loads among an upload's: a SavedModel's `saved_model.pb`, else
 * the TF.js `model.json`, else the one `.json` file (converters name it after the model,
 * `blazeface.json`): its shards sit beside it, named by its weights manifest.
 */
function entryPoint(paths: readonly string[]): string {
  const savedModels = paths.filter((p) => base(p) === 'saved_model.pb');
  if (savedModels.length > 0)
    return theOnly(
      paths,
      (p) => base(p) === 'saved_model.pb',
      'saved_model.pb',
      'saved_model.pb files',
    );
  const modelJsons = paths.filter((p) => base(p) === 'model.json');
  if (modelJsons.length > 0)
    return theOnly(
      paths,
      (p) => base(p) === 'model.json',
      'model.json',
      'model.json files',
    );
  const jsons = paths.filter((p) => base(p).endsWith('.json'));
  if (jsons.length === 1) return jsons[0];
  throw new PortfolioError(
    'INVALID_ARTIFACT',
    jsons.length === 0
      ? `the upload holds no TF.js model.json and no SavedModel saved_model.pb (${describePaths(paths)})`
      : `the upload holds ${jsons.length} .json files and no model.json (${describePaths(jsons)}): name the TF.js model's model.json`,
  );
}

/**
 * Validates by content: a SavedModel protobuf (loadable only with
 * @tensorflow/tfjs-node: FORMAT_UNAVAILABLE without it), or a TF.js model.json whose
 * shards were uploaded beside it with the sizes its manifest implies.
 */
async function inspect(path: string, beside?: ReadonlyMap<string, number>) {
  const { size } = await stat(path);
  if (size === 0)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      'not a TF.js model.json: the file is empty',
    );
  if (!(await startsLikeJson(path))) {
    if (isSavedModelFile(path)) {
      if (!(await hasTfjsNode())) throw savedModelUnavailable();
      if (!beside)
        throw new PortfolioError(
          'INVALID_ARTIFACT',
          'a SavedModel is a directory: upload a tar or zip archive holding saved_model.pb and its variables/ directory',
        );
      return {
        format: 'tensorflow' as const,
        signature: { inputs: [], outputs: [] },
        metadata: { kind: 'saved-model' },
      };
    }
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      'not a TF.js model.json: the file is not JSON, and not a TensorFlow SavedModel (saved_model.pb) either',
    );
  }
  if (size > MAX_MODEL_JSON_BYTES)
    throw new PortfolioError(
      'INVALID_ARTIFACT',
      `not a TF.js model.json: ${size} bytes is more than a model.json holds (the weights belong in its shard files)`,
    );
  const model = parseModelJson(await readText(path));
  checkShards(model, beside);
  const metadata: Record<string, string> = {
    kind: model.kind === 'graph' ? 'graph-model' : 'layers-model',
  };
  for (const key of ['generatedBy', 'convertedBy'] as const) {
    const value = model.json[key];
    if (typeof value === 'string' && value) metadata[key] = value.slice(0, 200);
  }
  return {
    format: 'tensorflow' as const,
    signature: signatureOfModelJson(model),
    metadata,
  };
}

async function startsLikeJson(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(256), 0, 256, 0);
    // A UTF-8 byte order mark, then whitespace, then an object.
    return /^(\uFEFF)?\s*\{/.test(
      buffer.subarray(0, bytesRead).toString('utf8'),
    );
  } finally {
    await file.close();
  }
}

async function readText(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    return (await file.readFile('utf8')).replace(/^\uFEFF/, '');
  } finally {
    await file.close();
  }
}

/** TensorFlow: TF.js layers and graph models (model.json and its shards), and SavedModels. */
export const tensorflowFormat: FormatModule = {
  format: 'tensorflow',
  entryPoint,
  inspect,
  createBackend: () => new TensorflowBackend(),
};
