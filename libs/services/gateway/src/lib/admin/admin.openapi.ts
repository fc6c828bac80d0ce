import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiParam,
  ApiQuery,
  SchemaObject,
} from '@nestjs/swagger';
import { z } from 'zod';

import {
  AdminLoadResponse,
  AdminUnloadResponse,
  DeleteAliasResponse,
  GcReport,
  ListAuditResponse,
  MAX_PAGE_SIZE,
  ModelRecordSchema,
  VersionRecordSchema,
} from '@portfolio/contracts';

import {
  ApiErrors,
  ApiJson,
  ErrorCase,
  openApiSchema,
} from '../openapi/openapi';
import { INFERENCE_ERRORS, MODEL_ID_PARAM } from '../v1/v1.openapi';
import {
  AliasMoveSchema,
  CreateModelBody,
  DEFAULT_PAGE_SIZE,
  DeletedModelSchema,
  DeletedVersionSchema,
  GcBody,
  LoadBody,
  PatchModelBody,
  PatchVersionBody,
  SetAliasBody,
  UnloadBody,
} from './admin.dto';

/*
 * The OpenAPI description of /admin/models (docs/api.md, "Admin API"). Bodies and
 * answers are described from the zod schemas that validate them (admin.dto.ts) and the
 * registry's records, so the document says what the code accepts.
 */

const MODEL_RECORD = openApiSchema(ModelRecordSchema);
const VERSION_RECORD = openApiSchema(VersionRecordSchema);

const CREATED = '2026-01-05T10:00:00.000Z';
const SHA = '3b99c2f5e0f4a1d8b7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4';
const SIGNATURE = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};

export const CREATE_MODEL_EXAMPLE = {
  id: 'fraud',
  format: 'onnx',
  description: 'card fraud scores',
  memory_estimate: '512MiB',
  memory_estimate_authoritative: false,
  preload: false,
  pinned: false,
  ttl: '1h',
  labels: { team: 'red' },
};

const MODEL_EXAMPLE = {
  id: 'fraud',
  format: 'onnx',
  description: 'card fraud scores',
  memory_estimate_bytes: 536870912,
  memory_estimate_authoritative: false,
  preload: false,
  pinned: false,
  ttl_ms: 3600000,
  labels: { team: 'red' },
  created_at: CREATED,
  updated_at: CREATED,
};

const VERSION_EXAMPLE = {
  model_id: 'fraud',
  version: 1,
  format: 'onnx',
  artifact_uri: `local:fraud/${SHA}/model.onnx`,
  sha256: SHA,
  size_bytes: 1413,
  signature: SIGNATURE,
  status: 'ready',
  created_at: CREATED,
  measured: { memory_bytes: 786432, load_ms: 3.9, measured_at: CREATED },
};

const VERSION_PARAM = ApiParam({
  name: 'version',
  description: 'A version number (a positive integer).',
  example: '1',
});

const BAD_MODEL_ID: ErrorCase = {
  status: 400,
  codes: ['INVALID_MODEL_ID'],
  when: 'the model id is not valid',
};
const NO_MODEL: ErrorCase = {
  status: 404,
  codes: ['MODEL_NOT_FOUND'],
  when: 'the model is not registered',
};
const NO_VERSION: ErrorCase = {
  status: 404,
  codes: ['MODEL_NOT_FOUND', 'VERSION_NOT_FOUND'],
  when: 'the model is not registered, or the version does not exist',
};
const BAD_BODY: ErrorCase = {
  status: 400,
  codes: ['INVALID_REQUEST', 'INVALID_MODEL_ID'],
  when: 'a bad body (other keys, a field of the wrong type; the message names the field)',
};
const CACHE_MANAGER_DOWN: ErrorCase = {
  status: 503,
  codes: ['SERVICE_UNAVAILABLE', 'NO_RUNTIME'],
  when: 'the cache-manager does not answer, or fewer runtimes can take a copy than asked for',
};

