import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './load-config';
import { currentHost, defaultNodeId } from './resolve-config';
import type { PortfolioConfig } from './config.types';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const createdDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portfolio-config-'));
  createdDirs.push(dir);
  return dir;
}

/** Writes `content` to `dir/name` (creating parent folders) and returns the absolute path. */
function write(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

afterAll(() => {
  for (const dir of createdDirs)
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig without a file', () => {
  it('returns every default, with relative defaults resolved against cwd', () => {
    const cwd = tempDir();
    const config = loadConfig({ file: null, env: {}, cwd });

    const expected: PortfolioConfig = {
      source: null,
      dataDir: path.join(cwd, 'data'),
      models: [],
      cache: {
        maxMemoryBytes: 2 * GiB,
        softLimitBytes: Math.floor(2 * GiB * 0.9),
        ttlMs: null,
        runtimeTimeoutMs: 10_000,
        maxCopies: 4,
        predictivePreload: true,
        quotas: null,
      },
      nats: {
        url: 'nats://127.0.0.1:4222',
        subjectPrefix: 'portfolio',
        requestTimeoutMs: 30_000,
      },
      database: { url: null },
      storage: {
        driver: 'local',
        workDir: null,
        local: { root: path.join(cwd, 'data', 'artifacts') },
        s3: {
          bucket: null,
          prefix: '',
          region: null,
          endpoint: null,
          forcePathStyle: false,
        },
        gcs: { bucket: null, prefix: '', projectId: null, endpoint: null },
        azure: { container: null, prefix: '', accountUrl: null },
        importSources: [],
        gc: { intervalMs: 6 * 3_600_000, minAgeMs: 3_600_000 },
        trialLoad: {
          enabled: true,
          timeoutMs: 120_000,
          maxMemoryBytes: 8 * GiB,
        },
      },
      auth: { enabled: true },
      gateway: {
        host: '0.0.0.0',
        port: 8080,
        grpcPort: 8081,
        adminKey: null,
        bodyLimitBytes: 64 * MiB,
        uploadLimitBytes: 16 * GiB,
        requestTimeoutMs: 30_000,
        maxJsonElements: 1_048_576,
        maxInFlightPerModel: 1024,
        jsonOffload: true,
        rateLimit: null,
      },
      runtime: {
        nodeId: defaultNodeId(currentHost()),
        maxMemoryBytes: 2 * GiB,
        softLimitBytes: Math.floor(2 * GiB * 0.9),
        workers: Math.min(2, os.availableParallelism()),
        intraOpThreads: 1,
        heartbeatIntervalMs: 2_000,
        loadTimeoutMs: 120_000,
        requestLogPath: null,
        inlineMaxBytes: 4 * MiB,
        maxBatchSize: 32,
        maxQueueDelayMs: 0,
        artifactCache: {
          dir: path.join(cwd, 'data', 'artifact-cache'),
          maxBytes: 20 * GiB,
        },
        python: '/usr/bin/python3',
      },
      log: { level: 'info', format: 'auto' },
      metrics: { port: 9464 },
    };
    expect(config).toEqual(expected);
  });

  it('uses process.env and process.cwd() when they are not given', () => {
    const previous = process.env['PORTFOLIO_GATEWAY_PORT'];
    process.env['PORTFOLIO_GATEWAY_PORT'] = '9191';
    try {
      const config = loadConfig({ file: null });
      expect(config.gateway.port).toBe(9191);
      expect(config.dataDir).toBe(path.resolve(process.cwd(), 'data'));
    } finally {
      if (previous === undefined) delete process.env['PORTFOLIO_GATEWAY_PORT'];
      else process.env['PORTFOLIO_GATEWAY_PORT'] = previous;
    }
  });

  it('returns a deeply frozen object', () => {
    const cwd = tempDir();
    write(cwd, 'm.onnx', 'x');
    const file = write(
      cwd,
      'portfolio.yaml',
      'models:\n  m:\n    path: m.onnx\n    type: onnx\n',
    );
    const config = loadConfig({ file, env: {}, cwd });

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.cache)).toBe(true);
    expect(Object.isFrozen(config.storage.local)).toBe(true);
    expect(Object.isFrozen(config.models)).toBe(true);
    expect(Object.isFrozen(config.models[0])).toBe(true);
    expect(Reflect.set(config.gateway, 'port', 1)).toBe(false);
    expect(config.gateway.port).toBe(8080);
  });
});

