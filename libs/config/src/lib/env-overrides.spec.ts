import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from './config.error';
import type { PortfolioConfig } from './config.types';
import { ENV_VARS } from './env-vars';
import { loadConfig } from './load-config';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const createdDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portfolio-config-env-'));
  createdDirs.push(dir);
  return dir;
}

function write(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function loadError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

afterAll(() => {
  for (const dir of createdDirs)
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('ENV_VARS', () => {
  it('lists exactly the supported variables, once each', () => {
    expect(ENV_VARS.map((v) => v.name)).toEqual([
      'PORTFOLIO_CONFIG',
      'PORTFOLIO_DATA_DIR',
      'PORTFOLIO_NATS_URL',
      'PORTFOLIO_NATS_SUBJECT_PREFIX',
      'PORTFOLIO_NATS_REQUEST_TIMEOUT',
      'PORTFOLIO_DATABASE_URL',
      'PORTFOLIO_STORAGE_DRIVER',
      'PORTFOLIO_STORAGE_WORK_DIR',
      'PORTFOLIO_STORAGE_IMPORT_SOURCES',
      'PORTFOLIO_STORAGE_GC_INTERVAL',
      'PORTFOLIO_STORAGE_GC_MIN_AGE',
      'PORTFOLIO_STORAGE_TRIAL_LOAD_ENABLED',
      'PORTFOLIO_STORAGE_TRIAL_LOAD_TIMEOUT',
      'PORTFOLIO_STORAGE_TRIAL_LOAD_MEMORY_LIMIT',
      'PORTFOLIO_STORAGE_LOCAL_ROOT',
      'PORTFOLIO_STORAGE_S3_BUCKET',
      'PORTFOLIO_STORAGE_S3_PREFIX',
      'PORTFOLIO_STORAGE_S3_REGION',
      'PORTFOLIO_STORAGE_S3_ENDPOINT',
      'PORTFOLIO_STORAGE_S3_FORCE_PATH_STYLE',
      'PORTFOLIO_STORAGE_GCS_BUCKET',
      'PORTFOLIO_STORAGE_GCS_PREFIX',
      'PORTFOLIO_STORAGE_GCS_PROJECT_ID',
      'PORTFOLIO_STORAGE_GCS_ENDPOINT',
      'PORTFOLIO_STORAGE_AZURE_CONTAINER',
      'PORTFOLIO_STORAGE_AZURE_PREFIX',
      'PORTFOLIO_STORAGE_AZURE_ACCOUNT_URL',
      'PORTFOLIO_GATEWAY_HOST',
      'PORTFOLIO_GATEWAY_PORT',
      'PORTFOLIO_GATEWAY_GRPC_PORT',
      'PORTFOLIO_AUTH_ENABLED',
      'PORTFOLIO_ADMIN_KEY',
      'PORTFOLIO_GATEWAY_BODY_LIMIT',
      'PORTFOLIO_GATEWAY_UPLOAD_LIMIT',
      'PORTFOLIO_GATEWAY_REQUEST_TIMEOUT',
      'PORTFOLIO_GATEWAY_JSON_OFFLOAD',
      'PORTFOLIO_CACHE_MAX_MEMORY',
      'PORTFOLIO_CACHE_SOFT_LIMIT',
      'PORTFOLIO_CACHE_TTL',
      'PORTFOLIO_CACHE_RUNTIME_TIMEOUT',
      'PORTFOLIO_CACHE_MAX_COPIES',
      'PORTFOLIO_RUNTIME_NODE_ID',
      'PORTFOLIO_RUNTIME_MAX_MEMORY',
      'PORTFOLIO_RUNTIME_SOFT_LIMIT',
      'PORTFOLIO_RUNTIME_WORKERS',
      'PORTFOLIO_RUNTIME_INTRA_OP_THREADS',
      'PORTFOLIO_RUNTIME_HEARTBEAT_INTERVAL',
      'PORTFOLIO_RUNTIME_LOAD_TIMEOUT',
      'PORTFOLIO_RUNTIME_REQUEST_LOG',
      'PORTFOLIO_RUNTIME_INLINE_MAX_SIZE',
      'PORTFOLIO_RUNTIME_MAX_BATCH_SIZE',
      'PORTFOLIO_RUNTIME_MAX_QUEUE_DELAY',
      'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_DIR',
      'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_MAX_SIZE',
      'PORTFOLIO_RUNTIME_PYTHON',
      'PORTFOLIO_LOG_LEVEL',
      'PORTFOLIO_LOG_FORMAT',
      'PORTFOLIO_METRICS_PORT',
    ]);
  });

  it('describes every variable and maps it to a YAML key', () => {
    for (const v of ENV_VARS) {
      expect(v.description.length).toBeGreaterThan(10);
      expect(v.key).toMatch(
        v.name === 'PORTFOLIO_CONFIG'
          ? /^\(file\)$/
          : /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/,
      );
    }
    expect(ENV_VARS.find((v) => v.name === 'PORTFOLIO_ADMIN_KEY')?.key).toBe(
      'gateway.admin_key',
    );
  });

  it('is frozen and carries only name, key and description', () => {
    expect(Object.isFrozen(ENV_VARS)).toBe(true);
    for (const v of ENV_VARS)
      expect(Object.keys(v).sort()).toEqual(['description', 'key', 'name']);
  });
});

describe('environment overrides', () => {
  /** Every variable but PORTFOLIO_CONFIG: a valid value and where it must land. */
  const cases: [string, string, (c: PortfolioConfig) => unknown, unknown][] = [
    ['PORTFOLIO_DATA_DIR', '/srv/data', (c) => c.dataDir, '/srv/data'],
    [
      'PORTFOLIO_NATS_URL',
      'nats://bus:4333',
      (c) => c.nats.url,
      'nats://bus:4333',
    ],
    [
      'PORTFOLIO_NATS_SUBJECT_PREFIX',
      'acme.pf',
      (c) => c.nats.subjectPrefix,
      'acme.pf',
    ],
    [
      'PORTFOLIO_NATS_REQUEST_TIMEOUT',
      '5s',
      (c) => c.nats.requestTimeoutMs,
      5000,
    ],
    [
      'PORTFOLIO_DATABASE_URL',
      'postgres://u@h/db',
      (c) => c.database.url,
      'postgres://u@h/db',
    ],
    ['PORTFOLIO_STORAGE_DRIVER', 'local', (c) => c.storage.driver, 'local'],
    [
      'PORTFOLIO_STORAGE_WORK_DIR',
      '/var/cache/portfolio',
      (c) => c.storage.workDir,
      '/var/cache/portfolio',
    ],
    [
      'PORTFOLIO_STORAGE_IMPORT_SOURCES',
      'file:///srv/models/, s3://incoming/models',
      (c) => c.storage.importSources,
      ['file:///srv/models', 's3://incoming/models'],
    ],
    [
      'PORTFOLIO_STORAGE_GC_INTERVAL',
      'off',
      (c) => c.storage.gc.intervalMs,
      null,
    ],
    [
      'PORTFOLIO_STORAGE_GC_MIN_AGE',
      '30m',
      (c) => c.storage.gc.minAgeMs,
      1_800_000,
    ],
    [
      'PORTFOLIO_STORAGE_TRIAL_LOAD_ENABLED',
      'false',
      (c) => c.storage.trialLoad.enabled,
      false,
    ],
    [
      'PORTFOLIO_STORAGE_TRIAL_LOAD_TIMEOUT',
      '30s',
      (c) => c.storage.trialLoad.timeoutMs,
      30_000,
    ],
    [
      'PORTFOLIO_STORAGE_TRIAL_LOAD_MEMORY_LIMIT',
      '2GiB',
      (c) => c.storage.trialLoad.maxMemoryBytes,
      2 * 1024 ** 3,
    ],
    [
      'PORTFOLIO_STORAGE_LOCAL_ROOT',
      '/srv/blobs',
      (c) => c.storage.local.root,
      '/srv/blobs',
    ],
    [
      'PORTFOLIO_STORAGE_S3_BUCKET',
      'models',
      (c) => c.storage.s3.bucket,
      'models',
    ],
    [
      'PORTFOLIO_STORAGE_S3_PREFIX',
      '/portfolio/',
      (c) => c.storage.s3.prefix,
      'portfolio',
    ],
    [
      'PORTFOLIO_STORAGE_S3_REGION',
      'eu-central-1',
      (c) => c.storage.s3.region,
      'eu-central-1',
    ],
    [
      'PORTFOLIO_STORAGE_S3_ENDPOINT',
      'http://127.0.0.1:9000',
      (c) => c.storage.s3.endpoint,
      'http://127.0.0.1:9000',
    ],
    [
      'PORTFOLIO_STORAGE_S3_FORCE_PATH_STYLE',
      'TRUE',
      (c) => c.storage.s3.forcePathStyle,
      true,
    ],
    [
      'PORTFOLIO_STORAGE_GCS_BUCKET',
      'acme_models',
      (c) => c.storage.gcs.bucket,
      'acme_models',
    ],
    ['PORTFOLIO_STORAGE_GCS_PREFIX', 'a/b', (c) => c.storage.gcs.prefix, 'a/b'],
    [
      'PORTFOLIO_STORAGE_GCS_PROJECT_ID',
      'acme-ml-123',
      (c) => c.storage.gcs.projectId,
      'acme-ml-123',
    ],
    [
      'PORTFOLIO_STORAGE_GCS_ENDPOINT',
      'https://storage.example.com',
      (c) => c.storage.gcs.endpoint,
      'https://storage.example.com',
    ],
    [
      'PORTFOLIO_STORAGE_AZURE_CONTAINER',
      'models',
      (c) => c.storage.azure.container,
      'models',
    ],
    ['PORTFOLIO_STORAGE_AZURE_PREFIX', 'x', (c) => c.storage.azure.prefix, 'x'],
    [
      'PORTFOLIO_STORAGE_AZURE_ACCOUNT_URL',
      'https://acme.blob.core.windows.net',
      (c) => c.storage.azure.accountUrl,
      'https://acme.blob.core.windows.net',
    ],
    ['PORTFOLIO_GATEWAY_HOST', '127.0.0.1', (c) => c.gateway.host, '127.0.0.1'],
    ['PORTFOLIO_GATEWAY_PORT', '8181', (c) => c.gateway.port, 8181],
    ['PORTFOLIO_GATEWAY_GRPC_PORT', '8182', (c) => c.gateway.grpcPort, 8182],
    ['PORTFOLIO_AUTH_ENABLED', 'False', (c) => c.auth.enabled, false],
    [
      'PORTFOLIO_ADMIN_KEY',
      '1234567890123456',
      (c) => c.gateway.adminKey,
      '1234567890123456',
    ],
    [
      'PORTFOLIO_GATEWAY_BODY_LIMIT',
      '1MiB',
      (c) => c.gateway.bodyLimitBytes,
      MiB,
    ],
    [
      'PORTFOLIO_GATEWAY_UPLOAD_LIMIT',
      '200MiB',
      (c) => c.gateway.uploadLimitBytes,
      200 * MiB,
    ],
    [
      'PORTFOLIO_GATEWAY_REQUEST_TIMEOUT',
      '1m',
      (c) => c.gateway.requestTimeoutMs,
      60_000,
    ],
    [
      'PORTFOLIO_GATEWAY_JSON_OFFLOAD',
      'false',
      (c) => c.gateway.jsonOffload,
      false,
    ],
    [
      'PORTFOLIO_CACHE_MAX_MEMORY',
      '8GiB',
      (c) => c.cache.maxMemoryBytes,
      8 * GiB,
    ],
    ['PORTFOLIO_CACHE_SOFT_LIMIT', '50%', (c) => c.cache.softLimitBytes, GiB],
    ['PORTFOLIO_CACHE_TTL', '2h', (c) => c.cache.ttlMs, 7_200_000],
    [
      'PORTFOLIO_CACHE_RUNTIME_TIMEOUT',
      '30',
      (c) => c.cache.runtimeTimeoutMs,
      30_000,
    ],
    [
      'PORTFOLIO_RUNTIME_NODE_ID',
      'gpu-node_3',
      (c) => c.runtime.nodeId,
      'gpu-node_3',
    ],
    [
      'PORTFOLIO_RUNTIME_MAX_MEMORY',
      '1073741824',
      (c) => c.runtime.maxMemoryBytes,
      GiB,
    ],
    [
      'PORTFOLIO_RUNTIME_SOFT_LIMIT',
      '1GiB',
      (c) => c.runtime.softLimitBytes,
      GiB,
    ],
    ['PORTFOLIO_RUNTIME_WORKERS', '8', (c) => c.runtime.workers, 8],
    [
      'PORTFOLIO_RUNTIME_INTRA_OP_THREADS',
      '4',
      (c) => c.runtime.intraOpThreads,
      4,
    ],
    [
      'PORTFOLIO_RUNTIME_HEARTBEAT_INTERVAL',
      '750ms',
      (c) => c.runtime.heartbeatIntervalMs,
      750,
    ],
    [
      'PORTFOLIO_RUNTIME_LOAD_TIMEOUT',
      '5m',
      (c) => c.runtime.loadTimeoutMs,
      300_000,
    ],
    ['PORTFOLIO_CACHE_MAX_COPIES', '2', (c) => c.cache.maxCopies, 2],
    [
      'PORTFOLIO_RUNTIME_REQUEST_LOG',
      '/var/log/portfolio/requests.jsonl',
      (c) => c.runtime.requestLogPath,
      '/var/log/portfolio/requests.jsonl',
    ],
    [
      'PORTFOLIO_RUNTIME_INLINE_MAX_SIZE',
      '0',
      (c) => c.runtime.inlineMaxBytes,
      0,
    ],
    ['PORTFOLIO_RUNTIME_MAX_BATCH_SIZE', '1', (c) => c.runtime.maxBatchSize, 1],
    [
      'PORTFOLIO_RUNTIME_MAX_QUEUE_DELAY',
      '2ms',
      (c) => c.runtime.maxQueueDelayMs,
      2,
    ],
    [
      'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_DIR',
      '/var/cache/portfolio',
      (c) => c.runtime.artifactCache.dir,
      '/var/cache/portfolio',
    ],
    [
      'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_MAX_SIZE',
      '1GiB',
      (c) => c.runtime.artifactCache.maxBytes,
      1024 ** 3,
    ],
    [
      'PORTFOLIO_RUNTIME_PYTHON',
      '/opt/python/bin/python3',
      (c) => c.runtime.python,
      '/opt/python/bin/python3',
    ],
    ['PORTFOLIO_LOG_LEVEL', 'verbose', (c) => c.log.level, 'verbose'],
    ['PORTFOLIO_LOG_FORMAT', 'json', (c) => c.log.format, 'json'],
    ['PORTFOLIO_METRICS_PORT', '9100', (c) => c.metrics.port, 9100],
  ];

  it('covers every variable in ENV_VARS', () => {
    expect(cases.map(([name]) => name).sort()).toEqual(
      ENV_VARS.map((v) => v.name)
        .filter((n) => n !== 'PORTFOLIO_CONFIG')
        .sort(),
    );
  });

  it.each(cases)(
    '%s=%s is parsed and applied',
    (name, value, select, expected) => {
      const config = loadConfig({
        file: null,
        env: { [name]: value },
        cwd: tempDir(),
      });
      expect(select(config)).toEqual(expected);
    },
  );

  it.each(
    cases.filter(
      ([name]) =>
        name !== 'PORTFOLIO_STORAGE_DRIVER' &&
        name !== 'PORTFOLIO_STORAGE_WORK_DIR' &&
        name !== 'PORTFOLIO_GATEWAY_HOST' &&
        name !== 'PORTFOLIO_DATA_DIR' &&
        name !== 'PORTFOLIO_RUNTIME_REQUEST_LOG' &&
        name !== 'PORTFOLIO_RUNTIME_ARTIFACT_CACHE_DIR' &&
        name !== 'PORTFOLIO_RUNTIME_PYTHON' &&
        name !== 'PORTFOLIO_STORAGE_LOCAL_ROOT',
    ),
  )('%s is validated and reported under its own name', (name) => {
    const error = loadError(() =>
      loadConfig({
        file: null,
        env: { [name]: '[not valid]' },
        cwd: tempDir(),
      }),
    );
    expect(error.key).toBe(name);
    expect(error.source).toBe(`environment variable ${name}`);
    expect(error.message).toMatch(
      new RegExp(`^Invalid configuration in environment variable ${name}: `),
    );
  });

  it('turns gRPC off with PORTFOLIO_GATEWAY_GRPC_PORT=off, whatever the file says', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'gateway:\n  grpc_port: 9001\n');
    const config = loadConfig({
      file,
      env: { PORTFOLIO_GATEWAY_GRPC_PORT: 'off' },
      cwd: dir,
    });
    expect(config.gateway.grpcPort).toBeNull();
  });

  it('wins over the file', () => {
    const dir = tempDir();
    const file = write(
      dir,
      'p.yaml',
      'gateway:\n  port: 9000\n  host: 10.0.0.1\ncache:\n  max_memory: 1GiB\nlog:\n  level: warn\n',
    );
    const config = loadConfig({
      file,
      env: {
        PORTFOLIO_GATEWAY_PORT: '9100',
        PORTFOLIO_CACHE_MAX_MEMORY: '3GiB',
        PORTFOLIO_LOG_LEVEL: 'debug',
      },
      cwd: dir,
    });
    expect(config.gateway).toMatchObject({ port: 9100, host: '10.0.0.1' });
    expect(config.cache.maxMemoryBytes).toBe(3 * GiB);
    expect(config.log.level).toBe('debug');
  });

  it('fills a section the file left empty', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'nats:\n');
    const config = loadConfig({
      file,
      env: { PORTFOLIO_NATS_URL: 'tls://secure:4222' },
      cwd: dir,
    });
    expect(config.nats.url).toBe('tls://secure:4222');
  });

  it('treats empty values as unset', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'gateway:\n  port: 9000\n');
    const config = loadConfig({
      file,
      env: { PORTFOLIO_GATEWAY_PORT: '', PORTFOLIO_NOT_A_THING: '' },
      cwd: dir,
    });
    expect(config.gateway.port).toBe(9000);
  });

  it('keeps an integer-looking admin key as text', () => {
    const config = loadConfig({
      file: null,
      env: { PORTFOLIO_ADMIN_KEY: '00001234567890123' },
      cwd: tempDir(),
    });
    expect(config.gateway.adminKey).toBe('00001234567890123');
  });

  it('refuses an auth switch that is not true or false, naming the variable', () => {
    expect(() =>
      loadConfig({
        file: null,
        env: { PORTFOLIO_AUTH_ENABLED: 'no' },
        cwd: tempDir(),
      }),
    ).toThrow(/PORTFOLIO_AUTH_ENABLED.*expected true or false, got "no"/);
  });

  it('reports a bad integer with the variable and the value', () => {
    const error = loadError(() =>
      loadConfig({
        file: null,
        env: { PORTFOLIO_GATEWAY_PORT: '80x' },
        cwd: tempDir(),
      }),
    );
    expect(error.message).toBe(
      'Invalid configuration in environment variable PORTFOLIO_GATEWAY_PORT: expected an integer from 0 to 65535, got "80x"',
    );
    expect(error.key).toBe('PORTFOLIO_GATEWAY_PORT');
  });

  it('blames the variable, not the file, when an overridden value is bad', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'cache:\n  ttl: 1h\n');
    const error = loadError(() =>
      loadConfig({ file, env: { PORTFOLIO_CACHE_TTL: '5x' }, cwd: dir }),
    );
    expect(error.source).toBe('environment variable PORTFOLIO_CACHE_TTL');
    expect(error.message).toBe(
      'Invalid configuration in environment variable PORTFOLIO_CACHE_TTL: invalid duration "5x" (expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d)',
    );
  });

  it('names the file setting a soft limit from the environment conflicts with', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'cache:\n  max_memory: 1GiB\n');
    const error = loadError(() =>
      loadConfig({
        file,
        env: { PORTFOLIO_CACHE_SOFT_LIMIT: '2GiB' },
        cwd: dir,
      }),
    );
    expect(error.key).toBe('PORTFOLIO_CACHE_SOFT_LIMIT');
    expect(error.message).toBe(
      'Invalid configuration in environment variable PORTFOLIO_CACHE_SOFT_LIMIT: soft limit 2 GiB is larger than cache.max_memory, 1 GiB',
    );
  });

  it('does not apply an override beneath a file value that is not a mapping; the file is blamed', () => {
    const dir = tempDir();
    const file = write(dir, 'p.yaml', 'gateway: 5\n');
    const error = loadError(() =>
      loadConfig({ file, env: { PORTFOLIO_GATEWAY_PORT: '1' }, cwd: dir }),
    );
    expect(error.source).toBe(file);
    expect(error.key).toBe('gateway');
  });

  it('does not change the validated file values it overrides for other keys', () => {
    const dir = tempDir();
    const file = write(
      dir,
      'p.yaml',
      'runtime:\n  workers: 3\n  intra_op_threads: 2\n',
    );
    const config = loadConfig({
      file,
      env: { PORTFOLIO_RUNTIME_WORKERS: '5' },
      cwd: dir,
    });
    expect(config.runtime).toMatchObject({ workers: 5, intraOpThreads: 2 });
  });
});

