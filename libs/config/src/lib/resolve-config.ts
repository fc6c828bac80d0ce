import { assertEngineSettingsFor } from '@portfolio/contracts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { DEFAULTS, MAX_NODE_ID_LENGTH } from './config.constants';
import { ConfigError } from './config.error';
import type { ConfigFileSettings, ModelSettings } from './config.schema';
import type {
  ConfigProblem,
  ConfiguredModel,
  PortfolioConfig,
  StorageConfig,
} from './config.types';
import { parseDuration } from './duration.util';
import { formatBytes, parseSize } from './size.util';
import type { SoftLimit } from './value-parsers.util';
import type { ValueOrigins } from './value-origins';

/** Facts about the host that only matter for defaults; injectable for tests. */
export interface HostFacts {
  readonly hostname: string;
  readonly pid: number;
  readonly parallelism: number;
}

export function currentHost(): HostFacts {
  return {
    hostname: os.hostname(),
    pid: process.pid,
    parallelism: os.availableParallelism(),
  };
}

/**
 * `<short hostname>-<pid>`, squeezed into the node-id alphabet: host names may
 * hold dots and other characters that are not valid in a NATS subject token.
 */
export function defaultNodeId({ hostname, pid }: HostFacts): string {
  const suffix = `-${pid}`;
  const host = (hostname.split('.')[0] ?? '')
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, MAX_NODE_ID_LENGTH - suffix.length);
  return `${host || 'runtime'}${suffix}`;
}

