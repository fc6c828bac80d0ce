import { z } from 'zod';

import {
  EXECUTION_PROVIDERS,
  GRAPH_OPTIMIZATION_LEVELS,
} from '@portfolio/contracts';
import type { ConfigProblem } from './config.types';
import {
  ADMIN_KEY_MIN_LENGTH,
  LOG_FORMATS,
  LOG_LEVELS,
  MODEL_FORMATS,
  NODE_ID_PATTERN,
  AZURE_CONTAINER_PATTERN,
  CLOUD_REGION_PATTERN,
  GCP_PROJECT_ID_PATTERN,
  GCS_BUCKET_PATTERN,
  S3_BUCKET_PATTERN,
  STORAGE_DRIVERS,
  SUBJECT_PREFIX_PATTERN,
} from './config.constants';
import { describeValue } from './describe-value.util';
import {
  nullable,
  parseBooleanValue,
  parsePositiveNumberValue,
  parseChoiceValue,
  parseAliasListValue,
  parseDurationValue,
  parseIntegerValue,
  parseNatsUrlValue,
  parsePatternValue,
  parsePostgresUrlValue,
  parseSecretValue,
  parseSizeValue,
  parseProcessingValue,
  parseSoftLimitValue,
  parseHttpUrlValue,
  parseStoragePrefixValue,
  parseStringValue,
  required,
  parseImportSourcesValue,
} from './value-parsers.util';

/**
 * The file's schema. Zod checks the structure (strict mappings, so unknown keys
 * anywhere are refused); every leaf runs one of our own parsers so each message
 * is ours, never zod's wording. The output is "what the user wrote, parsed":
 * absent keys stay undefined and defaults are applied later, where the origin
 * of each value (file, environment, default) is known.
 *
 * `models` is not part of this schema: its entries are validated one by one
 * (see modelSchema) so file order and per-id error keys are kept.
 */

function leaf<T>(parse: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: error instanceof Error ? error.message : String(error),
      });
      return z.NEVER;
    }
  });
}

function optional<T>(parse: (value: unknown) => T) {
  return leaf(parse).optional();
}

/**
 * A strict mapping. An empty section (`cache:` with everything commented out)
 * is YAML null and is taken as an empty mapping.
 */
function section<Shape extends z.ZodRawShape>(
  shape: Shape,
  expected = 'a mapping',
) {
  const known = Object.keys(shape).join(', ');
  const strict = z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key (known keys: ${known})`
        : `expected ${expected}, got ${describeValue(issue.input)}`,
  });
  return z.preprocess((value) => (value === null ? {} : value), strict);
}

/**
 * A port (0: any free one), or `off` / null: not served at all. `off` is there for the
 * environment, which cannot say null.
 */
const parsePortOrOff = (value: unknown): number | null =>
  value === null || value === 'off' ? null : parseIntegerValue(value, 0, 65535);
const durationOrOff = (value: unknown): number | null =>
  value === null || value === 'off' ? null : parseDurationValue(value);
const positiveSize = (value: unknown) => parseSizeValue(value, { min: 1 });
const duration = (value: unknown) => parseDurationValue(value);
const anyText = (value: unknown) => {
  if (typeof value !== 'string')
    throw new Error(`expected a string, got ${describeValue(value)}`);
  return value;
};
const path = (value: unknown) => parseStringValue(value, 'a path');
/** `{ <label value>: <size> }`, e.g. quota limits per team. */
const parseSizeMapValue = (value: unknown): Record<string, number> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(
      `expected a mapping of label values to sizes, got ${describeValue(value)}`,
    );
  const out: Record<string, number> = {};
  for (const [name, size] of Object.entries(value)) {
    try {
      out[name] = parseSizeValue(size, { min: 1 });
    } catch (e) {
      throw new Error(
        `"${name}": ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return out;
};

