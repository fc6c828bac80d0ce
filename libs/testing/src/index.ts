// ONNX fixtures: real, valid models built in code.
export {
  buildGenericModel,
  ElemType,
  float32Raw,
  int64Raw,
  ONNX_IR_VERSION,
  ONNX_OPSET_VERSION,
} from './lib/onnx/generic-model';
export type {
  AttributeValue,
  Dim,
  ExternalInitializerSpec,
  GenericModelSpec,
  InitializerSpec,
  NodeSpec,
  ValueSpec,
} from './lib/onnx/generic-model';
export { buildLargeModel, largeModelSide } from './lib/onnx/large-model';
export type { LargeModelOptions } from './lib/onnx/large-model';
export { buildMixedTypesModel } from './lib/onnx/mixed-types';
export { ALL_TYPES_INPUTS, buildAllTypesModel } from './lib/onnx/all-types';
export {
  buildIoModel,
  buildSymbolicDimsModel,
  PLAIN_IO_NAMES,
  type IoModelNames,
} from './lib/onnx/io-model';
export { buildMlpModel, mlpReference } from './lib/onnx/mlp';
export type { MlpOptions } from './lib/onnx/mlp';
export { mulberry32 } from './lib/onnx/prng';
export { writeModel } from './lib/onnx/write-model';
export * from './lib/python/python-models';
export * from './lib/tensorflow/index';
export {
  buildTinyBertOnnx,
  buildWordPieceTokenizerJson,
  TINY_BERT_VOCAB,
  writeTinyBertModel,
  type TinyBertFiles,
  type TinyBertOptions,
} from './lib/huggingface/tiny-bert';

// Test services: the PostgreSQL and NATS of this test run, and per-test isolation on them.
export { TestEnv, testNatsUrl, testPgUrl } from './lib/services/env';
export { freePort } from './lib/services/free-port';
export { provisionServices } from './lib/services/provision';
export { startThrowawayNats } from './lib/services/nats-server';
export type { ThrowawayNats } from './lib/services/nats-server';
export { startThrowawayPostgres } from './lib/services/postgres-server';
export type { ThrowawayPostgres } from './lib/services/postgres-server';
export type { ProvisionedServices } from './lib/services/provision';
export { makeTempDir } from './lib/services/temp-dir';
export { createTestDatabase } from './lib/services/test-database';
export type { TestDatabase } from './lib/services/test-database';
export { uniqueSubjectPrefix } from './lib/services/unique-subject-prefix';

// Real servers of the cloud storage protocols (S3, Azure Blob, GCS), for the storage drivers' tests.
export {
  S3RVER_CREDENTIALS,
  startAzurite,
  startGcsEmulator,
  startS3rver,
} from './lib/services/storage-emulators';
export type {
  ThrowawayAzurite,
  ThrowawayStorageServer,
} from './lib/services/storage-emulators';

// Archives and multipart bodies, built in memory, for upload tests.
export { buildMultipart, buildTar, buildZip } from './lib/util/archives';
export type { ArchiveEntry } from './lib/util/archives';

// Waiting for what happens asynchronously, without asserting how long it takes.
export { eventually } from './lib/util/eventually';
export { compileForNode } from './lib/util/compile-for-node';

// Prometheus: a strict reader of scraped text, and the metric names PromQL reads.
export {
  parsePrometheusText,
  sampleValue,
  scrapedValue,
} from './lib/metrics/prometheus-text';
export type { Sample } from './lib/metrics/prometheus-text';
export { metricFamilyOf, promqlMetricNames } from './lib/metrics/promql';

// Headless Chromium (Debian's), driven by playwright-core: the web console's end-to-end tests.
export {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  launchChromium,
} from './lib/browser/chromium';
export type { HeadlessChromium } from './lib/browser/chromium';

// Real processes: the built apps, alone or as the whole distributed topology.
export { AppProcess, builtApp, REPO_ROOT } from './lib/cluster/app-process';
export type { AppProcessOptions } from './lib/cluster/app-process';
export {
  CLUSTER_APPS,
  clusterTopology,
  PortfolioCluster,
} from './lib/cluster/portfolio-cluster';
export type {
  ClusterApp,
  ClusterOptions,
  ClusterService,
  TopologySettings,
} from './lib/cluster/portfolio-cluster';

// Property-based fuzzing of the gateway's HTTP surface: requests, and the contract's oracle.
export {
  contractViolations,
  describeRequest,
  familyOf,
  FuzzTally,
  fuzzParameters,
  fuzzRequest,
  isOpenInferencePath,
  jsonText,
} from './lib/http-fuzz/http-fuzz';
export type {
  FuzzAccess,
  FuzzOptions,
  FuzzRequest,
  FuzzResponse,
  RouteFamily,
} from './lib/http-fuzz/http-fuzz';