describe('loadConfig with a file', () => {
  it('reads every section', () => {
    const dir = tempDir();
    write(dir, 'models/iris.onnx', 'onnx bytes');
    write(dir, 'models/bert', '');
    const file = write(
      dir,
      'portfolio.yaml',
      `# a complete configuration
data_dir: /var/lib/portfolio
models:
  iris:
    path: ./models/iris.onnx
    type: onnx
    memory_estimate: 1MB
    memory_estimate_authoritative: true
    preload: true
    pinned: false
    ttl: 1h
    description: "Iris classifier"
    aliases: [production, staging, production]
    max_batch_size: 16
    max_queue_delay: 2ms
    engine:
      threads: 2
      graph_optimization: basic
      memory_arena: false
      execution_provider: cpu
    processing:
      inputs:
        x: { offset: [5.8, 3, 3.7, 1.2], scale: 2 }
      outputs:
        label: { labels: [setosa, versicolor, virginica] }
  bert.base-v2:
    path: models/bert
    type: huggingface
cache:
  max_memory: 4GiB
  soft_limit: 3GiB
  ttl: 30m
  runtime_timeout: 15s
  max_copies: 3
  predictive_preload: false
  quotas:
    label: team
    limits:
      red: 1GiB
      blue: 512MiB
nats:
  url: nats://nats.internal:4222
  subject_prefix: acme.portfolio
  request_timeout: 45s
database:
  url: postgres://user@db:5432/portfolio
storage:
  driver: s3
  work_dir: ./scratch
  local:
    root: /srv/artifacts
  s3:
    bucket: models.example
    prefix: /portfolio/artifacts/
    region: eu-west-3
    endpoint: http://127.0.0.1:9000
    force_path_style: true
  gcs:
    bucket: acme_models
    prefix: portfolio
    project_id: acme-ml-123
    endpoint: https://storage.example.com
  azure:
    container: models
    prefix: a/b
    account_url: https://acme.blob.core.windows.net/?sv=2024&sig=secret
  import:
    sources: [file:///srv/models, s3://incoming]
  gc:
    interval: off
    min_age: 2d
  trial_load:
    enabled: false
    timeout: 10s
    memory_limit: 1GiB
auth:
  enabled: false
gateway:
  host: 127.0.0.1
  port: 9000
  grpc_port: 9001
  admin_key: "0123456789abcdef-secret"
  body_limit: 8MiB
  upload_limit: 1GiB
  request_timeout: 1m
  max_json_elements: 5000
  max_in_flight_per_model: 64
  json_offload: false
  rate_limit:
    requests_per_second: 2.5
    burst: 10
runtime:
  node_id: runtime-7
  max_memory: 8GiB
  soft_limit: 75%
  workers: 4
  intra_op_threads: 2
  heartbeat_interval: 500ms
  load_timeout: 2m 30s
  request_log: ./requests.jsonl
  inline_max_size: 0
  max_batch_size: 8
  max_queue_delay: 1ms
  artifact_cache:
    dir: ./cache
    max_size: 5GiB
log:
  level: debug
  format: pretty
metrics:
  port: 0
`,
    );

    const config = loadConfig({ file, env: {}, cwd: tempDir() });

    const expected: PortfolioConfig = {
      source: file,
      dataDir: '/var/lib/portfolio',
      models: [
        {
          id: 'iris',
          path: path.join(dir, 'models/iris.onnx'),
          format: 'onnx',
          memoryEstimateBytes: 1_000_000,
          memoryEstimateAuthoritative: true,
          preload: true,
          pinned: false,
          ttlMs: 3_600_000,
          description: 'Iris classifier',
          aliases: ['production', 'staging'],
          maxBatchSize: 16,
          maxQueueDelayMs: 2,
          engine: {
            threads: 2,
            graph_optimization: 'basic',
            memory_arena: false,
            execution_provider: 'cpu',
          },
          processing: {
            inputs: { x: { offset: [5.8, 3, 3.7, 1.2], scale: 2 } },
            outputs: {
              label: { labels: ['setosa', 'versicolor', 'virginica'] },
            },
          },
        },
        {
          id: 'bert.base-v2',
          path: path.join(dir, 'models/bert'),
          format: 'huggingface',
          memoryEstimateBytes: null,
          memoryEstimateAuthoritative: false,
          preload: false,
          pinned: false,
          ttlMs: null,
          description: null,
          aliases: [],
          maxBatchSize: null,
          maxQueueDelayMs: null,
          engine: null,
          processing: null,
        },
      ],
      cache: {
        maxMemoryBytes: 4 * GiB,
        softLimitBytes: 3 * GiB,
        ttlMs: 1_800_000,
        runtimeTimeoutMs: 15_000,
        maxCopies: 3,
        predictivePreload: false,
        quotas: { label: 'team', limitsBytes: { red: GiB, blue: 512 * MiB } },
      },
      nats: {
        url: 'nats://nats.internal:4222',
        subjectPrefix: 'acme.portfolio',
        requestTimeoutMs: 45_000,
      },
      database: { url: 'postgres://user@db:5432/portfolio' },
      storage: {
        driver: 's3',
        workDir: path.join(dir, 'scratch'),
        local: { root: '/srv/artifacts' },
        s3: {
          bucket: 'models.example',
          prefix: 'portfolio/artifacts',
          region: 'eu-west-3',
          endpoint: 'http://127.0.0.1:9000',
          forcePathStyle: true,
        },
        gcs: {
          bucket: 'acme_models',
          prefix: 'portfolio',
          projectId: 'acme-ml-123',
          endpoint: 'https://storage.example.com',
        },
        azure: {
          container: 'models',
          prefix: 'a/b',
          accountUrl: 'https://acme.blob.core.windows.net/?sv=2024&sig=secret',
        },
        importSources: ['file:///srv/models', 's3://incoming'],
        gc: { intervalMs: null, minAgeMs: 2 * 86_400_000 },
        trialLoad: { enabled: false, timeoutMs: 10_000, maxMemoryBytes: GiB },
      },
      auth: { enabled: false },
      gateway: {
        host: '127.0.0.1',
        port: 9000,
        grpcPort: 9001,
        adminKey: '0123456789abcdef-secret',
        bodyLimitBytes: 8 * MiB,
        uploadLimitBytes: GiB,
        requestTimeoutMs: 60_000,
        maxJsonElements: 5000,
        maxInFlightPerModel: 64,
        jsonOffload: false,
        rateLimit: { requests_per_second: 2.5, burst: 10 },
      },
      runtime: {
        nodeId: 'runtime-7',
        maxMemoryBytes: 8 * GiB,
        softLimitBytes: 6 * GiB,
        workers: 4,
        intraOpThreads: 2,
        heartbeatIntervalMs: 500,
        loadTimeoutMs: 150_000,
        requestLogPath: path.join(path.dirname(file), 'requests.jsonl'),
        inlineMaxBytes: 0,
        maxBatchSize: 8,
        maxQueueDelayMs: 1,
        artifactCache: { dir: path.join(dir, 'cache'), maxBytes: 5 * GiB },
        python: '/usr/bin/python3',
      },
      log: { level: 'debug', format: 'pretty' },
      metrics: { port: 0 },
    };
    expect(config).toEqual(expected);
  });

  it('keeps models in file order, integer-like ids included', () => {
    const dir = tempDir();
    write(dir, 'a.onnx', '');
    const file = write(
      dir,
      'portfolio.yaml',
      [
        'models:',
        ...['zeta', '42', 'alpha', '7'].flatMap((id) => [
          `  ${id}:`,
          '    path: a.onnx',
          '    type: onnx',
        ]),
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {}, cwd: dir });
    expect(config.models.map((m) => m.id)).toEqual([
      'zeta',
      '42',
      'alpha',
      '7',
    ]);
  });

  it('accepts every model format', () => {
    const dir = tempDir();
    write(dir, 'model.bin', '');
    const formats = [
      'onnx',
      'tensorflow',
      'pytorch',
      'sklearn',
      'huggingface',
      'custom',
    ];
    const body = formats
      .flatMap((f) => [`  m-${f}:`, '    path: model.bin', `    type: ${f}`])
      .join('\n');
    const file = write(dir, 'portfolio.yaml', `models:\n${body}\n`);
    expect(
      loadConfig({ file, env: {}, cwd: dir }).models.map((m) => m.format),
    ).toEqual(formats);
  });

  it('treats an empty file and empty sections as defaults', () => {
    const dir = tempDir();
    const empty = write(dir, 'empty.yaml', '# nothing configured yet\n');
    const sections = write(
      dir,
      'sections.yaml',
      'models:\ncache:\nnats:\ngateway:\nstorage:\n  local:\nruntime:\nlog:\nmetrics:\n',
    );
    const defaults = loadConfig({ file: null, env: {}, cwd: dir });

    const fromEmpty = loadConfig({ file: empty, env: {}, cwd: dir });
    const fromSections = loadConfig({ file: sections, env: {}, cwd: dir });
    expect(fromEmpty.source).toBe(empty);
    expect(fromSections.source).toBe(sections);
    expect({ ...fromEmpty, source: null }).toEqual(defaults);
    expect({ ...fromSections, source: null }).toEqual(defaults);
  });

  it('accepts explicit nulls for optional settings', () => {
    const dir = tempDir();
    write(dir, 'm.onnx', '');
    const file = write(
      dir,
      'portfolio.yaml',
      'database:\n  url: ~\ngateway:\n  admin_key: null\ncache:\n  ttl:\nruntime:\n  max_memory: null\n  soft_limit: null\nmodels:\n  m:\n    path: m.onnx\n    type: onnx\n    ttl: null\n    memory_estimate: ~\n    description:\n',
    );
    const config = loadConfig({ file, env: {}, cwd: dir });
    expect(config.database.url).toBeNull();
    expect(config.gateway.adminKey).toBeNull();
    expect(config.cache.ttlMs).toBeNull();
    expect(config.runtime.maxMemoryBytes).toBe(config.cache.maxMemoryBytes);
    expect(config.models[0]).toMatchObject({
      ttlMs: null,
      memoryEstimateBytes: null,
      description: null,
    });
  });

  it('accepts sizes and durations written as plain numbers (bytes, seconds)', () => {
    const dir = tempDir();
    const file = write(
      dir,
      'p.yaml',
      'cache:\n  max_memory: 1073741824\n  soft_limit: 1000\n  ttl: 90\ngateway:\n  request_timeout: 2.5\n',
    );
    const config = loadConfig({ file, env: {}, cwd: dir });
    expect(config.cache).toMatchObject({
      maxMemoryBytes: GiB,
      softLimitBytes: 1000,
      ttlMs: 90_000,
    });
    expect(config.gateway.requestTimeoutMs).toBe(2500);
  });

  it('accepts port 0 (pick a free port) and the postgresql:// scheme', () => {
    const dir = tempDir();
    const file = write(
      dir,
      'p.yaml',
      'gateway:\n  port: 0\ndatabase:\n  url: postgresql://u:p@localhost/db\n',
    );
    const config = loadConfig({ file, env: {}, cwd: dir });
    expect(config.gateway.port).toBe(0);
    expect(config.database.url).toBe('postgresql://u:p@localhost/db');
  });

  it.each([
    ['0', 0],
    ['null', null],
    ['', null],
    ['off', null],
  ])(
    'reads gateway.grpc_port: %s (0: any free port; null or off: no gRPC)',
    (text, expected) => {
      const dir = tempDir();
      const file = write(dir, 'p.yaml', `gateway:\n  grpc_port: ${text}\n`);
      expect(loadConfig({ file, env: {}, cwd: dir }).gateway.grpcPort).toBe(
        expected,
      );
    },
  );
});

