// The model formats and the model id rule are the API's (see @portfolio/contracts):
// `type:` in the YAML file and ids in `models:` follow the same rules as /admin/models.
export { MODEL_FORMATS, MODEL_ID_PATTERN } from '@portfolio/contracts';

export const LOG_LEVELS = Object.freeze([
  'error',
  'warn',
  'info',
  'debug',
  'verbose',
] as const);

/** Log line formats: `auto` is `pretty` on a terminal and `json` anywhere else. */
export const LOG_FORMATS = Object.freeze(['auto', 'json', 'pretty'] as const);

/** Artifact storage drivers: the local filesystem, S3, Cloud Storage, Azure Blob. */
export const STORAGE_DRIVERS = ['local', 's3', 'gcs', 'azure'] as const;

/** S3 bucket names: 3 to 63 lower-case letters, digits, dots and hyphens. */
export const S3_BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Cloud Storage bucket names: 3 to 222 lower-case letters, digits, dots, _ and -. */
export const GCS_BUCKET_PATTERN = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** Azure container names: 3 to 63 lower-case letters, digits and single hyphens. */
export const AZURE_CONTAINER_PATTERN =
  /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** Cloud regions as S3 names them (us-east-1; `auto` for some S3-compatible stores). */
export const CLOUD_REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Google Cloud project ids (6 to 30 characters), optionally domain-scoped (example.com:proj). */
export const GCP_PROJECT_ID_PATTERN =
  /^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/**
 * A folder inside a bucket: `/`-separated segments of letters, digits, `.`, `_` and
 * `-` (no `.` or `..` segments); leading and trailing slashes are dropped.
 */
export const STORAGE_PREFIX_SEGMENT_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;

/** Dot-separated NATS subject tokens without wildcards or whitespace. */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** A node id becomes a single NATS subject token, so it may not contain dots. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const MAX_NODE_ID_LENGTH = 64;

export const ADMIN_KEY_MIN_LENGTH = 16;

/** Key used in errors about the configuration file as a whole (missing, unreadable, bad YAML). */
export const FILE_KEY = '(file)';

/** Source used for problems that can only come from built-in defaults. */
export const DEFAULTS_SOURCE = '(defaults)';

export const DEFAULTS = {
  dataDir: './data',
  artifactsDirName: 'artifacts',
  cacheMaxMemory: '2GiB',
  cacheSoftLimitPercent: 90,
  cacheRuntimeTimeout: '10s',
  cacheMaxCopies: 4,
  natsUrl: 'nats://127.0.0.1:4222',
  natsSubjectPrefix: 'portfolio',
  natsRequestTimeout: '30s',
  gatewayHost: '0.0.0.0',
  gatewayPort: 8080,
  gatewayGrpcPort: 8081,
  gatewayBodyLimit: '64MiB',
  gatewayUploadLimit: '16GiB',
  storageGcInterval: '6h',
  storageGcMinAge: '1h',
  storageTrialLoadTimeout: '2m',
  runtimePython: '/usr/bin/python3',
  storageTrialLoadMaxMemory: '8GiB',
  gatewayRequestTimeout: '30s',
  runtimeMaxWorkers: 2,
  runtimeIntraOpThreads: 1,
  runtimeHeartbeatInterval: '2s',
  runtimeLoadTimeout: '120s',
  runtimeInlineMaxSize: '4MiB',
  runtimeMaxBatchSize: 32,
  /** runtime.artifact_cache.dir's default, under data_dir. */
  runtimeArtifactCacheDirName: 'artifact-cache',
  runtimeArtifactCacheMaxSize: '20GiB',
  logLevel: 'info',
  logFormat: 'auto',
  /** The OpenTelemetry / Prometheus exporters' customary port. */
  metricsPort: 9464,
} as const;