export const CreateModelDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Register a model',
      description:
        'Only `id` and `format` are required; other keys are refused. `format` is one of onnx, tensorflow, pytorch, sklearn, huggingface, custom. `memory_estimate` is bytes or a size (`512MiB`), `ttl` seconds or a duration (`1h`).',
    }),
    ApiBody({
      schema: openApiSchema(CreateModelBody, 'input'),
      examples: { fraud: { summary: 'A model', value: CREATE_MODEL_EXAMPLE } },
    }),
    ApiJson(201, 'The model record', MODEL_RECORD, MODEL_EXAMPLE),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_REQUEST', 'INVALID_MODEL_ID', 'UNSUPPORTED_FORMAT'],
        when: 'a bad body, a bad id, or a format not supported yet',
      },
      { status: 409, codes: ['MODEL_EXISTS'], when: 'the id is taken' },
    ),
  );

export const ListModelsDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Registered models, a page at a time',
      description: `In id order: at most \`limit\` (1 to ${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}) after the id \`after\`. \`next\` is the \`after\` of the following page, \`null\` on the last. \`label=KEY:VALUE\` (repeatable) keeps the models with every label given.`,
    }),
    ApiQuery({ name: 'limit', required: false, example: '100' }),
    ApiQuery({
      name: 'after',
      required: false,
      description: 'A model id: the page starts after it.',
    }),
    ApiQuery({
      name: 'label',
      required: false,
      description: 'KEY:VALUE; may be given several times.',
      example: 'team:red',
    }),
    ApiJson(
      200,
      'A page of models',
      openApiSchema(
        z.object({
          models: z.array(ModelRecordSchema),
          next: z.string().nullable(),
        }),
      ),
      { models: [MODEL_EXAMPLE], next: null },
    ),
    ApiErrors({
      status: 400,
      codes: ['INVALID_REQUEST'],
      when: 'a limit out of range, an `after` that is not a model id, or a label not written KEY:VALUE',
    }),
  );

export const GetModelDocs = () =>
  applyDecorators(
    ApiOperation({ summary: 'A model and its versions' }),
    MODEL_ID_PARAM,
    ApiJson(
      200,
      'The model',
      openApiSchema(
        z.object({
          model: ModelRecordSchema,
          versions: z.array(VersionRecordSchema),
        }),
      ),
      { model: MODEL_EXAMPLE, versions: [VERSION_EXAMPLE] },
    ),
    ApiErrors(BAD_MODEL_ID, NO_MODEL),
  );

export const ListVersionsDocs = () =>
  applyDecorators(
    ApiOperation({ summary: 'The versions of a model' }),
    MODEL_ID_PARAM,
    ApiJson(
      200,
      'The versions',
      openApiSchema(z.object({ versions: z.array(VersionRecordSchema) })),
      { versions: [VERSION_EXAMPLE] },
    ),
    ApiErrors(BAD_MODEL_ID, NO_MODEL),
  );

export const GetVersionDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'A version',
      description:
        "`measured` is the registry's latest memory measurement of the version, `null` before its first load.",
    }),
    MODEL_ID_PARAM,
    VERSION_PARAM,
    ApiJson(200, 'The version record', VERSION_RECORD, VERSION_EXAMPLE),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_MODEL_ID', 'INVALID_REQUEST'],
        when: 'the model id is not valid, or the version is not a positive integer',
      },
      NO_VERSION,
    ),
  );

/** What the upload answers: the version record without its storage key and measurement. */
const UploadedVersion = VersionRecordSchema.omit({
  artifact_uri: true,
  measured: true,
});

