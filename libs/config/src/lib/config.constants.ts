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

/** Storage drivers that exist today. */
export const STORAGE_DRIVERS = ['local'] as const;

/**
 * Drivers that are planned but not implemented. They are named separately so the
 * error can say "not available yet" instead of "unknown".
 */
export const PLANNED_STORAGE_DRIVERS = ['s3', 'gcs', 'azure'] as const;

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
  gatewayRequestTimeout: '30s',
  runtimeMaxWorkers: 2,
  runtimeIntraOpThreads: 1,
  runtimeHeartbeatInterval: '2s',
  runtimeLoadTimeout: '120s',
  runtimeInlineMaxSize: '4MiB',
  runtimeMaxBatchSize: 32,
  logLevel: 'info',
} as const;
