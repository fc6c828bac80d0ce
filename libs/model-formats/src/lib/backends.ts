import {
  assertSupportedFormat,
  ModelFormat,
  PortfolioError,
  SUPPORTED_FORMATS,
} from '@portfolio/contracts';

import type { ArtifactInspection, FormatModule } from './format-module';
import { ModelBackend } from './model-backend';
import { onnxFormat } from './onnx/onnx.format';
import { pytorchFormat } from './python/pytorch.format';
import { sklearnFormat } from './python/sklearn.format';
import { huggingfaceFormat } from './huggingface/huggingface.format';
import { customFormat } from './custom/custom.format';
import { tensorflowFormat } from './tensorflow/tensorflow.format';

export type { ArtifactInspection } from './format-module';

/** Every format this build implements, by name. */
const MODULES: Partial<Record<ModelFormat, FormatModule>> = {
  onnx: onnxFormat,
  pytorch: pytorchFormat,
  sklearn: sklearnFormat,
  huggingface: huggingfaceFormat,
  custom: customFormat,
  tensorflow: tensorflowFormat,
};

function moduleOf(format: ModelFormat): FormatModule {
  assertSupportedFormat(format);
  const module = MODULES[format];
  if (!module)
    throw new PortfolioError(
      'UNSUPPORTED_FORMAT',
      `format "${format}" is not supported by this server yet`,
      { format, supported: [...SUPPORTED_FORMATS] },
    );
  return module;
}

/**
 * Validates an artifact for its declared format, by its content, and extracts its
 * signature, at ingest, before anything is registered. Throws INVALID_ARTIFACT naming
 * what is wrong (FORMAT_UNAVAILABLE where this machine lacks what the format needs).
 */
export async function inspectArtifact(
  format: ModelFormat,
  path: string,
  beside?: ReadonlyMap<string, number>,
): Promise<ArtifactInspection> {
  return moduleOf(format).inspect(path, beside);
}

/**
 * The file a runtime loads, of an artifact uploaded as several files (`paths`: relative,
 * `/`-separated); the others are what it reads beside it (external data, say). Throws
 * INVALID_ARTIFACT naming what is missing or ambiguous.
 */
export function entryPointOf(
  format: ModelFormat,
  paths: readonly string[],
): string {
  return moduleOf(format).entryPoint(paths);
}

/**
 * The backends a worker warms up before its first request: those whose framework every
 * runtime uses (ONNX). The others warm up on their first load (see ModelBackend.eager).
 */
export function eagerBackends(): ModelBackend[] {
  return SUPPORTED_FORMATS.map(createBackend).filter((b) => b.eager);
}

/**
 * Whether an uploaded archive (a zip, by its bytes) is itself one artifact of `format`,
 * to be stored as it is rather than unpacked (see FormatModule.isWholeArtifact).
 */
export function isWholeArtifact(format: ModelFormat, path: string): boolean {
  return moduleOf(format).isWholeArtifact?.(path) ?? false;
}

export function createBackend(format: ModelFormat): ModelBackend {
  return moduleOf(format).createBackend();
}