describe('unknown PORTFOLIO_* variables', () => {
  function refusal(name: string): ConfigError {
    return loadError(() =>
      loadConfig({ file: null, env: { [name]: 'x' }, cwd: tempDir() }),
    );
  }

  it('refuses a typo and suggests the intended name', () => {
    const error = refusal('PORTFOLIO_GATEWAY_PROT');
    expect(error.key).toBe('PORTFOLIO_GATEWAY_PROT');
    expect(error.source).toBe('environment variable PORTFOLIO_GATEWAY_PROT');
    expect(error.message).toBe(
      'Invalid configuration in environment variable PORTFOLIO_GATEWAY_PROT: unknown variable; did you mean PORTFOLIO_GATEWAY_PORT?',
    );
  });

  it('suggests the full name for a shortened one', () => {
    expect(refusal('PORTFOLIO_GRPC_PORT').message).toContain(
      'did you mean PORTFOLIO_GATEWAY_GRPC_PORT?',
    );
    // The gateway's, gRPC's and the metrics' ports are equally close: none is obvious.
    expect(refusal('PORTFOLIO_PORT').message).not.toContain('did you mean');
    expect(refusal('PORTFOLIO_NATS_TIMEOUT').message).toContain(
      'did you mean PORTFOLIO_NATS_REQUEST_TIMEOUT?',
    );
  });

  it('offers both names when two are equally likely', () => {
    expect(refusal('PORTFOLIO_MAX_MEMORY').message).toContain(
      'did you mean PORTFOLIO_CACHE_MAX_MEMORY or PORTFOLIO_RUNTIME_MAX_MEMORY?',
    );
  });

  it('lists the supported names when nothing is close', () => {
    const error = refusal('PORTFOLIO_BANANA');
    expect(error.message).not.toContain('did you mean');
    expect(error.message).toContain(
      'unknown variable (supported: PORTFOLIO_CONFIG, PORTFOLIO_DATA_DIR,',
    );
  });

  it('reports every unknown variable, one per line', () => {
    const error = loadError(() =>
      loadConfig({
        file: null,
        env: { PORTFOLIO_ZZZ_ONE: 'x', PORTFOLIO_AAA_TWO: 'y' },
        cwd: tempDir(),
      }),
    );
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^Invalid configuration in environment variable PORTFOLIO_AAA_TWO: /,
    );
    expect(lines[1]).toMatch(
      /^Invalid configuration in environment variable PORTFOLIO_ZZZ_ONE: /,
    );
    expect(error.problems.map((p) => p.key)).toEqual([
      'PORTFOLIO_AAA_TWO',
      'PORTFOLIO_ZZZ_ONE',
    ]);
  });

  it('ignores PORTFOLIO_TEST_* variables, which belong to test tooling', () => {
    const config = loadConfig({
      file: null,
      env: {
        PORTFOLIO_TEST_PG_URL: 'postgres://x',
        PORTFOLIO_TEST_ANYTHING: 'whatever',
      },
      cwd: tempDir(),
    });
    expect(config.database.url).toBeNull();
  });

  it("ignores the clients' variables, which a shell that starts a server may export too", () => {
    expect(() =>
      loadConfig({
        file: null,
        env: {
          PORTFOLIO_CLI_URL: 'http://127.0.0.1:8080',
          PORTFOLIO_CLI_KEY: 'k',
          PORTFOLIO_API_KEY: 'k',
        },
        cwd: tempDir(),
      }),
    ).not.toThrow();
  });

  it('ignores variables outside the PORTFOLIO_ namespace', () => {
    expect(() =>
      loadConfig({
        file: null,
        env: { HOME: '/root', portfolio_gateway_port: 'x', PORTFOLIOX: 'y' },
        cwd: tempDir(),
      }),
    ).not.toThrow();
  });
});
