import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  SchemaObject,
} from '@nestjs/swagger';
import { z } from 'zod';

import {
  ALIAS_PATTERN,
  ClusterStatus,
  DatatypeSchema,
  ModelRecordSchema,
  ModelStatus,
  SignatureSchema,
  VersionNumber,
  VersionRecordSchema,
} from '@portfolio/contracts';

import {
  ApiErrors,
  ApiJson,
  ErrorCase,
  openApiSchema,
} from '../openapi/openapi';

/*
 * The OpenAPI description of /v1 (docs/api.md, "Client API"). The predict body is parsed
 * by hand (PredictService.parseV1Inputs, tensorFromJson), so its schema is written here;
 * the answers are described from the zod schemas of the records they are made of.
 */

export const MODEL_ID_PARAM = ApiParam({
  name: 'modelId',
  description:
    'The model id: `^[a-z0-9][a-z0-9._-]{0,127}$` (else 400 `INVALID_MODEL_ID`).',
  example: 'iris',
});

/** A tensor given explicitly; its datatype must be the signature's. */
const TensorObject: SchemaObject = {
  type: 'object',
  required: ['shape', 'datatype', 'data'],
  description:
    'An explicit tensor: `data` flat row-major or nested; other keys (`name`) are ignored.',
  properties: {
    shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
    datatype: openApiSchema(DatatypeSchema),
    data: { type: 'array', items: {} },
  },
};

/** A nested array following the shape (or a bare scalar); the datatype is the signature's. */
const NestedTensor: SchemaObject = {
  description:
    'A nested array (rectangular) or a bare scalar: numbers, booleans, strings (BYTES, or INT64/UINT64 beyond 2^53 as decimal strings).',
};

export const PREDICT_REQUEST_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['inputs'],
  properties: {
    inputs: {
      description:
        'Every input of the signature, by name, and no other; a model with a single input may be given its one tensor as an array.',
      oneOf: [
        {
          type: 'object',
          additionalProperties: { oneOf: [TensorObject, NestedTensor] },
        },
        { type: 'array', items: {} },
      ],
    },
  },
};

export const PREDICT_REQUEST_EXAMPLES = {
  nested: {
    summary: 'Named inputs as nested arrays',
    value: {
      inputs: {
        x: [
          [5.1, 3.5, 1.4, 0.2],
          [7, 3.2, 4.7, 1.4],
        ],
      },
    },
  },
  tensor: {
    summary: 'An explicit tensor',
    value: {
      inputs: {
        x: {
          shape: [2, 4],
          datatype: 'FP32',
          data: [5.1, 3.5, 1.4, 0.2, 7, 3.2, 4.7, 1.4],
        },
      },
    },
  },
  single: {
    summary: 'A single-input model',
    value: { inputs: [[5.1, 3.5, 1.4, 0.2]] },
  },
};

const PREDICT_RESPONSE_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['model_id', 'model_version', 'outputs'],
  properties: {
    model_id: { type: 'string' },
    model_version: openApiSchema(VersionNumber),
    outputs: {
      type: 'object',
      description:
        'Each output as a nested array following its shape (a scalar output as a bare value).',
      additionalProperties: {},
    },
  },
};

/** 404, 413, 422, 503, 504, 507 of anything that runs or loads a model (docs/api.md). */
export const INFERENCE_ERRORS: ErrorCase[] = [
  {
    status: 404,
    codes: ['MODEL_NOT_FOUND', 'VERSION_NOT_FOUND'],
    when: 'the model is not registered; the version does not exist, or the model has no ready version yet',
  },
  {
    status: 413,
    codes: ['PAYLOAD_TOO_LARGE'],
    when: 'the body is over gateway.body_limit, or the tensors are larger than one bus message to a runtime may be',
  },
  {
    status: 422,
    codes: ['MODEL_LOAD_FAILED'],
    when: 'the runtime could not load the model',
  },
  {
    status: 503,
    codes: ['NO_RUNTIME', 'SERVICE_UNAVAILABLE'],
    when: 'no runtime is available, a service the request needs does not answer, or the bus is down (Retry-After: 1)',
  },
  {
    status: 504,
    codes: ['TIMEOUT'],
    when: 'the inference took longer than gateway.request_timeout, or the load longer than runtime.load_timeout',
  },
  {
    status: 507,
    codes: ['INSUFFICIENT_MEMORY'],
    when: 'the model does not fit, even after unloading everything that may be unloaded',
  },
];

