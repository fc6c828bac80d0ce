import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from './config.error';
import { loadConfig } from './load-config';

const createdDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(
    path.join(os.tmpdir(), 'portfolio-config-errors-'),
  );
  createdDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of createdDirs)
    fs.rmSync(dir, { recursive: true, force: true });
});

function catchConfigError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** Writes `yaml` as portfolio.yaml in a fresh directory (plus `files`), loads it, and returns the error. */
function errorFor(
  yaml: string,
  files: readonly string[] = [],
): { error: ConfigError; file: string; dir: string } {
  const dir = tempDir();
  for (const name of files) fs.writeFileSync(path.join(dir, name), '');
  const file = path.join(dir, 'portfolio.yaml');
  fs.writeFileSync(file, yaml);
  const error = catchConfigError(() => loadConfig({ file, env: {}, cwd: dir }));
  return { error, file, dir };
}

/** Asserts a single problem at `key` of the file, with a message naming both, and returns its detail. */
function expectProblemAt(
  yaml: string,
  key: string,
  files: readonly string[] = [],
): string {
  const { error, file } = errorFor(yaml, files);
  expect(error.key).toBe(key);
  expect(error.source).toBe(file);
  expect(error.problems).toHaveLength(1);
  const prefix = `Invalid configuration in ${file} at ${key}: `;
  expect(error.message.startsWith(prefix)).toBe(true);
  return error.message.slice(prefix.length);
}

describe('ConfigError', () => {
  it('is an Error named ConfigError', () => {
    const { error } = errorFor('nope: 1\n');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(String(error)).toMatch(/^ConfigError: Invalid configuration in /);
  });
});

describe('the file as a whole', () => {
  it('reports a missing file with its absolute path', () => {
    const cwd = tempDir();
    const expected = path.join(cwd, 'x.yaml');
    const error = catchConfigError(() =>
      loadConfig({ file: 'x.yaml', env: {}, cwd }),
    );
    expect(error.key).toBe('(file)');
    expect(error.source).toBe(expected);
    expect(error.message).toBe(
      `Invalid configuration in ${expected}: configuration file not found: ${expected}`,
    );
  });

  it('blames PORTFOLIO_CONFIG when the missing path came from it', () => {
    const cwd = tempDir();
    const error = catchConfigError(() =>
      loadConfig({ env: { PORTFOLIO_CONFIG: 'gone.yaml' }, cwd }),
    );
    expect(error.key).toBe('PORTFOLIO_CONFIG');
    expect(error.source).toBe('environment variable PORTFOLIO_CONFIG');
    expect(error.message).toBe(
      `Invalid configuration in environment variable PORTFOLIO_CONFIG: configuration file not found: ${path.join(cwd, 'gone.yaml')}`,
    );
  });

  it('refuses a directory', () => {
    const dir = tempDir();
    const error = catchConfigError(() =>
      loadConfig({ file: dir, env: {}, cwd: dir }),
    );
    expect(error.message).toBe(
      `Invalid configuration in ${dir}: configuration file is a directory: ${dir}`,
    );
  });

  it('reports a YAML syntax error with its line', () => {
    const { error, file } = errorFor(
      'cache:\n  max_memory: 1GiB\n  soft_limit: [90%\nlog:\n  level: info\n',
    );
    expect(error.key).toBe('(file)');
    expect(error.source).toBe(file);
    expect(error.message).toMatch(
      new RegExp(
        `^Invalid configuration in ${file}: YAML syntax error: .* at line 4, column \\d+$`,
      ),
    );
  });

  it('refuses duplicate keys, with the line of the duplicate', () => {
    const { error } = errorFor('log:\n  level: info\nlog:\n  level: debug\n');
    expect(error.message).toContain(
      'YAML syntax error: Map keys must be unique at line 3, column 1',
    );
  });

  it('refuses a second YAML document', () => {
    const { error } = errorFor(
      'log: {level: info}\n---\nlog: {level: debug}\n',
    );
    expect(error.message).toContain(
      'the file must hold a single YAML document, found a second one at line 2',
    );
  });

  it('refuses an alias to an undefined anchor', () => {
    const { error } = errorFor('data_dir: *nowhere\n');
    expect(error.key).toBe('(file)');
    expect(error.message).toContain('YAML error: Unresolved alias');
  });

  it.each<[string, string]>([
    ['- a\n- b\n', 'a list'],
    ['just text\n', '"just text"'],
    ['42\n', '42'],
  ])('refuses a top level that is not a mapping (%p)', (yaml, got) => {
    const { error, file } = errorFor(yaml);
    expect(error.key).toBe('(file)');
    expect(error.message).toBe(
      `Invalid configuration in ${file}: the top level must be a mapping of settings (data_dir, models, cache, ...), got ${got}`,
    );
  });

  it('refuses a non-scalar mapping key', () => {
    const { error } = errorFor('cache:\n  ? [a, b]\n  : 1\n');
    expect(error.key).toBe('cache');
    expect(error.message).toContain(
      'mapping keys must be plain names, got a list as a key',
    );
  });
});

