export {
  createBackend,
  entryPointOf,
  inspectArtifact,
  isWholeArtifact,
  eagerBackends,
} from './lib/backends';
export type { ArtifactInspection, FormatModule } from './lib/format-module';
export { EngineError, scrubEngineMessage } from './lib/engine-message';
export type {
  LoadedModel,
  LoadOptions,
  ModelBackend,
} from './lib/model-backend';
export { inspectOnnxFile } from './lib/onnx/onnx-inspector';
export type { OnnxInspection } from './lib/onnx/onnx-inspector';
export type {
  PluginLoadOptions,
  PluginManifest,
  PortfolioPlugin,
} from './lib/custom/plugin-contract';
export { batchOf, warmupInputs } from './lib/warmup.util';
export { trialLoad } from './lib/trial/trial-load';
export type { TrialLoadOptions } from './lib/trial/trial-load';
export { checkProcessing, ProcessedModel } from './lib/processing/processing';
