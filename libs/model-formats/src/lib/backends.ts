import {
  assertSupportedFormat,
  ModelFormat,
  PortfolioError,
  Signature,
  SUPPORTED_FORMATS,
} from '@portfolio/contracts';

import { ModelBackend } from './model-backend';
import { OnnxBackend } from './onnx/onnx.backend';
import { inspectOnnxFile } from './onnx/onnx-inspector';

export interface ArtifactInspection {
  readonly format: ModelFormat;
  readonly signature: Signature;
  readonly metadata: Record<string, string>;
}

/**
 * Validates an artifact for its declared format and extracts its signature, at ingest,
 * before anything is registered. Throws INVALID_ARTIFACT naming what is wrong.
 */
export function inspectArtifact(
  format: ModelFormat,
  path: string,
  beside?: ReadonlyMap<string, number>,
): ArtifactInspection {
  assertSupportedFormat(format);
  switch (format) {
    case 'onnx': {
      const inspection = inspectOnnxFile(path, beside);
      return {
        format,
        signature: inspection.signature,
        metadata: inspection.metadata,
      };
    }
    default:
      throw new PortfolioError(
        'UNSUPPORTED_FORMAT',
        `format "${format}" is not supported by this server yet`,
      );
  }
}

/**
 * The file a runtime loads, of an artifact uploaded as several files (`paths`: relative,
 * `/`-separated); the others are what it reads beside it (external data, say). Throws
 * INVALID_ARTIFACT naming what is missing or ambiguous.
 */
export function entryPointOf(format: ModelFormat, paths: string[]): string {
  assertSupportedFormat(format);
  switch (format) {
    case 'onnx': {
      const models = paths.filter((p) => p.toLowerCase().endsWith('.onnx'));
      if (models.length === 1) return models[0];
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        models.length === 0
          ? `the upload holds no .onnx file (${describePaths(paths)})`
          : `the upload holds ${models.length} .onnx files (${describePaths(models)}); a version is one model: upload its .onnx file with the data files it reads`,
      );
    }
    default:
      throw new PortfolioError(
        'UNSUPPORTED_FORMAT',
        `format "${format}" is not supported by this server yet`,
      );
  }
}

function describePaths(paths: string[]): string {
  const shown = paths.slice(0, 5).map((p) => `"${p.slice(0, 100)}"`);
  return paths.length > 5
    ? `${shown.join(', ')} and ${paths.length - 5} more`
    : shown.join(', ') || 'nothing';
}

/** One backend per supported format, for warming up a worker. */
export function supportedBackends(): ModelBackend[] {
  return SUPPORTED_FORMATS.map(createBackend);
}

export function createBackend(format: ModelFormat): ModelBackend {
  assertSupportedFormat(format);
  switch (format) {
    case 'onnx':
      return new OnnxBackend();
    default:
      throw new PortfolioError(
        'UNSUPPORTED_FORMAT',
        `format "${format}" is not supported by this server yet`,
      );
  }
}
