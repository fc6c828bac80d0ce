// TensorFlow fixtures: TF.js models built in code, real graph models from npm, a SavedModel protobuf.
export * from './tfjs-models';
export { minimalSavedModelPb } from './saved-model-pb';
