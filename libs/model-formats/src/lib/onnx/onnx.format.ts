import type { FormatModule } from '../format-module';
import { theOnly } from '../format-paths';
import { OnnxBackend } from './onnx.backend';
import { inspectOnnxFile } from './onnx-inspector';

/** ONNX: one `.onnx` file, with the external-data files it names beside it. */
export const onnxFormat: FormatModule = {
  format: 'onnx',
  entryPoint: (paths) =>
    theOnly(
      paths,
      (p) => p.toLowerCase().endsWith('.onnx'),
      '.onnx file',
      '.onnx files',
    ),
  inspect: async (path, beside) => {
    const inspection = inspectOnnxFile(path, beside);
    return {
      format: 'onnx',
      signature: inspection.signature,
      metadata: inspection.metadata,
    };
  },
  createBackend: () => new OnnxBackend(),
};
