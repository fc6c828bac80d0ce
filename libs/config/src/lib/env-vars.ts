import { FILE_KEY } from './config.constants';
import type { EnvVarInfo } from './config.types';

export const ENV_PREFIX = 'PORTFOLIO_';

/** Reserved for test tooling; loadConfig ignores these instead of refusing them. */
export const TEST_ENV_PREFIX = 'PORTFOLIO_TEST_';

/**
 * The clients' variables (the admin CLI's PORTFOLIO_CLI_*, and PORTFOLIO_API_KEY, which
 * the standalone app's example requests send): a shell that exports them may start a
 * server too, so loadConfig ignores them instead of refusing them.
 */
export const CLIENT_ENV_PREFIX = 'PORTFOLIO_CLI_';
export const CLIENT_ENV_VARS: ReadonlySet<string> = new Set([
  'PORTFOLIO_API_KEY',
]);

/** Whether loadConfig leaves this PORTFOLIO_* variable to others (tests, clients). */
export function isForeignEnvVar(name: string): boolean {
  return (
    name.startsWith(TEST_ENV_PREFIX) ||
    name.startsWith(CLIENT_ENV_PREFIX) ||
    CLIENT_ENV_VARS.has(name)
  );
}

export const CONFIG_FILE_ENV = 'PORTFOLIO_CONFIG';

/**
 * How a variable's text becomes the value the schema sees. Sizes, durations and
 * strings are handed over as text, as a quoted YAML scalar would be; integers
 * are converted when the text is an integer and otherwise left as text so the
 * schema reports them the same way it would report `port: 80x` in the file;
 * booleans likewise (`true`/`false`, any case).
 */
type EnvValueKind = 'text' | 'integer' | 'boolean';

interface EnvVarSpec extends EnvVarInfo {
  readonly kind: EnvValueKind;
}

function spec(
  name: string,
  key: string,
  description: string,
  kind: EnvValueKind = 'text',
): EnvVarSpec {
  return { name, key, description, kind };
}

