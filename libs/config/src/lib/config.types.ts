import type { EngineSettings, Processing } from '@portfolio/contracts';

import type {
  LOG_FORMATS,
  LOG_LEVELS,
  MODEL_FORMATS,
  STORAGE_DRIVERS,
} from './config.constants';

export type ModelFormat = (typeof MODEL_FORMATS)[number];

export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFormat = (typeof LOG_FORMATS)[number];

export type StorageDriver = (typeof STORAGE_DRIVERS)[number];

/** A model registered (idempotently) at start-up, taken from the `models:` section. */
export interface ConfiguredModel {
  readonly id: string;
  /** Absolute; relative paths in the file are resolved against the file's directory. */
  readonly path: string;
  readonly format: ModelFormat;
  readonly memoryEstimateBytes: number | null;
  /** The declared estimate wins over the runtimes' measurements; only with an estimate. */
  readonly memoryEstimateAuthoritative: boolean;
  readonly preload: boolean;
  readonly pinned: boolean;
  readonly ttlMs: number | null;
  readonly description: string | null;
  /**
   * Aliases that point at the file's version: set at start (moved to the new version
   * when the file changed); others are left alone.
   */
  readonly aliases: readonly string[];
  /** Dynamic batching (the admin API's max_batch_size, max_queue_delay); null: the runtime's. */
  readonly maxBatchSize: number | null;
  readonly maxQueueDelayMs: number | null;
  /** How its framework is set up (the admin API's `engine`); null: the defaults. */
  readonly engine: EngineSettings | null;
  /** Input normalization and output class labels (the admin API's `processing`). */
  readonly processing: Processing | null;
}

export interface CacheConfig {
  readonly maxMemoryBytes: number;
  readonly softLimitBytes: number;
  /** null: models never expire because of idle time. */
  readonly ttlMs: number | null;
  /** A runtime that has not reported for this long is declared dead. */
  readonly runtimeTimeoutMs: number;
  /** Most copies of one hot model across the cluster. */
  readonly maxCopies: number;
  /** Load models expected soon into memory that is free below the soft limit. */
  readonly predictivePreload: boolean;
  /** Memory limits per value of one model label (per team, say); null: no quotas. */
  readonly quotas: {
    readonly label: string;
    readonly limitsBytes: Readonly<Record<string, number>>;
  } | null;
}

export interface NatsConfig {
  readonly url: string;
  readonly subjectPrefix: string;
  readonly requestTimeoutMs: number;
}

export interface DatabaseConfig {
  /** null: the standalone uses its embedded database under dataDir. */
  readonly url: string | null;
}

/**
 * Where artifacts are stored: `driver` picks one of the sections, whose settings are
 * then checked (a bucket is required); the others are resolved but unused.
 */
export interface StorageConfig {
  readonly driver: StorageDriver;
  /**
   * Absolute; where the cloud drivers keep node-local copies of artifacts (for
   * runtimes) and spool uploads until commit. null: a directory of this user's under
   * the OS's temporary directory.
   */
  readonly workDir: string | null;
  readonly local: { readonly root: string };
  readonly s3: {
    readonly bucket: string | null;
    /** A folder inside the bucket, without leading or trailing `/`; '' for none. */
    readonly prefix: string;
    /** null: the AWS SDK's (AWS_REGION, the profile). */
    readonly region: string | null;
    /** An S3-compatible store or an emulator; null: AWS. */
    readonly endpoint: string | null;
    readonly forcePathStyle: boolean;
  };
  readonly gcs: {
    readonly bucket: string | null;
    readonly prefix: string;
    /** null: the SDK's (GOOGLE_CLOUD_PROJECT, the credentials'). */
    readonly projectId: string | null;
    /** null: the SDK's (STORAGE_EMULATOR_HOST for an emulator). */
    readonly endpoint: string | null;
  };
  readonly azure: {
    readonly container: string | null;
    readonly prefix: string;
    /** null: the account of AZURE_STORAGE_CONNECTION_STRING. */
    readonly accountUrl: string | null;
  };
  /**
   * Where versions may be registered from by URI (`file:///dir`, `s3://bucket/folder`,
   * ...); empty: only uploads. Cloud sources are read with the settings of their
   * driver's section (region, endpoint, credentials), whichever driver stores artifacts.
   */
  readonly importSources: readonly string[];
  /** Garbage collection of artifacts no version references (the storage service). */
  readonly gc: {
    /** How often it runs in the background; null (`off`): only when an admin asks. */
    readonly intervalMs: number | null;
    /** Younger artifacts are kept: an upload's version may not be registered yet. */
    readonly minAgeMs: number;
  };
  /**
   * Before a version is registered, its artifact is loaded once in a throwaway process,
   * bounded in time and memory, so that a registered version is one that loads.
   */
  readonly trialLoad: {
    readonly enabled: boolean;
    readonly timeoutMs: number;
    readonly maxMemoryBytes: number;
  };
}