describe('path resolution', () => {
  it('resolves relative paths in the file against the file directory, not cwd', () => {
    const cwd = tempDir();
    const configDir = path.join(tempDir(), 'etc');
    write(configDir, 'models/iris.onnx', '');
    const file = write(
      configDir,
      'portfolio.yaml',
      'data_dir: ./state\nstorage:\n  local:\n    root: ../blobs\nmodels:\n  iris:\n    path: models/iris.onnx\n    type: onnx\n',
    );

    const config = loadConfig({ file, env: {}, cwd });
    expect(config.dataDir).toBe(path.join(configDir, 'state'));
    expect(config.storage.local.root).toBe(path.resolve(configDir, '../blobs'));
    expect(config.models[0].path).toBe(
      path.join(configDir, 'models/iris.onnx'),
    );
  });

  it('puts the default storage root under the resolved data_dir', () => {
    const configDir = tempDir();
    const file = write(configDir, 'portfolio.yaml', 'data_dir: ./state\n');
    const config = loadConfig({ file, env: {}, cwd: tempDir() });
    expect(config.storage.local.root).toBe(
      path.join(configDir, 'state', 'artifacts'),
    );
  });

  it('resolves a relative `file` option against cwd', () => {
    const cwd = tempDir();
    const file = write(cwd, 'conf/portfolio.yaml', 'log:\n  level: warn\n');
    const config = loadConfig({ file: 'conf/portfolio.yaml', env: {}, cwd });
    expect(config.source).toBe(file);
    expect(config.log.level).toBe('warn');
  });

  it('resolves relative paths from the environment against cwd, even when a file is loaded', () => {
    const cwd = tempDir();
    const configDir = tempDir();
    const file = write(configDir, 'portfolio.yaml', 'data_dir: ./from-file\n');
    const config = loadConfig({
      file,
      env: {
        PORTFOLIO_DATA_DIR: 'from-env',
        PORTFOLIO_STORAGE_LOCAL_ROOT: './blobs',
      },
      cwd,
    });
    expect(config.dataDir).toBe(path.join(cwd, 'from-env'));
    expect(config.storage.local.root).toBe(path.join(cwd, 'blobs'));
  });
});