/** The one table of supported variables; ENV_VARS is its public face. */
export const ENV_VAR_SPECS: readonly EnvVarSpec[] = [
  spec(
    CONFIG_FILE_ENV,
    FILE_KEY,
    'Path of the YAML configuration file, absolute or relative to the working directory',
  ),
  spec(
    'PORTFOLIO_DATA_DIR',
    'data_dir',
    'Directory for the embedded database and artifacts (relative: to the working directory)',
  ),
  spec(
    'PORTFOLIO_NATS_URL',
    'nats.url',
    'NATS server URL, e.g. nats://127.0.0.1:4222',
  ),
  spec(
    'PORTFOLIO_NATS_SUBJECT_PREFIX',
    'nats.subject_prefix',
    'Prefix of every NATS subject Portfolio uses',
  ),
  spec(
    'PORTFOLIO_NATS_REQUEST_TIMEOUT',
    'nats.request_timeout',
    'Timeout of NATS requests between services (duration)',
  ),
  spec(
    'PORTFOLIO_DATABASE_URL',
    'database.url',
    'PostgreSQL URL (postgres://...); unset: the embedded database',
  ),
  spec(
    'PORTFOLIO_STORAGE_DRIVER',
    'storage.driver',
    'Artifact storage driver: local, s3, gcs or azure',
  ),
  spec(
    'PORTFOLIO_STORAGE_WORK_DIR',
    'storage.work_dir',
    "Node-local directory of the cloud drivers' downloads and uploads in progress",
  ),
  spec(
    'PORTFOLIO_STORAGE_IMPORT_SOURCES',
    'storage.import.sources',
    'Where versions may be registered from by URI (comma-separated file:///dir, s3://bucket/folder, ...)',
  ),
  spec(
    'PORTFOLIO_STORAGE_GC_INTERVAL',
    'storage.gc.interval',
    'How often unreferenced artifacts are collected in the background (duration, or off)',
  ),
  spec(
    'PORTFOLIO_STORAGE_GC_MIN_AGE',
    'storage.gc.min_age',
    'Artifacts younger than this are never collected (duration)',
  ),
  spec(
    'PORTFOLIO_STORAGE_TRIAL_LOAD_ENABLED',
    'storage.trial_load.enabled',
    'Whether an artifact is loaded once, in a throwaway process, before its version is registered (true or false)',
    'boolean',
  ),
  spec(
    'PORTFOLIO_STORAGE_TRIAL_LOAD_TIMEOUT',
    'storage.trial_load.timeout',
    'The longest a trial load may take (duration)',
  ),
  spec(
    'PORTFOLIO_STORAGE_TRIAL_LOAD_MEMORY_LIMIT',
    'storage.trial_load.memory_limit',
    'The most memory a trial load may take (bytes or a size)',
  ),
  spec(
    'PORTFOLIO_STORAGE_LOCAL_ROOT',
    'storage.local.root',
    'Root directory of the local artifact store (relative: to the working directory)',
  ),
  spec(
    'PORTFOLIO_STORAGE_S3_BUCKET',
    'storage.s3.bucket',
    'S3 bucket of the artifacts',
  ),
  spec(
    'PORTFOLIO_STORAGE_S3_PREFIX',
    'storage.s3.prefix',
    'Folder inside the S3 bucket (none: the whole bucket)',
  ),
  spec(
    'PORTFOLIO_STORAGE_S3_REGION',
    'storage.s3.region',
    "S3 region (unset: the AWS SDK's, e.g. AWS_REGION)",
  ),
  spec(
    'PORTFOLIO_STORAGE_S3_ENDPOINT',
    'storage.s3.endpoint',
    'URL of an S3-compatible store or emulator (unset: AWS)',
  ),
  spec(
    'PORTFOLIO_STORAGE_S3_FORCE_PATH_STYLE',
    'storage.s3.force_path_style',
    'Address S3 buckets as <endpoint>/<bucket> rather than <bucket>.<endpoint> (true or false)',
    'boolean',
  ),
  spec(
    'PORTFOLIO_STORAGE_GCS_BUCKET',
    'storage.gcs.bucket',
    'Cloud Storage bucket of the artifacts',
  ),
  spec(
    'PORTFOLIO_STORAGE_GCS_PREFIX',
    'storage.gcs.prefix',
    'Folder inside the Cloud Storage bucket (none: the whole bucket)',
  ),
  spec(
    'PORTFOLIO_STORAGE_GCS_PROJECT_ID',
    'storage.gcs.project_id',
    "Google Cloud project (unset: the SDK's, e.g. GOOGLE_CLOUD_PROJECT)",
  ),
  spec(
    'PORTFOLIO_STORAGE_GCS_ENDPOINT',
    'storage.gcs.endpoint',
    "Cloud Storage API endpoint (unset: the SDK's; emulators: STORAGE_EMULATOR_HOST)",
  ),
  spec(
    'PORTFOLIO_STORAGE_AZURE_CONTAINER',
    'storage.azure.container',
    'Azure Blob container of the artifacts',
  ),
  spec(
    'PORTFOLIO_STORAGE_AZURE_PREFIX',
    'storage.azure.prefix',
    'Folder inside the Azure Blob container (none: the whole container)',
  ),
  spec(
    'PORTFOLIO_STORAGE_AZURE_ACCOUNT_URL',
    'storage.azure.account_url',
    'Azure Blob account URL (unset: AZURE_STORAGE_CONNECTION_STRING)',
  ),
  spec(
    'PORTFOLIO_GATEWAY_HOST',
    'gateway.host',
    'Address the HTTP gateway listens on',
  ),
  spec(
    'PORTFOLIO_GATEWAY_PORT',
    'gateway.port',
    'Port the HTTP gateway listens on (0: any free port)',
    'integer',
  ),
  spec(
    'PORTFOLIO_GATEWAY_GRPC_PORT',
    'gateway.grpc_port',
    "Port of the gateway's gRPC Open Inference Protocol (0: any free port; off: not served)",
    'integer',
  ),
  spec(
    'PORTFOLIO_AUTH_ENABLED',
    'auth.enabled',
    'Whether requests need API keys (false: everyone is admin; local demos only)',
    'boolean',
  ),
  spec(
    'PORTFOLIO_ADMIN_KEY',
    'gateway.admin_key',
    'Key required for admin endpoints (at least 16 characters)',
  ),
  spec(
    'PORTFOLIO_GATEWAY_BODY_LIMIT',
    'gateway.body_limit',
    'Largest accepted request body (size)',
  ),
  spec(
    'PORTFOLIO_GATEWAY_UPLOAD_LIMIT',
    'gateway.upload_limit',
    'Largest artifact upload, streamed to storage (size)',
  ),
  spec(
    'PORTFOLIO_GATEWAY_REQUEST_TIMEOUT',
    'gateway.request_timeout',
    'Timeout of one HTTP request (duration)',
  ),
  spec(
    'PORTFOLIO_GATEWAY_JSON_OFFLOAD',
    'gateway.json_offload',
    'Parse and write large JSON tensors off the event loop (true or false)',
    'boolean',
  ),
  spec(
    'PORTFOLIO_CACHE_MAX_MEMORY',
    'cache.max_memory',
    'Memory each runtime may use for loaded models (size)',
  ),
  spec(
    'PORTFOLIO_CACHE_SOFT_LIMIT',
    'cache.soft_limit',
    'Usage at which eviction starts: a size or a percentage of max memory',
  ),
  spec(
    'PORTFOLIO_CACHE_TTL',
    'cache.ttl',
    'Idle time after which a model is unloaded (duration)',
  ),
  spec(
    'PORTFOLIO_CACHE_RUNTIME_TIMEOUT',
    'cache.runtime_timeout',
    'Silence after which a runtime is declared dead (duration)',
  ),
  spec(
    'PORTFOLIO_CACHE_MAX_COPIES',
    'cache.max_copies',
    'Most copies of one hot model across the cluster (1-64)',
    'integer',
  ),
  spec(
    'PORTFOLIO_RUNTIME_NODE_ID',
    'runtime.node_id',
    'Identity of this runtime (letters, digits, _ and -)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_MAX_MEMORY',
    'runtime.max_memory',
    "This runtime's memory for models (size); unset: cache.max_memory",
  ),
  spec(
    'PORTFOLIO_RUNTIME_SOFT_LIMIT',
    'runtime.soft_limit',
    "This runtime's soft limit: a size or a percentage",
  ),
  spec(
    'PORTFOLIO_RUNTIME_WORKERS',
    'runtime.workers',
    'Inference worker threads (1-64)',
    'integer',
  ),
  spec(
    'PORTFOLIO_RUNTIME_INTRA_OP_THREADS',
    'runtime.intra_op_threads',
    'Threads per inference operation (1-64)',
    'integer',
  ),
  spec(
    'PORTFOLIO_RUNTIME_HEARTBEAT_INTERVAL',
    'runtime.heartbeat_interval',
    'How often the runtime reports its state (duration)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_LOAD_TIMEOUT',
    'runtime.load_timeout',
    'Longest time a model load may take (duration)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_REQUEST_LOG',
    'runtime.request_log',
    'File the runtime appends its request trace to (JSON lines)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_INLINE_MAX_SIZE',
    'runtime.inline_max_size',
    'Models up to this size whose run takes at most 0.2 ms also run on the main thread (size; 0: never)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_MAX_BATCH_SIZE',
    'runtime.max_batch_size',
    'Most rows one merged run of a model takes (1: runs are never merged)',
    'integer',
  ),
  spec(
    'PORTFOLIO_RUNTIME_MAX_QUEUE_DELAY',
    'runtime.max_queue_delay',
    'How long a run may wait for others to merge with (duration; 0: never waits)',
  ),
  spec(
    'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_DIR',
    'runtime.artifact_cache.dir',
    "Node-local directory of the runtime's cache of artifacts from a remote store",
  ),
  spec(
    'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_MAX_SIZE',
    'runtime.artifact_cache.max_size',
    "Most the runtime's artifact cache keeps beyond what loaded models use (size)",
  ),
  spec(
    'PORTFOLIO_RUNTIME_PYTHON',
    'runtime.python',
    'The Python 3 interpreter the pytorch and sklearn formats run in (default /usr/bin/python3)',
  ),
  spec(
    'PORTFOLIO_LOG_LEVEL',
    'log.level',
    'One of error, warn, info, debug, verbose',
  ),
  spec(
    'PORTFOLIO_LOG_FORMAT',
    'log.format',
    'json (one JSON object per line), pretty (one line a person reads), or auto: pretty on a terminal, json otherwise',
  ),
  spec(
    'PORTFOLIO_METRICS_PORT',
    'metrics.port',
    'Port of GET /metrics on the model-registry, storage, cache-manager and runtime (0: not served); the gateway and the standalone app serve it on their HTTP port',
    'integer',
  ),
];

/** Supported PORTFOLIO_* variables: name, the YAML key it overrides, and what it does. */
export const ENV_VARS: readonly EnvVarInfo[] = Object.freeze(
  ENV_VAR_SPECS.map(({ name, key, description }) =>
    Object.freeze({ name, key, description }),
  ),
);

const INTEGER_TEXT = /^[+-]?\d+$/;

export function envValue(
  kind: EnvValueKind,
  text: string,
): string | number | boolean {
  const trimmed = text.trim();
  if (kind === 'boolean' && /^(true|false)$/i.test(trimmed))
    return trimmed.toLowerCase() === 'true';
  return kind === 'integer' && INTEGER_TEXT.test(trimmed) ? Number(text) : text;
}