export const UploadVersionDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Upload an artifact: the next version',
      description:
        "The artifact is the request body, streamed to storage, hashed and validated for the model's format (ONNX: tensor inputs and outputs; weights in external data files only when those files come with it); its signature is read from it. The body is the model file, or a tar (optionally gzipped) or zip archive of its files, or a `multipart/form-data` form with its files in field `artifact` (each part's file name is its path; one part may be an archive). Several files are one artifact: the one `.onnx` file is loaded, the others sit beside it; its `sha256` is the digest of its files' manifest. Archives with paths leading out, links, more than 1000 files or a decompression bomb are refused (422) with nothing stored. The same bytes uploaded again make a new version. Nothing is left behind when an upload fails.",
    }),
    MODEL_ID_PARAM,
    ApiConsumes(
      'application/octet-stream',
      'application/x-tar',
      'application/gzip',
      'application/zip',
      'multipart/form-data',
    ),
    ApiBody({
      required: true,
      schema: {
        type: 'string',
        format: 'binary',
        description:
          'The model file or an archive of its files (`application/octet-stream`, `application/x-tar`, `application/gzip`, `application/zip`), or a form with the files in field `artifact` (`multipart/form-data`); any other type: 400.',
      } satisfies SchemaObject,
    }),
    ApiJson(201, 'The new version', openApiSchema(UploadedVersion), {
      model_id: 'fraud',
      version: 1,
      format: 'onnx',
      sha256: SHA,
      size_bytes: 1413,
      signature: SIGNATURE,
      status: 'ready',
      created_at: CREATED,
    }),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_REQUEST', 'INVALID_MODEL_ID'],
        when: 'the Content-Type is none of those accepted, a form has no file in field `artifact` or has other fields, or the model id is not valid',
      },
      { ...NO_MODEL, when: 'the model is not registered (register it first)' },
      {
        status: 413,
        codes: ['PAYLOAD_TOO_LARGE'],
        when: 'the artifact is over gateway.upload_limit',
      },
      {
        status: 422,
        codes: ['INVALID_ARTIFACT', 'FORMAT_UNAVAILABLE'],
        when: "the file is not a valid artifact of the model's format, or an archive is unsafe or over a limit (the message says what is wrong); FORMAT_UNAVAILABLE: this server lacks what the format needs (the message names what to install)",
      },
    ),
  );

const byStatus = (status: number) =>
  INFERENCE_ERRORS.filter((e) => e.status === status);

export const LoadDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Load a version now, on one or more runtimes',
      description:
        '`version` defaults to the one predict would use; `copies` (1 to 64, default 1) is how many runtimes hold it when the answer comes. The body is optional.',
    }),
    MODEL_ID_PARAM,
    ApiBody({
      required: false,
      schema: openApiSchema(LoadBody, 'input'),
      examples: {
        two: {
          summary: 'Two copies of version 2',
          value: { version: 2, copies: 2 },
        },
      },
    }),
    ApiJson(200, 'Where it is loaded', openApiSchema(AdminLoadResponse), {
      model_id: 'fraud',
      version: 2,
      nodes: ['runtime-1', 'runtime-2'],
    }),
    ApiErrors(
      BAD_BODY,
      NO_VERSION,
      ...byStatus(422),
      CACHE_MANAGER_DOWN,
      ...byStatus(504),
      ...byStatus(507),
    ),
  );

export const UnloadDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Unload every copy of a model (or of one version)',
      description:
        'Each copy once its requests in flight are done; the next request loads it again. No body, or `{}`: every version.',
    }),
    MODEL_ID_PARAM,
    ApiBody({
      required: false,
      schema: openApiSchema(UnloadBody, 'input'),
      examples: { one: { summary: 'Version 1 only', value: { version: 1 } } },
    }),
    ApiJson(200, 'What was unloaded', openApiSchema(AdminUnloadResponse), {
      model_id: 'fraud',
      unloaded: [{ node_id: 'runtime-1', version: 1, freed_bytes: 18542592 }],
    }),
    ApiErrors(BAD_BODY, NO_VERSION, {
      status: 503,
      codes: ['SERVICE_UNAVAILABLE'],
      when: 'the cache-manager does not answer',
    }),
  );

const ALIAS_PARAM = ApiParam({
  name: 'alias',
  description:
    'An alias name: 1 to 64 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit. `production` is the one predictions without a version follow.',
  example: 'production',
});

const BAD_ALIAS: ErrorCase = {
  status: 400,
  codes: ['INVALID_MODEL_ID', 'INVALID_REQUEST'],
  when: 'the model id or the alias name is not valid, or the body is not {"version": N}, or the version is not ready',
};