export const modelSchema = section(
  {
    path: leaf(required(path, 'the path of the model file or directory')),
    type: leaf(
      required(
        (value) => parseChoiceValue(value, MODEL_FORMATS, 'model type'),
        `the model format, one of: ${MODEL_FORMATS.join(', ')}`,
      ),
    ),
    memory_estimate: optional(nullable(positiveSize)),
    memory_estimate_authoritative: optional(parseBooleanValue),
    preload: optional(parseBooleanValue),
    pinned: optional(parseBooleanValue),
    ttl: optional(nullable(duration)),
    description: optional(nullable(anyText)),
    aliases: optional(parseAliasListValue),
    max_batch_size: optional(
      nullable((value) => parseIntegerValue(value, 1, 65_536)),
    ),
    max_queue_delay: optional(nullable(duration)),
    processing: optional(nullable(parseProcessingValue)),
    engine: section({
      threads: optional((value) => parseIntegerValue(value, 1, 64)),
      graph_optimization: optional((value) =>
        parseChoiceValue(
          value,
          GRAPH_OPTIMIZATION_LEVELS,
          'graph optimization level',
        ),
      ),
      memory_arena: optional(parseBooleanValue),
      execution_provider: optional((value) =>
        parseChoiceValue(value, EXECUTION_PROVIDERS, 'execution provider'),
      ),
    }).optional(),
  },
  'a mapping with at least path and type',
);