describe('choosing the file', () => {
  it('uses PORTFOLIO_CONFIG (relative to cwd) when no file is given', () => {
    const cwd = tempDir();
    const file = write(cwd, 'cfg/p.yaml', 'log:\n  level: error\n');
    const config = loadConfig({ env: { PORTFOLIO_CONFIG: 'cfg/p.yaml' }, cwd });
    expect(config.source).toBe(file);
    expect(config.log.level).toBe('error');
  });

  it('prefers the file option over PORTFOLIO_CONFIG', () => {
    const cwd = tempDir();
    const chosen = write(cwd, 'chosen.yaml', 'log:\n  level: verbose\n');
    write(cwd, 'ignored.yaml', 'log:\n  level: error\n');
    const config = loadConfig({
      file: chosen,
      env: { PORTFOLIO_CONFIG: 'ignored.yaml' },
      cwd,
    });
    expect(config.source).toBe(chosen);
    expect(config.log.level).toBe('verbose');
  });

  it('loads no file when file is null, even if PORTFOLIO_CONFIG is set', () => {
    const cwd = tempDir();
    const config = loadConfig({
      file: null,
      env: { PORTFOLIO_CONFIG: 'does-not-exist.yaml' },
      cwd,
    });
    expect(config.source).toBeNull();
  });

  it('treats an empty PORTFOLIO_CONFIG as unset', () => {
    const config = loadConfig({
      env: { PORTFOLIO_CONFIG: '' },
      cwd: tempDir(),
    });
    expect(config.source).toBeNull();
  });
});