export const SetAliasDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Point an alias at a version (create or move it)',
      description:
        'The version must exist and be ready (not deprecated). `previous_version` says where the alias pointed before (`null`: it is new). When the alias moves away from a version that runtimes hold (for `production` while unset: away from the default version), the new version is loaded first on as many runtimes, and only then does routing switch: predictions naming the alias, and for `production` those naming no version, use it from then on. The previous version is unloaded about a second later, once its requests in flight are done, unless another alias or the default still leads to it (`rollout.previous`). If the new version fails to load, the alias stays where it was and the error says why.',
    }),
    MODEL_ID_PARAM,
    ALIAS_PARAM,
    ApiBody({
      schema: openApiSchema(SetAliasBody, 'input'),
      examples: { two: { summary: 'Version 2', value: { version: 2 } } },
    }),
    ApiJson(200, 'The alias', openApiSchema(AliasMoveSchema), {
      model_id: 'fraud',
      alias: 'production',
      version: 2,
      previous_version: 1,
      updated_at: CREATED,
      updated_by: 'release-bot',
      rollout: { nodes: ['runtime-a', 'runtime-b'], previous: 'draining' },
    }),
    ApiErrors(
      BAD_ALIAS,
      NO_VERSION,
      {
        status: 422,
        codes: ['MODEL_LOAD_FAILED', 'INVALID_ARTIFACT'],
        when: 'the new version failed to load where the old one serves: the alias did not move',
      },
      {
        status: 507,
        codes: ['INSUFFICIENT_MEMORY'],
        when: 'the new version does not fit beside the old one: the alias did not move',
      },
      CACHE_MANAGER_DOWN,
    ),
  );

const FORCE_QUERY = ApiQuery({
  name: 'force',
  required: false,
  description:
    '`true`: delete even while aliased or loaded (aliases are deleted, copies unloaded once their requests finish).',
  example: 'true',
});

export const PatchVersionDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Deprecate a version, or restore it',
      description:
        'A deprecated version is still served when a request names its number, but is never the default and no alias can be moved to it. A version an alias points at cannot be deprecated (409). The answer is the version record.',
    }),
    MODEL_ID_PARAM,
    VERSION_PARAM,
    ApiBody({
      schema: openApiSchema(PatchVersionBody, 'input'),
      examples: {
        deprecate: { summary: 'Deprecate', value: { status: 'deprecated' } },
      },
    }),
    ApiJson(200, 'The version', VERSION_RECORD, {
      ...VERSION_EXAMPLE,
      status: 'deprecated',
    }),
    ApiErrors(BAD_BODY, NO_VERSION, {
      status: 409,
      codes: ['VERSION_IN_USE'],
      when: 'an alias points at the version',
    }),
  );

export const DeleteVersionDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Delete a version',
      description:
        'Refused (409) while an alias points at it or a runtime holds it, unless `?force=true`. Its number is never given to another version; its artifact is removed by garbage collection once no version uses the same bytes.',
    }),
    MODEL_ID_PARAM,
    VERSION_PARAM,
    FORCE_QUERY,
    ApiJson(200, 'The version deleted', openApiSchema(DeletedVersionSchema), {
      version: VERSION_EXAMPLE,
      aliases_deleted: [],
      unloaded: [],
    }),
    ApiErrors(
      BAD_MODEL_ID,
      NO_VERSION,
      {
        status: 409,
        codes: ['VERSION_IN_USE'],
        when: 'an alias points at it, or a runtime holds it (without force)',
      },
      CACHE_MANAGER_DOWN,
    ),
  );

export const DeleteModelDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Delete a model with its versions and aliases',
      description:
        'Refused (409) while any of its versions is loaded, unless `?force=true`, which unloads them first. The audit log keeps its history.',
    }),
    MODEL_ID_PARAM,
    FORCE_QUERY,
    ApiJson(200, 'The model deleted', openApiSchema(DeletedModelSchema), {
      model: MODEL_EXAMPLE,
      versions: [1, 2],
      aliases: { production: 2 },
      unloaded: [{ node_id: 'runtime-a', version: 2, freed_bytes: 786432 }],
    }),
    ApiErrors(
      BAD_MODEL_ID,
      NO_MODEL,
      {
        status: 409,
        codes: ['MODEL_IN_USE'],
        when: 'a version is loaded (without force)',
      },
      CACHE_MANAGER_DOWN,
    ),
  );