export const configFileSchema = section({
  data_dir: optional(path),
  models: z.unknown().optional(),
  cache: section({
    max_memory: optional(positiveSize),
    soft_limit: optional(parseSoftLimitValue),
    ttl: optional(nullable(duration)),
    runtime_timeout: optional(duration),
    max_copies: optional((value) => parseIntegerValue(value, 1, 64)),
    predictive_preload: optional(parseBooleanValue),
    quotas: section(
      {
        label: leaf(
          required(
            (value) => parseStringValue(value, 'a label name'),
            'the model label whose values the limits apply to, e.g. team',
          ),
        ),
        limits: leaf(
          required(parseSizeMapValue, 'label value: size, e.g. red: 4GiB'),
        ),
      },
      'a mapping with label and limits',
    ).optional(),
  }).optional(),
  nats: section({
    url: optional(parseNatsUrlValue),
    subject_prefix: optional((value) =>
      parsePatternValue(
        value,
        SUBJECT_PREFIX_PATTERN,
        'dot-separated tokens of letters, digits, _ and -, e.g. portfolio or acme.portfolio',
      ),
    ),
    request_timeout: optional(duration),
  }).optional(),
  database: section({
    url: optional(nullable(parsePostgresUrlValue)),
  }).optional(),
  storage: section({
    driver: optional((value) =>
      parseChoiceValue(value, STORAGE_DRIVERS, 'storage driver'),
    ),
    work_dir: optional(nullable(path)),
    local: section({
      root: optional(path),
    }).optional(),
    s3: section({
      bucket: optional(
        nullable((value) =>
          parsePatternValue(
            value,
            S3_BUCKET_PATTERN,
            '3 to 63 lower-case letters, digits, "." and "-"',
          ),
        ),
      ),
      prefix: optional(nullable(parseStoragePrefixValue)),
      region: optional(
        nullable((value) =>
          parsePatternValue(
            value,
            CLOUD_REGION_PATTERN,
            'a region name such as us-east-1',
          ),
        ),
      ),
      endpoint: optional(nullable(parseHttpUrlValue)),
      force_path_style: optional(parseBooleanValue),
    }).optional(),
    gcs: section({
      bucket: optional(
        nullable((value) =>
          parsePatternValue(
            value,
            GCS_BUCKET_PATTERN,
            '3 to 222 lower-case letters, digits, ".", "_" and "-"',
          ),
        ),
      ),
      prefix: optional(nullable(parseStoragePrefixValue)),
      project_id: optional(
        nullable((value) =>
          parsePatternValue(
            value,
            GCP_PROJECT_ID_PATTERN,
            'a Google Cloud project id such as my-project-123',
          ),
        ),
      ),
      endpoint: optional(nullable(parseHttpUrlValue)),
    }).optional(),
    azure: section({
      container: optional(
        nullable((value) =>
          parsePatternValue(
            value,
            AZURE_CONTAINER_PATTERN,
            '3 to 63 lower-case letters, digits and single "-"',
          ),
        ),
      ),
      prefix: optional(nullable(parseStoragePrefixValue)),
      account_url: optional(nullable(parseHttpUrlValue)),
    }).optional(),
    import: section({
      sources: optional(parseImportSourcesValue),
    }).optional(),
    gc: section({
      interval: optional(durationOrOff),
      min_age: optional(duration),
    }).optional(),
    trial_load: section({
      enabled: optional(parseBooleanValue),
      timeout: optional(duration),
      memory_limit: optional(positiveSize),
    }).optional(),
  }).optional(),
  auth: section({
    enabled: optional(parseBooleanValue),
  }).optional(),
  gateway: section({
    host: optional((value) =>
      parseStringValue(value, 'a host name or address'),
    ),
    port: optional((value) => parseIntegerValue(value, 0, 65535)),
    grpc_port: optional(parsePortOrOff),
    admin_key: optional(
      nullable((value) => parseSecretValue(value, ADMIN_KEY_MIN_LENGTH)),
    ),
    body_limit: optional(positiveSize),
    upload_limit: optional(positiveSize),
    request_timeout: optional(duration),
    max_json_elements: optional((value) =>
      parseIntegerValue(value, 1, 1_000_000_000),
    ),
    max_in_flight_per_model: optional((value) =>
      parseIntegerValue(value, 1, 1_000_000),
    ),
    json_offload: optional(parseBooleanValue),
    rate_limit: section(
      {
        requests_per_second: leaf(
          required(
            (value) => parsePositiveNumberValue(value, 1_000_000),
            'tokens added a second, e.g. 50',
          ),
        ),
        burst: leaf(
          required(
            (value) => parseIntegerValue(value, 1, 1_000_000),
            'most requests at once, e.g. 100',
          ),
        ),
      },
      'a mapping with requests_per_second and burst',
    )
      .nullable()
      .optional(),
  }).optional(),
  runtime: section({
    node_id: optional((value) =>
      parsePatternValue(
        value,
        NODE_ID_PATTERN,
        '1 to 64 letters, digits, _ or -; it becomes a NATS subject token',
      ),
    ),
    max_memory: optional(nullable(positiveSize)),
    soft_limit: optional(nullable(parseSoftLimitValue)),
    workers: optional((value) => parseIntegerValue(value, 1, 64)),
    intra_op_threads: optional((value) => parseIntegerValue(value, 1, 64)),
    heartbeat_interval: optional(duration),
    load_timeout: optional(duration),
    request_log: optional(nullable(path)),
    inline_max_size: optional((value) => parseSizeValue(value)),
    max_batch_size: optional((value) => parseIntegerValue(value, 1, 65_536)),
    max_queue_delay: optional((value) =>
      parseDurationValue(value, { positive: false }),
    ),
    artifact_cache: section({
      dir: optional(nullable(path)),
      max_size: optional(positiveSize),
    }).optional(),
    python: optional(path),
  }).optional(),
  log: section({
    level: optional((value) =>
      parseChoiceValue(value, LOG_LEVELS, 'log level'),
    ),
    format: optional((value) =>
      parseChoiceValue(value, LOG_FORMATS, 'log format'),
    ),
  }).optional(),
  metrics: section({
    port: optional((value) => parseIntegerValue(value, 0, 65535)),
  }).optional(),
});

export type ConfigFileSettings = z.output<typeof configFileSchema>;
export type ModelSettings = z.output<typeof modelSchema>;

/** Where a dotted key's value came from, for the problem's `source` and `key`. */
export type Locate = (key: string) => Pick<ConfigProblem, 'source' | 'key'>;

export type Validation<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: ConfigProblem[] };

/**
 * Runs a schema and turns zod's issues into problems. Every message was written
 * by the parsers or the section error map above; an issue code we did not
 * anticipate still gets a location and a neutral message, never zod's text.
 */
export function validate<T>(
  schema: z.ZodType<T>,
  value: unknown,
  prefix: readonly string[],
  locate: Locate,
): Validation<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };

  const problems = result.error.issues.flatMap((issue): ConfigProblem[] => {
    const at = [...prefix, ...issue.path.map(String)];
    const detail =
      issue.code === 'custom' ||
      issue.code === 'unrecognized_keys' ||
      issue.code === 'invalid_type'
        ? issue.message
        : 'invalid value';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        ...locate([...at, key].join('.')),
        detail,
      }));
    }
    return [{ ...locate(at.join('.')), detail }];
  });
  return { ok: false, problems };
}