describe('cache quotas', () => {
  it('names the label value whose limit is not a size', () => {
    expect(
      expectProblemAt(
        'cache:\n  quotas:\n    label: team\n    limits:\n      red: lots\n',
        'cache.quotas.limits',
      ),
    ).toMatch(/^"red": /);
  });

  it('needs a label', () => {
    expect(
      expectProblemAt(
        'cache:\n  quotas:\n    limits:\n      red: 1GiB\n',
        'cache.quotas.label',
      ),
    ).toContain('the model label whose values the limits apply to');
  });
});

describe('unknown keys', () => {
  it('lists the known keys of the section', () => {
    expect(
      expectProblemAt('cache:\n  max_memroy: 2GiB\n', 'cache.max_memroy'),
    ).toBe(
      'unknown key (known keys: max_memory, soft_limit, ttl, runtime_timeout, max_copies, predictive_preload, quotas)',
    );
  });

  it.each<[string, string]>([
    ['datadir: ./x\n', 'datadir'],
    ['storage:\n  s3:\n    bucket_name: b\n', 'storage.s3.bucket_name'],
    ['storage:\n  azure:\n    bucket: b\n', 'storage.azure.bucket'],
    ['storage:\n  local:\n    path: /x\n', 'storage.local.path'],
    ['gateway:\n  adminKey: abc\n', 'gateway.adminKey'],
    ['runtime:\n  threads: 2\n', 'runtime.threads'],
    [
      'models:\n  iris:\n    path: m\n    type: onnx\n    format: onnx\n',
      'models.iris.format',
    ],
  ])('refuses %p at %s', (yaml, key) => {
    expect(expectProblemAt(yaml, key, ['m'])).toMatch(
      /^unknown key \(known keys: /,
    );
  });

  it('lists the keys a model takes', () => {
    expect(
      expectProblemAt(
        'models:\n  iris:\n    path: m\n    type: onnx\n    memory_estimate_authorative: true\n',
        'models.iris.memory_estimate_authorative',
        ['m'],
      ),
    ).toBe(
      'unknown key (known keys: path, type, memory_estimate, memory_estimate_authoritative, preload, pinned, ttl, description, aliases, max_batch_size, max_queue_delay, processing, engine)',
    );
  });

  it('refuses keys that would touch the object prototype', () => {
    expect(
      expectProblemAt('__proto__:\n  polluted: true\n', '__proto__'),
    ).toMatch(/^unknown key/);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('wrong types and values', () => {
  it.each<[string, string, string]>([
    ['cache: 5\n', 'cache', 'expected a mapping, got 5'],
    ['nats: [a]\n', 'nats', 'expected a mapping, got a list'],
    ['data_dir: 42\n', 'data_dir', 'expected a path, got 42'],
    ['data_dir: ""\n', 'data_dir', 'expected a path, got ""'],
    [
      'gateway:\n  port: "80x"\n',
      'gateway.port',
      'expected an integer from 0 to 65535, got "80x"',
    ],
    [
      'gateway:\n  port: 65536\n',
      'gateway.port',
      'expected an integer from 0 to 65535, got 65536',
    ],
    [
      'gateway:\n  port: 80.5\n',
      'gateway.port',
      'expected an integer from 0 to 65535, got 80.5',
    ],
    [
      'gateway:\n  port:\n',
      'gateway.port',
      'expected an integer from 0 to 65535, got an empty value',
    ],
    [
      'gateway:\n  grpc_port: 70000\n',
      'gateway.grpc_port',
      'expected an integer from 0 to 65535, got 70000',
    ],
    [
      'gateway:\n  grpc_port: "no"\n',
      'gateway.grpc_port',
      'expected an integer from 0 to 65535, got "no"',
    ],
    [
      'gateway:\n  host: ""\n',
      'gateway.host',
      'expected a host name or address, got ""',
    ],
    [
      'gateway:\n  rate_limit:\n    requests_per_second: 0\n    burst: 5\n',
      'gateway.rate_limit.requests_per_second',
      'expected a number above 0 and at most 1000000, got 0',
    ],
    [
      'gateway:\n  rate_limit:\n    requests_per_second: 5\n    burst: 1.5\n',
      'gateway.rate_limit.burst',
      'expected an integer from 1 to 1000000, got 1.5',
    ],
    [
      'runtime:\n  workers: 0\n',
      'runtime.workers',
      'expected an integer from 1 to 64, got 0',
    ],
    [
      'runtime:\n  intra_op_threads: 65\n',
      'runtime.intra_op_threads',
      'expected an integer from 1 to 64, got 65',
    ],
    [
      'log:\n  level: trace\n',
      'log.level',
      'unknown log level "trace" (expected one of: error, warn, info, debug, verbose)',
    ],
    [
      'log:\n  level: 3\n',
      'log.level',
      'expected one of: error, warn, info, debug, verbose; got 3',
    ],
    [
      'cache:\n  max_memory: 2XB\n',
      'cache.max_memory',
      'invalid size "2XB" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)',
    ],
    [
      'cache:\n  max_memory: 0\n',
      'cache.max_memory',
      'must be at least 1 bytes, got 0',
    ],
    [
      'cache:\n  max_memory: true\n',
      'cache.max_memory',
      'expected a size such as 512MiB or 2GB, got true',
    ],
    [
      'gateway:\n  body_limit: -1MiB\n',
      'gateway.body_limit',
      'invalid size "-1MiB" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)',
    ],
    [
      'cache:\n  ttl: 5x\n',
      'cache.ttl',
      'invalid duration "5x" (expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d)',
    ],
    ['cache:\n  ttl: 0s\n', 'cache.ttl', 'must be longer than 0, got "0s"'],
    [
      'nats:\n  request_timeout: -3\n',
      'nats.request_timeout',
      'invalid duration -3 (expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d)',
    ],
    [
      'runtime:\n  load_timeout: [1]\n',
      'runtime.load_timeout',
      'expected a duration such as 500ms, 90s, 15m or 1h, got a list',
    ],
    [
      'cache:\n  soft_limit: 120%\n',
      'cache.soft_limit',
      'a percentage soft limit must be above 0% and at most 100%, got "120%"',
    ],
    [
      'cache:\n  soft_limit: 0%\n',
      'cache.soft_limit',
      'a percentage soft limit must be above 0% and at most 100%, got "0%"',
    ],
    [
      'cache:\n  soft_limit: lots\n',
      'cache.soft_limit',
      'invalid size "lots" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)',
    ],
    [
      'nats:\n  url: http://bus:4222\n',
      'nats.url',
      'expected a NATS URL such as nats://127.0.0.1:4222 (schemes: nats://, tls://, ws://, wss://), got "http://bus:4222"',
    ],
    [
      'nats:\n  subject_prefix: "a..b"\n',
      'nats.subject_prefix',
      'invalid value "a..b" (dot-separated tokens of letters, digits, _ and -, e.g. portfolio or acme.portfolio)',
    ],
    [
      'nats:\n  subject_prefix: "a.>"\n',
      'nats.subject_prefix',
      'invalid value "a.>" (dot-separated tokens of letters, digits, _ and -, e.g. portfolio or acme.portfolio)',
    ],
    [
      'runtime:\n  node_id: host.example.com\n',
      'runtime.node_id',
      'invalid value "host.example.com" (1 to 64 letters, digits, _ or -; it becomes a NATS subject token)',
    ],
    [
      'storage:\n  driver: ftp\n',
      'storage.driver',
      'unknown storage driver "ftp" (expected one of: local, s3, gcs, azure)',
    ],
    [
      'storage:\n  s3:\n    bucket: My_Bucket\n',
      'storage.s3.bucket',
      'invalid value "My_Bucket" (3 to 63 lower-case letters, digits, "." and "-")',
    ],
    [
      'storage:\n  gcs:\n    bucket: ab\n',
      'storage.gcs.bucket',
      'invalid value "ab" (3 to 222 lower-case letters, digits, ".", "_" and "-")',
    ],
    [
      'storage:\n  azure:\n    container: my--models\n',
      'storage.azure.container',
      'invalid value "my--models" (3 to 63 lower-case letters, digits and single "-")',
    ],
    [
      'storage:\n  s3:\n    prefix: a/../b\n',
      'storage.s3.prefix',
      'invalid prefix "a/../b" (/-separated folders of letters, digits, ".", "_" and "-")',
    ],
    [
      'storage:\n  gcs:\n    prefix: a//b\n',
      'storage.gcs.prefix',
      'invalid prefix "a//b" (/-separated folders of letters, digits, ".", "_" and "-")',
    ],
    [
      'storage:\n  s3:\n    region: US East\n',
      'storage.s3.region',
      'invalid value "US East" (a region name such as us-east-1)',
    ],
    [
      'storage:\n  s3:\n    endpoint: 127.0.0.1:9000\n',
      'storage.s3.endpoint',
      'expected an http:// or https:// URL such as https://s3.example.com, got "127.0.0.1:9000"',
    ],
    [
      'storage:\n  s3:\n    force_path_style: yes please\n',
      'storage.s3.force_path_style',
      'expected true or false, got "yes please"',
    ],
    [
      'storage:\n  gcs:\n    project_id: X\n',
      'storage.gcs.project_id',
      'invalid value "X" (a Google Cloud project id such as my-project-123)',
    ],
  ])('%p -> %s', (yaml, key, detail) => {
    expect(expectProblemAt(yaml, key)).toBe(detail);
  });

  it('never echoes the admin key', () => {
    const detail = expectProblemAt(
      'gateway:\n  admin_key: hunter2\n',
      'gateway.admin_key',
    );
    expect(detail).toBe('must be at least 16 characters long, got 7');
    expect(detail).not.toContain('hunter2');
    expect(
      expectProblemAt(
        'gateway:\n  admin_key: 12345678901234567890\n',
        'gateway.admin_key',
      ),
    ).toBe(
      'expected a string of at least 16 characters, got a number (quote it)',
    );
  });

  it('never echoes the query string (a SAS token) of a refused account URL', () => {
    const detail = expectProblemAt(
      'storage:\n  azure:\n    account_url: ftp://user:pw@acme.blob.core.windows.net/?sig=secret\n',
      'storage.azure.account_url',
    );
    expect(detail).toBe(
      'expected an http:// or https:// URL such as https://s3.example.com, got "ftp://***@acme.blob.core.windows.net/"',
    );
  });

  it('hides credentials in a refused database URL', () => {
    const detail = expectProblemAt(
      'database:\n  url: mysql://root:hunter2@db/app\n',
      'database.url',
    );
    expect(detail).toBe(
      'expected a URL starting with postgres:// or postgresql://, got "mysql://***@db/app"',
    );
  });

  it('never leaks zod wording', () => {
    const { error } = errorFor(
      'cache: 5\nnats:\n  url: 1\n  bogus: 2\nmodels:\n  a: 3\n  b: {}\nlog: []\n',
    );
    expect(error.problems.length).toBeGreaterThan(3);
    expect(error.message).not.toMatch(
      /Invalid input|Unrecognized key|received|expected object/,
    );
  });
});

describe('models', () => {
  it('refuses an invalid model id', () => {
    expect(
      expectProblemAt(
        'models:\n  Iris:\n    path: m\n    type: onnx\n',
        'models.Iris',
        ['m'],
      ),
    ).toBe(
      `invalid model id "Iris" (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters)`,
    );
    expect(
      expectProblemAt(
        `models:\n  ${'a'.repeat(129)}:\n    path: m\n    type: onnx\n`,
        `models.${'a'.repeat(129)}`,
        ['m'],
      ),
    ).toMatch(/^invalid model id/);
    expect(
      expectProblemAt(
        'models:\n  -iris:\n    path: m\n    type: onnx\n',
        'models.-iris',
        ['m'],
      ),
    ).toMatch(/^invalid model id/);
  });

  it('requires path and type', () => {
    expect(
      expectProblemAt('models:\n  iris:\n    type: onnx\n', 'models.iris.path'),
    ).toBe('required: the path of the model file or directory');
    expect(
      expectProblemAt('models:\n  iris:\n    path: m\n', 'models.iris.type', [
        'm',
      ]),
    ).toBe(
      'required: the model format, one of: onnx, tensorflow, pytorch, sklearn, huggingface, custom',
    );
  });

  it('refuses an unknown format, listing the allowed ones', () => {
    expect(
      expectProblemAt(
        'models:\n  iris:\n    path: m\n    type: tflite\n',
        'models.iris.type',
        ['m'],
      ),
    ).toBe(
      'unknown model type "tflite" (expected one of: onnx, tensorflow, pytorch, sklearn, huggingface, custom)',
    );
  });

  it('reports a bad memory estimate at the model key', () => {
    const { error, file } = errorFor(
      'models:\n  iris:\n    path: m\n    type: onnx\n    memory_estimate: 2XB\n',
      ['m'],
    );
    expect(error.key).toBe('models.iris.memory_estimate');
    expect(error.message).toBe(
      `Invalid configuration in ${file} at models.iris.memory_estimate: invalid size "2XB" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)`,
    );
  });

  it.each<[string, string, string]>([
    [
      '    preload: yes\n',
      'models.iris.preload',
      'expected true or false, got "yes"',
    ],
    ['    pinned: 1\n', 'models.iris.pinned', 'expected true or false, got 1'],
    [
      '    memory_estimate: 1MiB\n    memory_estimate_authoritative: "yes"\n',
      'models.iris.memory_estimate_authoritative',
      'expected true or false, got "yes"',
    ],
    [
      '    ttl: forever\n',
      'models.iris.ttl',
      'invalid duration "forever" (expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d)',
    ],
    [
      '    description: [a]\n',
      'models.iris.description',
      'expected a string, got a list',
    ],
    [
      '    aliases: production\n',
      'models.iris.aliases',
      'expected a list of alias names such as [production], got "production"',
    ],
    [
      '    aliases: [Prod]\n',
      'models.iris.aliases',
      'alias names are 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit; got "Prod"',
    ],
  ])('refuses %p', (extra, key, detail) => {
    expect(
      expectProblemAt(
        `models:\n  iris:\n    path: m\n    type: onnx\n${extra}`,
        key,
        ['m'],
      ),
    ).toBe(detail);
  });

  it('refuses a model that is not a mapping', () => {
    expect(
      expectProblemAt('models:\n  iris: ./iris.onnx\n', 'models.iris'),
    ).toBe('expected a mapping with at least path and type, got "./iris.onnx"');
  });

  it('refuses models written as a list', () => {
    expect(expectProblemAt('models:\n  - iris\n', 'models')).toBe(
      'expected a mapping of model id to model settings, got a list',
    );
  });

  it('refuses a model path that does not exist, naming the resolved path', () => {
    const { error, file, dir } = errorFor(
      'models:\n  iris:\n    path: ./missing/iris.onnx\n    type: onnx\n',
    );
    const resolved = path.join(dir, 'missing/iris.onnx');
    expect(error.key).toBe('models.iris.path');
    expect(error.message).toBe(
      `Invalid configuration in ${file} at models.iris.path: model path not found: ${resolved}`,
    );
  });
});

describe('rules across keys', () => {
  it('refuses an authoritative memory estimate that is not declared', () => {
    for (const estimate of ['', '    memory_estimate: null\n']) {
      expect(
        expectProblemAt(
          `models:\n  iris:\n    path: m\n    type: onnx\n${estimate}    memory_estimate_authoritative: true\n`,
          'models.iris.memory_estimate_authoritative',
          ['m'],
        ),
      ).toBe(
        'true needs a memory_estimate to make authoritative; set models.iris.memory_estimate or remove this key',
      );
    }
  });

  it('refuses a soft limit above max_memory', () => {
    expect(
      expectProblemAt(
        'cache:\n  max_memory: 1GiB\n  soft_limit: 1.5GiB\n',
        'cache.soft_limit',
      ),
    ).toBe('soft limit 1.5 GiB is larger than cache.max_memory, 1 GiB');
  });

  it('says when the max it is compared with is the default', () => {
    expect(
      expectProblemAt('cache:\n  soft_limit: 3GiB\n', 'cache.soft_limit'),
    ).toBe('soft limit 3 GiB is larger than cache.max_memory (default), 2 GiB');
  });

  it("refuses a runtime soft limit above the runtime's max memory", () => {
    expect(
      expectProblemAt(
        'runtime:\n  max_memory: 1GiB\n  soft_limit: 2GiB\n',
        'runtime.soft_limit',
      ),
    ).toBe('soft limit 2 GiB is larger than runtime.max_memory, 1 GiB');
    expect(
      expectProblemAt(
        'cache:\n  max_memory: 1GiB\nruntime:\n  soft_limit: 2GiB\n',
        'runtime.soft_limit',
      ),
    ).toBe(
      'soft limit 2 GiB is larger than cache.max_memory, 1 GiB, which the runtime uses while runtime.max_memory is not set',
    );
  });

  it('refuses a heartbeat interval that is not shorter than the runtime timeout', () => {
    expect(
      expectProblemAt(
        'runtime:\n  heartbeat_interval: 10s\n',
        'runtime.heartbeat_interval',
      ),
    ).toBe(
      'heartbeat interval 10s must be shorter than cache.runtime_timeout (default), 10s, or runtimes are declared dead between heartbeats',
    );
    expect(
      expectProblemAt(
        'cache:\n  runtime_timeout: 1s\n',
        'runtime.heartbeat_interval',
      ),
    ).toMatch(
      /^heartbeat interval 2s must be shorter than cache.runtime_timeout, 1s/,
    );
  });
});

describe('the storage driver', () => {
  it.each<[string, string, string]>([
    ['s3', 'storage.s3.bucket', 'bucket'],
    ['gcs', 'storage.gcs.bucket', 'bucket'],
    ['azure', 'storage.azure.container', 'container'],
  ])('%s needs its %s', (driver, key, what) => {
    expect(expectProblemAt(`storage:\n  driver: ${driver}\n`, key)).toBe(
      `required when storage.driver is ${driver} (the ${what} artifacts are stored in)`,
    );
  });

  it('says when the driver came from the environment', () => {
    const dir = tempDir();
    const error = catchConfigError(() =>
      loadConfig({
        file: null,
        env: { PORTFOLIO_STORAGE_DRIVER: 'gcs' },
        cwd: dir,
      }),
    );
    expect(error.key).toBe('storage.gcs.bucket');
    expect(error.problems[0]?.detail).toBe(
      'required when storage.driver (from PORTFOLIO_STORAGE_DRIVER) is gcs (the bucket artifacts are stored in)',
    );
  });

  it('takes the bucket of another driver without needing it', () => {
    const dir = tempDir();
    const config = loadConfig({
      file: null,
      env: { PORTFOLIO_STORAGE_S3_BUCKET: 'models' },
      cwd: dir,
    });
    expect(config.storage.driver).toBe('local');
    expect(config.storage.s3.bucket).toBe('models');
  });
});

describe('several problems', () => {
  it('reports all of them, one line each naming file and key; key and source are the first', () => {
    const { error, file } = errorFor(
      'cache:\n  max_memory: 2XB\ngateway:\n  port: -1\nbogus: 1\n',
    );
    const lines = error.message.split('\n');
    expect(lines).toEqual([
      `Invalid configuration in ${file} at cache.max_memory: invalid size "2XB" (expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB)`,
      `Invalid configuration in ${file} at gateway.port: expected an integer from 0 to 65535, got -1`,
      `Invalid configuration in ${file} at bogus: unknown key (known keys: data_dir, models, cache, nats, database, storage, auth, gateway, runtime, log, metrics)`,
    ]);
    expect(error.key).toBe('cache.max_memory');
    expect(error.source).toBe(file);
    expect(error.problems.map((p) => p.key)).toEqual([
      'cache.max_memory',
      'gateway.port',
      'bogus',
    ]);
  });

  it('combines environment and file problems: unknown variables first, then in schema order', () => {
    const dir = tempDir();
    const file = path.join(dir, 'p.yaml');
    fs.writeFileSync(file, 'log:\n  level: loud\n');
    const error = catchConfigError(() =>
      loadConfig({
        file,
        env: { PORTFOLIO_LOGLEVEL: 'x', PORTFOLIO_RUNTIME_WORKERS: 'many' },
        cwd: dir,
      }),
    );
    expect(error.problems.map((p) => [p.source, p.key])).toEqual([
      ['environment variable PORTFOLIO_LOGLEVEL', 'PORTFOLIO_LOGLEVEL'],
      [
        'environment variable PORTFOLIO_RUNTIME_WORKERS',
        'PORTFOLIO_RUNTIME_WORKERS',
      ],
      [file, 'log.level'],
    ]);
    expect(error.message).toContain(
      'PORTFOLIO_LOGLEVEL: unknown variable; did you mean PORTFOLIO_LOG_LEVEL?',
    );
  });
});
