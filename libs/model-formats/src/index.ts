export {
  createBackend,
  entryPointOf,
  inspectArtifact,
  supportedBackends,
} from './lib/backends';
export type { ArtifactInspection } from './lib/backends';
export { EngineError, scrubEngineMessage } from './lib/engine-message';
export type {
  LoadedModel,
  LoadOptions,
  ModelBackend,
} from './lib/model-backend';
export { inspectOnnxFile } from './lib/onnx/onnx-inspector';
export type { OnnxInspection } from './lib/onnx/onnx-inspector';
