import { readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';

import type { io } from '@tensorflow/tfjs';

import { ModelJson, parseModelJson } from './tfjs-model-json';
import type { Tf } from './tfjs-runtime';

/**
 * A TF.js model read from disk: its model.json and the IOHandler that gives TF.js its
 * artifacts. TF.js reads `file://` URLs only with `@tensorflow/tfjs-node`; this reads
 * model.json and its shards itself, whichever backend computes.
 */
export interface ModelOnDisk {
  readonly model: ModelJson;
  readonly handler: io.IOHandler;
}

/**
 * Reads and validates `path` (a model.json) now; its shards are read when TF.js calls the
 * handler's `load`, each into its own buffer (TF.js decodes a list of buffers as one,
 * so the shards are never concatenated into a second copy). Shard paths are relative
 * to model.json's directory and must stay in it, symbolic links included.
 */
export async function modelOnDisk(tf: Tf, path: string): Promise<ModelOnDisk> {
  const model = parseModelJson(await readFile(path, 'utf8'));
  const dir = await realpath(dirname(path));
  const handler: io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(
        model.json as unknown as io.ModelJSON,
        async (manifest) => {
          const buffers: ArrayBuffer[] = [];
          for (const group of model.weightsManifest)
            for (const file of group.files)
              buffers.push(await readShard(dir, file));
          return [manifest.flatMap((g) => g.weights), buffers];
        },
      ),
  };
  return { model, handler };
}

async function readShard(dir: string, file: string): Promise<ArrayBuffer> {
  const real = await realpath(resolve(dir, file)).catch(() => {
    throw new Error(
      `the weight shard "${file}" named by model.json is missing`,
    );
  });
  const rel = relative(dir, real);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new Error(
      `the weight shard "${file}" named by model.json is outside the model's directory`,
    );
  const bytes = await readFile(real);
  // readFile gives a Buffer of its own ArrayBuffer for files this large, but a small one
  // may sit in Node's shared pool: TF.js reads whole buffers, so hand it exactly the file.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : (bytes.buffer.slice(
        bytes.byteOffset,
        bytes.byteOffset + bytes.byteLength,
      ) as ArrayBuffer);
}
