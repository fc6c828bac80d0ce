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
): ArtifactInspection {
  assertSupportedFormat(format);
  switch (format) {
    case 'onnx': {
      const inspection = inspectOnnxFile(path);
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