export interface AuthConfig {
  /**
   * True (the default): every route but health needs an API key with its scope. False:
   * everyone is admin, for local demos only (the gateway says so loudly at start).
   */
  readonly enabled: boolean;
}

export interface GatewayConfig {
  readonly host: string;
  /** 0 asks the OS for a free port. */
  readonly port: number;
  /**
   * The Open Inference Protocol over gRPC: its own port (0 asks the OS for a free one);
   * null: gRPC is not served.
   */
  readonly grpcPort: number | null;
  readonly adminKey: string | null;
  readonly bodyLimitBytes: number;
  /** Largest artifact upload (streamed, never held in memory whole). */
  readonly uploadLimitBytes: number;
  readonly requestTimeoutMs: number;
  /** Tensor elements one request may send as JSON numbers; more get 413. */
  readonly maxJsonElements: number;
  /** Requests in flight per (model, version) through one gateway; more get 503. */
  readonly maxInFlightPerModel: number;
  /** Large JSON tensors parsed and written off the event loop (a thread of their own). */
  readonly jsonOffload: boolean;
  /** For keys without a limit of their own; null: none. */
  readonly rateLimit: {
    readonly requests_per_second: number;
    readonly burst: number;
  } | null;
}

export interface RuntimeConfig {
  readonly nodeId: string;
  /** Resolved: runtime.max_memory, else cache.max_memory. */
  readonly maxMemoryBytes: number;
  /** Resolved against maxMemoryBytes above (see resolveRuntimeMemory). */
  readonly softLimitBytes: number;
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly heartbeatIntervalMs: number;
  readonly loadTimeoutMs: number;
  /** Absolute path of the request trace this runtime appends to (JSON lines); null: none. */
  readonly requestLogPath: string | null;
  /** Models expected to take at most this may also run on the main thread; 0: none. */
  readonly inlineMaxBytes: number;
  /** The most rows one merged run of a model takes; 1: runs are never merged. */
  readonly maxBatchSize: number;
  /** How long a run may wait for others to be merged with it; 0: it never waits. */
  readonly maxQueueDelayMs: number;
  /**
   * The node-local cache that a runtime loads artifacts of a remote store (s3, gcs,
   * azure) from; unused with the local driver.
   */
  readonly artifactCache: {
    /** Absolute; default `<data_dir>/artifact-cache`. */
    readonly dir: string;
    /** What its entries may take; exceeded only while loaded models use more. */
    readonly maxBytes: number;
  };
  /** The Python 3 the pytorch and sklearn formats run in (default Debian's /usr/bin/python3). */
  readonly python: string;
}

export interface LogConfig {
  readonly level: LogLevel;
  /** JSON lines, or one line a person reads; `auto`: pretty on a terminal. */
  readonly format: LogFormat;
}

export interface MetricsConfig {
  /**
   * Port of `GET /metrics` on the services without HTTP (model-registry, storage,
   * cache-manager, runtime), on every interface; 0: not served. The gateway and the
   * standalone app serve /metrics on their HTTP port instead.
   */
  readonly port: number;
}

/** The one configuration object every Portfolio process starts from. Deeply frozen. */
export interface PortfolioConfig {
  /** Absolute path of the file loaded, or null when only defaults and environment were used. */
  readonly source: string | null;
  /** Absolute. */
  readonly dataDir: string;
  /** In file order. */
  readonly models: readonly ConfiguredModel[];
  readonly cache: CacheConfig;
  readonly nats: NatsConfig;
  readonly database: DatabaseConfig;
  readonly storage: StorageConfig;
  readonly auth: AuthConfig;
  readonly gateway: GatewayConfig;
  readonly runtime: RuntimeConfig;
  readonly log: LogConfig;
  readonly metrics: MetricsConfig;
}

export interface LoadConfigOptions {
  /**
   * Path of the YAML file, absolute or relative to cwd. undefined: use
   * PORTFOLIO_CONFIG when set. null: no file, even when PORTFOLIO_CONFIG is set.
   */
  readonly file?: string | null;
  /** Defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Defaults to process.cwd(). */
  readonly cwd?: string;
}

/** One entry of the ENV_VARS table. */
export interface EnvVarInfo {
  readonly name: string;
  /** Dotted YAML key the variable overrides; "(file)" for PORTFOLIO_CONFIG. */
  readonly key: string;
  readonly description: string;
}

/** One problem found while loading; ConfigError carries one or more. */
export interface ConfigProblem {
  /** Dotted YAML path (models.iris.memory_estimate), an env var name, or "(file)". */
  readonly key: string;
  /** Absolute file path, or "environment variable PORTFOLIO_X". */
  readonly source: string;
  /** What is wrong, without the location. */
  readonly detail: string;
}