export const PredictDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Run a model',
      description:
        'Runs the model at its default version (where alias `production` points, else the highest ready one), at `version`, or at the version `alias` points at. The first request for a model no runtime holds waits while it is loaded.',
    }),
    MODEL_ID_PARAM,
    ApiQuery({
      name: 'version',
      required: false,
      description:
        'A positive integer; default: where alias `production` points, else the highest ready version.',
      schema: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
      example: '1',
    }),
    ApiQuery({
      name: 'alias',
      required: false,
      description:
        'A version by its alias (not with version): 404 `ALIAS_NOT_FOUND` when the model has no such alias.',
      schema: { type: 'string', pattern: ALIAS_PATTERN.source },
    }),
    ApiQuery({
      name: 'outputs',
      required: false,
      description: 'Comma-separated output names to return; default: all.',
      schema: { type: 'string' },
      example: 'probabilities,label',
    }),
    ApiBody({
      schema: PREDICT_REQUEST_SCHEMA,
      examples: PREDICT_REQUEST_EXAMPLES,
    }),
    ApiJson(200, 'The outputs', PREDICT_RESPONSE_SCHEMA, {
      model_id: 'iris',
      model_version: 1,
      outputs: {
        probabilities: [
          [0.9969, 0.003, 8.0e-14],
          [0.0002, 0.9871, 0.0127],
        ],
        label: [0, 1],
      },
    }),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_REQUEST', 'INVALID_INPUT', 'INVALID_MODEL_ID'],
        when: 'the body is not JSON or has no inputs, version is not a positive integer; an unknown, missing or malformed input, a wrong shape or datatype, an unknown output',
      },
      ...INFERENCE_ERRORS,
    ),
  );

/** `GET /v1/models/{id}/metadata`, from the records it is made of. */
const ModelMetadata = ModelRecordSchema.pick({
  id: true,
  format: true,
  description: true,
  labels: true,
  preload: true,
  pinned: true,
  ttl_ms: true,
  created_at: true,
}).extend({
  versions: z.array(
    VersionRecordSchema.pick({
      version: true,
      status: true,
      created_at: true,
      size_bytes: true,
      sha256: true,
    }),
  ),
  aliases: z.record(z.string(), z.number()),
  default_version: VersionNumber.nullable(),
  signature: SignatureSchema.nullable(),
  memory: z.object({
    declared_bytes: z.number().int().nonnegative().nullable(),
    authoritative: z.boolean(),
    measured_bytes: z.number().int().nonnegative().nullable(),
    measured_at: z.string().nullable(),
  }),
  cache: z.array(ModelStatus.omit({ model_id: true })).nullable(),
});

const CACHE_ENTRY = {
  version: 1,
  state: 'loaded',
  reason: null,
  nodes: ['runtime-1'],
  memory_bytes: 786432,
  last_used_at: null,
  hits: 0,
  misses: 1,
  loads: 1,
  evictions: 0,
  evictions_by_reason: {},
  load_ms: 3.9,
};

export const MetadataDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'A model: versions, signature, memory, cache state',
      description:
        '`default_version` is where alias `production` points, else the highest ready version (`null` before the first upload, and `signature` with it); `cache` is `null` when the cache-manager does not answer.',
    }),
    MODEL_ID_PARAM,
    ApiJson(200, 'The model', openApiSchema(ModelMetadata), {
      id: 'iris',
      format: 'onnx',
      description: "Fisher's iris, softmax regression",
      labels: {},
      preload: true,
      pinned: false,
      ttl_ms: null,
      created_at: '2026-01-05T10:00:00.000Z',
      versions: [
        {
          version: 1,
          status: 'ready',
          created_at: '2026-01-05T10:00:00.000Z',
          size_bytes: 1413,
          sha256:
            '3b99c2f5e0f4a1d8b7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4',
        },
      ],
      aliases: { production: 1 },
      default_version: 1,
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
          { name: 'label', datatype: 'INT64', shape: [-1] },
        ],
      },
      memory: {
        declared_bytes: 4194304,
        authoritative: false,
        measured_bytes: 786432,
        measured_at: null,
      },
      cache: [CACHE_ENTRY],
    }),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_MODEL_ID'],
        when: 'the model id is not valid',
      },
      {
        status: 404,
        codes: ['MODEL_NOT_FOUND'],
        when: 'the model is not registered',
      },
    ),
  );