describe('memory limits', () => {
  function load(yaml: string): PortfolioConfig {
    const dir = tempDir();
    return loadConfig({ file: write(dir, 'p.yaml', yaml), env: {}, cwd: dir });
  }

  it('applies a percentage soft limit to max_memory, rounding down', () => {
    const config = load('cache:\n  max_memory: 1000\n  soft_limit: 85.5%\n');
    expect(config.cache.softLimitBytes).toBe(855);
  });

  it('allows a soft limit equal to max_memory', () => {
    expect(
      load('cache:\n  max_memory: 1GiB\n  soft_limit: 1GiB\n').cache
        .softLimitBytes,
    ).toBe(GiB);
    expect(
      load('cache:\n  max_memory: 1GiB\n  soft_limit: 100%\n').cache
        .softLimitBytes,
    ).toBe(GiB);
  });

  it('gives the runtime the cache limits when it has none of its own', () => {
    const config = load('cache:\n  max_memory: 1GiB\n  soft_limit: 512MiB\n');
    expect(config.runtime).toMatchObject({
      maxMemoryBytes: GiB,
      softLimitBytes: 512 * MiB,
    });
  });

  it("applies the cache's percentage soft limit to the runtime's own max_memory", () => {
    const config = load(
      'cache:\n  max_memory: 1GiB\n  soft_limit: 50%\nruntime:\n  max_memory: 4GiB\n',
    );
    expect(config.cache.softLimitBytes).toBe(512 * MiB);
    expect(config.runtime).toMatchObject({
      maxMemoryBytes: 4 * GiB,
      softLimitBytes: 2 * GiB,
    });
  });

  it("keeps the cache's absolute soft limit as a share of the runtime's own max_memory", () => {
    const config = load(
      'cache:\n  max_memory: 1GiB\n  soft_limit: 768MiB\nruntime:\n  max_memory: 4GiB\n',
    );
    expect(config.runtime).toMatchObject({
      maxMemoryBytes: 4 * GiB,
      softLimitBytes: 3 * GiB,
    });
  });

  it("uses the runtime's own soft limit against the resolved max", () => {
    expect(load('runtime:\n  soft_limit: 50%\n').runtime.softLimitBytes).toBe(
      GiB,
    ); // of the default 2GiB
    expect(
      load('runtime:\n  max_memory: 4GiB\n  soft_limit: 1GiB\n').runtime
        .softLimitBytes,
    ).toBe(GiB);
  });
});