export const DeleteAliasDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Delete an alias',
      description:
        'The version it pointed at stays. Without `production`, predictions naming no version use the highest ready version.',
    }),
    MODEL_ID_PARAM,
    ALIAS_PARAM,
    ApiJson(200, 'The alias deleted', openApiSchema(DeleteAliasResponse), {
      model_id: 'fraud',
      alias: 'staging',
      version: 3,
    }),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_MODEL_ID', 'INVALID_REQUEST'],
        when: 'the model id or the alias name is not valid',
      },
      {
        status: 404,
        codes: ['MODEL_NOT_FOUND', 'ALIAS_NOT_FOUND'],
        when: 'the model is not registered, or has no such alias',
      },
    ),
  );

export const AuditDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'The audit log: admin changes, newest first',
      description: `Every change the registry makes for an admin call or the configuration file: models created or updated, versions registered, aliases set or deleted, keys created or revoked. \`actor\` is the key's name (\`bootstrap\` for the configured admin key, \`config\` for the configuration file, \`null\` with auth off). At most \`limit\` (1 to ${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}) entries older than the entry \`before\`; \`next\` is the \`before\` of the following page, \`null\` on the last. \`model_id\` keeps one model's entries.`,
    }),
    ApiQuery({ name: 'limit', required: false, example: '100' }),
    ApiQuery({
      name: 'before',
      required: false,
      description: 'An entry id: the page holds older entries.',
    }),
    ApiQuery({ name: 'model_id', required: false, example: 'fraud' }),
    ApiJson(200, 'A page of the audit log', openApiSchema(ListAuditResponse), {
      entries: [
        {
          id: 42,
          at: CREATED,
          actor: 'release-bot',
          action: 'alias.set',
          model_id: 'fraud',
          version: 2,
          details: { alias: 'production', previous_version: 1 },
        },
      ],
      next: null,
    }),
    ApiErrors({
      status: 400,
      codes: ['INVALID_REQUEST'],
      when: 'a limit out of range, or a `before` or `model_id` that is not an id',
    }),
  );

export const PatchModelDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: "Change a model's settings",
      description:
        'Any of the settings `POST /admin/models` takes, except `id` and `format`; the others stay as they are. `null` clears `description`, `memory_estimate` and `ttl`. The cache follows at once (pinned, TTL, preload, memory estimate).',
    }),
    MODEL_ID_PARAM,
    ApiBody({
      schema: openApiSchema(PatchModelBody, 'input'),
      examples: {
        pin: { summary: 'Pin it, no TTL', value: { pinned: true, ttl: null } },
      },
    }),
    ApiJson(200, 'The model record', MODEL_RECORD, MODEL_EXAMPLE),
    ApiErrors(
      {
        status: 400,
        codes: ['INVALID_REQUEST', 'INVALID_MODEL_ID'],
        when: 'a bad id, an empty body, a key that is not a setting, or a value of the wrong type (the message names the field)',
      },
      NO_MODEL,
    ),
  );

export const GcDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Collect stored artifacts that no version references',
      description:
        'Lists every stored artifact (the files under one `<model>/<sha256>/`), asks the registry which of them some version still references, and deletes the others that are older than `min_age` (default: `storage.gc.min_age`, 1 h: an upload whose version is not created yet is never collected). A dry run (the default) deletes nothing and reports what would go; `{ "dry_run": false }` deletes. The storage service also collects in the background (`storage.gc.interval`). If the registry does not answer, nothing is deleted (503).',
    }),
    ApiBody({
      required: false,
      schema: openApiSchema(GcBody, 'input'),
      examples: {
        report: { summary: 'What would go', value: {} },
        collect: {
          summary: 'Delete, keeping the last day',
          value: { dry_run: false, min_age: '1d' },
        },
      },
    }),
    ApiJson(200, 'The report', openApiSchema(GcReport), {
      dry_run: false,
      min_age_ms: 3600000,
      scanned: { artifacts: 12, files: 14, bytes: 52428800 },
      unreferenced: {
        artifacts: 1,
        bytes: 1413,
        too_recent: 0,
        listed: [
          {
            model_id: 'fraud',
            sha256: SHA,
            files: 1,
            bytes: 1413,
            modified_at: CREATED,
            collectable: true,
          },
        ],
      },
      deleted: { artifacts: 1, bytes: 1413 },
      took_ms: 41,
    }),
    ApiErrors(BAD_BODY, {
      status: 503,
      codes: ['SERVICE_UNAVAILABLE'],
      when: 'the storage service or the registry does not answer: nothing was deleted',
    }),
  );