/** The cluster as the gateway shows it: registered models not seen yet have `version: null`. */
const StatusView = ClusterStatus.extend({
  models: z.array(ModelStatus.extend({ version: VersionNumber.nullable() })),
});

export const StatusDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'The cluster as the cache-manager sees it',
      description:
        'Runtimes (live, then lost ones as last seen), every model version with its state and counters, totals and quotas.',
    }),
    ApiJson(200, 'The cluster', openApiSchema(StatusView), {
      generated_at: '2026-01-05T10:00:00.000Z',
      runtimes: [
        {
          node_id: 'runtime-1',
          alive: true,
          capacity_bytes: 2147483648,
          soft_limit_bytes: 1932735283,
          used_bytes: 786432,
          memory: {
            models_bytes: 786432,
            loading_bytes: 0,
            unloading_bytes: 0,
            base_bytes: 200962048,
          },
          rss_bytes: 433446912,
          models_loaded: 1,
          started_at: '2026-01-05T09:59:00.000Z',
          last_seen_at: '2026-01-05T10:00:00.000Z',
        },
      ],
      models: [{ model_id: 'iris', ...CACHE_ENTRY }],
      totals: {
        runtimes_alive: 1,
        capacity_bytes: 2147483648,
        used_bytes: 786432,
        models_loaded: 1,
      },
      quotas: [
        {
          label: 'team',
          value: 'red',
          limit_bytes: 1073741824,
          used_bytes: 786432,
        },
      ],
    }),
    ApiErrors({
      status: 503,
      codes: ['SERVICE_UNAVAILABLE'],
      when: 'the cache-manager does not answer',
    }),
  );

const COMPONENT: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'down'] },
    detail: { type: 'string', description: 'Why, when it is not ok.' },
    latency_ms: { type: 'number' },
    alive: { type: 'integer', description: '`runtimes` only.' },
    lost: {
      type: 'array',
      items: { type: 'string' },
      description: '`runtimes` only.',
    },
  },
};

const HEALTH_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['status', 'components'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'down'] },
    components: {
      type: 'object',
      properties: {
        bus: COMPONENT,
        registry: COMPONENT,
        storage: COMPONENT,
        cache_manager: COMPONENT,
        runtimes: COMPONENT,
      },
    },
  },
};

export const HealthDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Health of the gateway and the services behind it',
      description:
        '`down` (503, `Retry-After: 5`) when the bus is disconnected or the registry is down; `degraded` (200) when storage, the cache-manager or the runtimes are not ok; else `ok`.',
    }),
    ApiJson(200, '`ok` or `degraded`', HEALTH_SCHEMA, {
      status: 'ok',
      components: {
        bus: { status: 'ok' },
        registry: { status: 'ok', latency_ms: 2 },
        storage: { status: 'ok', latency_ms: 2 },
        cache_manager: { status: 'ok', latency_ms: 2 },
        runtimes: { status: 'ok', alive: 1, lost: [] },
      },
    }),
    ApiResponse({
      status: 503,
      description:
        '`down`: the bus is disconnected or the registry is down (`Retry-After: 5`)',
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
      content: {
        'application/json': {
          schema: HEALTH_SCHEMA,
          example: {
            status: 'down',
            components: {
              bus: { status: 'ok' },
              registry: {
                status: 'down',
                detail: 'the registry does not answer',
              },
              storage: { status: 'ok', latency_ms: 2 },
              cache_manager: { status: 'ok', latency_ms: 2 },
              runtimes: { status: 'ok', alive: 1, lost: [] },
            },
          },
        },
      },
    }),
  );