function applySoftLimit(limit: SoftLimit, maxBytes: number): number {
  return limit.kind === 'percent'
    ? Math.floor((maxBytes * limit.percent) / 100)
    : limit.bytes;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

interface MemoryLimits {
  readonly cache: {
    readonly maxMemoryBytes: number;
    readonly softLimitBytes: number;
  };
  readonly runtime: {
    readonly maxMemoryBytes: number;
    readonly softLimitBytes: number;
  };
}

/**
 * The runtime's limits: runtime.max_memory, else the cache's. Without its own
 * soft_limit the runtime reuses the cache's as a share of memory: a percentage
 * applies to the runtime's max as is, and an absolute cache soft limit keeps
 * the same ratio to the runtime's max when that max is overridden, so raising
 * runtime.max_memory does not leave the soft limit behind (or above it).
 */
function resolveMemory(
  settings: ConfigFileSettings,
  origins: ValueOrigins,
  problems: ConfigProblem[],
): MemoryLimits {
  const cacheMax =
    settings.cache?.max_memory ?? parseSize(DEFAULTS.cacheMaxMemory);
  const cacheSoftLimit: SoftLimit = settings.cache?.soft_limit ?? {
    kind: 'percent',
    percent: DEFAULTS.cacheSoftLimitPercent,
  };
  const cacheSoft = applySoftLimit(cacheSoftLimit, cacheMax);
  if (cacheSoft > cacheMax) {
    const max = origins.describe(
      'cache.max_memory',
      settings.cache?.max_memory !== undefined,
    );
    problems.push(
      origins.problem(
        'cache.soft_limit',
        `soft limit ${formatBytes(cacheSoft)} is larger than ${max}, ${formatBytes(cacheMax)}`,
      ),
    );
  }

  const runtimeMaxSetting = settings.runtime?.max_memory ?? null;
  const runtimeMax = runtimeMaxSetting ?? cacheMax;
  const runtimeSoftSetting = settings.runtime?.soft_limit ?? null;
  let runtimeSoft: number;
  if (runtimeSoftSetting !== null) {
    runtimeSoft = applySoftLimit(runtimeSoftSetting, runtimeMax);
    if (runtimeSoft > runtimeMax) {
      const detail =
        runtimeMaxSetting !== null
          ? `soft limit ${formatBytes(runtimeSoft)} is larger than ${origins.describe('runtime.max_memory', true)}, ${formatBytes(runtimeMax)}`
          : `soft limit ${formatBytes(runtimeSoft)} is larger than ${origins.describe('cache.max_memory', settings.cache?.max_memory !== undefined)}, ${formatBytes(runtimeMax)}, which the runtime uses while runtime.max_memory is not set`;
      problems.push(origins.problem('runtime.soft_limit', detail));
    }
  } else if (cacheSoftLimit.kind === 'percent' || runtimeMaxSetting === null) {
    runtimeSoft = applySoftLimit(cacheSoftLimit, runtimeMax);
  } else {
    runtimeSoft = Math.floor((runtimeMax * cacheSoft) / cacheMax);
  }

  return {
    cache: { maxMemoryBytes: cacheMax, softLimitBytes: cacheSoft },
    runtime: { maxMemoryBytes: runtimeMax, softLimitBytes: runtimeSoft },
  };
}

/**
 * Model paths must exist at start-up: registering a missing file would only fail later,
 * further from the cause. So must the estimate an authoritative model declares (the
 * registry would refuse the model).
 */
function resolveModels(
  models: ReadonlyMap<string, ModelSettings>,
  origins: ValueOrigins,
  problems: ConfigProblem[],
): ConfiguredModel[] {
  return [...models].map(([id, model]) => {
    const path = origins.resolvePath(`models.${id}.path`, model.path, true);
    if (!fs.existsSync(path))
      problems.push(
        origins.problem(`models.${id}.path`, `model path not found: ${path}`),
      );
    const authoritative = model.memory_estimate_authoritative ?? false;
    const delay = model.max_queue_delay ?? null;
    if (delay !== null && delay > 10_000)
      problems.push(
        origins.problem(
          `models.${id}.max_queue_delay`,
          `at most 10s, got ${delay} ms`,
        ),
      );
    if (model.engine)
      try {
        assertEngineSettingsFor(model.type, model.engine);
      } catch (e) {
        problems.push(
          origins.problem(`models.${id}.engine`, (e as Error).message),
        );
      }
    if (authoritative && model.memory_estimate == null)
      problems.push(
        origins.problem(
          `models.${id}.memory_estimate_authoritative`,
          `true needs a memory_estimate to make authoritative; set models.${id}.memory_estimate or remove this key`,
        ),
      );
    return {
      id,
      path,
      format: model.type,
      memoryEstimateBytes: model.memory_estimate ?? null,
      memoryEstimateAuthoritative: authoritative,
      preload: model.preload ?? false,
      pinned: model.pinned ?? false,
      ttlMs: model.ttl ?? null,
      description: model.description ?? null,
      aliases: model.aliases ?? [],
      maxBatchSize: model.max_batch_size ?? null,
      maxQueueDelayMs: delay,
      engine: model.engine ?? null,
      processing: model.processing ?? null,
    };
  });
}

/**
 * The storage section with its defaults. The chosen cloud driver needs its bucket (or
 * container); credentials are the SDKs' business and are checked when the driver is
 * made.
 */
function resolveStorage(
  storage: ConfigFileSettings['storage'],
  localRoot: string,
  origins: ValueOrigins,
  problems: ConfigProblem[],
): StorageConfig {
  const driver = storage?.driver ?? 'local';
  const { s3, gcs, azure } = storage ?? {};
  const config: StorageConfig = {
    driver,
    workDir:
      storage?.work_dir == null
        ? null
        : origins.resolvePath('storage.work_dir', storage.work_dir, true),
    local: { root: localRoot },
    s3: {
      bucket: s3?.bucket ?? null,
      prefix: s3?.prefix ?? '',
      region: s3?.region ?? null,
      endpoint: s3?.endpoint ?? null,
      forcePathStyle: s3?.force_path_style ?? false,
    },
    gcs: {
      bucket: gcs?.bucket ?? null,
      prefix: gcs?.prefix ?? '',
      projectId: gcs?.project_id ?? null,
      endpoint: gcs?.endpoint ?? null,
    },
    azure: {
      container: azure?.container ?? null,
      prefix: azure?.prefix ?? '',
      accountUrl: azure?.account_url ?? null,
    },
    importSources: storage?.import?.sources ?? [],
    gc: {
      // undefined: the default; null (or `off`): never in the background.
      intervalMs:
        storage?.gc?.interval === undefined
          ? parseDuration(DEFAULTS.storageGcInterval)
          : storage.gc.interval,
      minAgeMs: storage?.gc?.min_age ?? parseDuration(DEFAULTS.storageGcMinAge),
    },
    trialLoad: {
      enabled: storage?.trial_load?.enabled ?? true,
      timeoutMs:
        storage?.trial_load?.timeout ??
        parseDuration(DEFAULTS.storageTrialLoadTimeout),
      maxMemoryBytes:
        storage?.trial_load?.memory_limit ??
        parseSize(DEFAULTS.storageTrialLoadMaxMemory),
    },
  };
  const missing =
    driver === 's3' && config.s3.bucket === null
      ? 'storage.s3.bucket'
      : driver === 'gcs' && config.gcs.bucket === null
        ? 'storage.gcs.bucket'
        : driver === 'azure' && config.azure.container === null
          ? 'storage.azure.container'
          : null;
  if (missing !== null)
    problems.push(
      origins.problem(
        missing,
        `required when ${origins.describe('storage.driver', true)} is ${driver} (the ${driver === 'azure' ? 'container' : 'bucket'} artifacts are stored in)`,
      ),
    );
  return config;
}

/**
 * Applies defaults, resolves paths and checks the rules that span several
 * keys. The result is not frozen yet.
 *
 * @throws ConfigError listing every cross-key problem and missing model path.
 */
export function resolveConfig(
  settings: ConfigFileSettings,
  models: ReadonlyMap<string, ModelSettings>,
  origins: ValueOrigins,
  host: HostFacts,
): PortfolioConfig {
  const problems: ConfigProblem[] = [];
  const {
    cache,
    nats,
    database,
    storage,
    auth,
    gateway,
    runtime,
    log,
    metrics,
  } = settings;

  const dataDir = origins.resolvePath(
    'data_dir',
    settings.data_dir ?? DEFAULTS.dataDir,
    settings.data_dir !== undefined,
  );
  const storageRootSetting = storage?.local?.root;
  const storageRoot =
    storageRootSetting !== undefined
      ? origins.resolvePath('storage.local.root', storageRootSetting, true)
      : nodePath.join(dataDir, DEFAULTS.artifactsDirName);

  const memory = resolveMemory(settings, origins, problems);

  const runtimeTimeoutMs =
    cache?.runtime_timeout ?? parseDuration(DEFAULTS.cacheRuntimeTimeout);
  const heartbeatIntervalMs =
    runtime?.heartbeat_interval ??
    parseDuration(DEFAULTS.runtimeHeartbeatInterval);
  if (heartbeatIntervalMs >= runtimeTimeoutMs) {
    const timeout = origins.describe(
      'cache.runtime_timeout',
      cache?.runtime_timeout !== undefined,
    );
    problems.push(
      origins.problem(
        'runtime.heartbeat_interval',
        `heartbeat interval ${formatMs(heartbeatIntervalMs)} must be shorter than ${timeout}, ${formatMs(runtimeTimeoutMs)}, or runtimes are declared dead between heartbeats`,
      ),
    );
  }

  const configuredModels = resolveModels(models, origins, problems);
  const storageConfig = resolveStorage(storage, storageRoot, origins, problems);
  ConfigError.throwIfAny(problems);

  return {
    source: origins.file,
    dataDir,
    models: configuredModels,
    cache: {
      ...memory.cache,
      ttlMs: cache?.ttl ?? null,
      runtimeTimeoutMs,
      maxCopies: cache?.max_copies ?? DEFAULTS.cacheMaxCopies,
      predictivePreload: cache?.predictive_preload ?? true,
      quotas: cache?.quotas
        ? { label: cache.quotas.label, limitsBytes: cache.quotas.limits }
        : null,
    },
    nats: {
      url: nats?.url ?? DEFAULTS.natsUrl,
      subjectPrefix: nats?.subject_prefix ?? DEFAULTS.natsSubjectPrefix,
      requestTimeoutMs:
        nats?.request_timeout ?? parseDuration(DEFAULTS.natsRequestTimeout),
    },
    database: { url: database?.url ?? null },
    storage: storageConfig,
    auth: { enabled: auth?.enabled ?? true },
    gateway: {
      host: gateway?.host ?? DEFAULTS.gatewayHost,
      port: gateway?.port ?? DEFAULTS.gatewayPort,
      // undefined: the default; null (or `off`): no gRPC.
      grpcPort:
        gateway?.grpc_port === undefined
          ? DEFAULTS.gatewayGrpcPort
          : gateway.grpc_port,
      adminKey: gateway?.admin_key ?? null,
      bodyLimitBytes:
        gateway?.body_limit ?? parseSize(DEFAULTS.gatewayBodyLimit),
      uploadLimitBytes:
        gateway?.upload_limit ?? parseSize(DEFAULTS.gatewayUploadLimit),
      requestTimeoutMs:
        gateway?.request_timeout ??
        parseDuration(DEFAULTS.gatewayRequestTimeout),
      maxJsonElements: gateway?.max_json_elements ?? 1_048_576,
      maxInFlightPerModel: gateway?.max_in_flight_per_model ?? 1024,
      jsonOffload: gateway?.json_offload ?? true,
      rateLimit: gateway?.rate_limit ?? null,
    },
    runtime: {
      nodeId: runtime?.node_id ?? defaultNodeId(host),
      ...memory.runtime,
      workers:
        runtime?.workers ??
        Math.max(1, Math.min(DEFAULTS.runtimeMaxWorkers, host.parallelism)),
      intraOpThreads:
        runtime?.intra_op_threads ?? DEFAULTS.runtimeIntraOpThreads,
      heartbeatIntervalMs,
      loadTimeoutMs:
        runtime?.load_timeout ?? parseDuration(DEFAULTS.runtimeLoadTimeout),
      requestLogPath:
        runtime?.request_log == null
          ? null
          : origins.resolvePath(
              'runtime.request_log',
              runtime.request_log,
              true,
            ),
      inlineMaxBytes:
        runtime?.inline_max_size ?? parseSize(DEFAULTS.runtimeInlineMaxSize),
      maxBatchSize: runtime?.max_batch_size ?? DEFAULTS.runtimeMaxBatchSize,
      maxQueueDelayMs: runtime?.max_queue_delay ?? 0,
      artifactCache: {
        dir:
          runtime?.artifact_cache?.dir == null
            ? nodePath.join(dataDir, DEFAULTS.runtimeArtifactCacheDirName)
            : origins.resolvePath(
                'runtime.artifact_cache.dir',
                runtime.artifact_cache.dir,
                true,
              ),
        maxBytes:
          runtime?.artifact_cache?.max_size ??
          parseSize(DEFAULTS.runtimeArtifactCacheMaxSize),
      },
      python:
        runtime?.python == null
          ? DEFAULTS.runtimePython
          : origins.resolvePath('runtime.python', runtime.python, true),
    },
    log: {
      level: log?.level ?? DEFAULTS.logLevel,
      format: log?.format ?? DEFAULTS.logFormat,
    },
    metrics: { port: metrics?.port ?? DEFAULTS.metricsPort },
  };
}
