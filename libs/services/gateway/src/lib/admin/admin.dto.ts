import { z } from 'zod';

import {
  AdminLoadRequest,
  AdminUnloadRequest,
  AdminUnloadResponse,
  AliasRecordSchema,
  assertEngineSettingsFor,
  CreateModelRequest,
  DeleteModelResponse,
  DeleteVersionResponse,
  EngineSettingsSchema,
  isModelId,
  MAX_PAGE_SIZE,
  MODEL_FORMATS,
  NodeId,
  PortfolioError,
  ProcessingSchema,
  Sha256,
  UpdateModelRequest,
  UpdateVersionRequest,
  VersionNumber,
} from '@portfolio/contracts';
import { parseDuration, parseSize } from '@portfolio/config';
import { describeIssues } from '@portfolio/messaging';

/**
 * `POST /admin/models` as clients send it: sizes like "2GB", durations like "1h" or seconds.
 * The OpenAPI document describes the body from this schema (admin.openapi.ts).
 */
export const CreateModelBody = z.strictObject({
  id: z.string(),
  format: z.enum(MODEL_FORMATS, {
    error: () => `format must be one of ${MODEL_FORMATS.join(', ')}`,
  }),
  description: z.string().max(10_000).nullable().optional(),
  memory_estimate: z.union([z.string(), z.number()]).nullable().optional(),
  memory_estimate_authoritative: z.boolean().optional(),
  preload: z.boolean().optional(),
  pinned: z.boolean().optional(),
  ttl: z.union([z.string(), z.number()]).nullable().optional(),
  labels: z.record(z.string().max(256), z.string().max(1024)).optional(),
  /** Dynamic batching: the most rows one merged run takes (1: never merged). */
  max_batch_size: z.number().int().min(1).max(65_536).nullable().optional(),
  /** How long a run may wait for others to join it ("2ms", or seconds). */
  max_queue_delay: z.union([z.string(), z.number()]).nullable().optional(),
  /**
   * How its framework is set up: `threads` (any format), and for the formats that run
   * on ONNX Runtime `graph_optimization`, `memory_arena`, `execution_provider`.
   */
  engine: EngineSettingsSchema.nullable().optional(),
  /** Input normalization and output class labels, applied by the runtimes. */
  processing: ProcessingSchema.nullable().optional(),
});

export function parseCreateModel(body: unknown): CreateModelRequest {
  const parsed = CreateModelBody.safeParse(body);
  if (!parsed.success)
    throw new PortfolioError('INVALID_REQUEST', describeIssues(parsed.error));
  const b = parsed.data;
  assertEngineSettingsFor(b.format, b.engine);
  if (b.memory_estimate_authoritative && b.memory_estimate == null) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      'memory_estimate_authoritative: true needs a memory_estimate to make authoritative (bytes or a size such as "512MiB")',
      { field: 'memory_estimate_authoritative' },
    );
  }
  return {
    id: b.id,
    format: b.format,
    description: b.description ?? null,
    memory_estimate_bytes:
      b.memory_estimate == null
        ? null
        : field('memory_estimate', () =>
            parseSize(b.memory_estimate as string | number),
          ),
    memory_estimate_authoritative: b.memory_estimate_authoritative,
    preload: b.preload,
    pinned: b.pinned,
    ttl_ms:
      b.ttl == null
        ? null
        : field('ttl', () => parseDuration(b.ttl as string | number)),
    labels: b.labels,
    max_batch_size: b.max_batch_size ?? null,
    max_queue_delay_ms: queueDelayMs(b.max_queue_delay),
    engine: b.engine ?? null,
    processing: b.processing ?? null,
  };
}

/** `max_queue_delay` in milliseconds; null/undefined as given. At most 10 s. */
function queueDelayMs(
  value: string | number | null | undefined,
): number | null {
  if (value == null) return null;
  const ms = field('max_queue_delay', () => parseDuration(value));
  if (ms > 10_000)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `max_queue_delay: at most 10s, got ${ms} ms`,
      { field: 'max_queue_delay' },
    );
  return ms;
}

function field<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `${name}: ${(e as Error).message}`,
    );
  }
}

/** `POST /admin/models/{id}/load`: both optional; no body at all means `{}`. */
export const LoadBody = z.strictObject({
  version: AdminLoadRequest.shape.version.optional(),
  copies: AdminLoadRequest.shape.copies,
});
export type LoadBody = z.infer<typeof LoadBody>;

/** `POST /admin/models/{id}/unload`: every version unless `version` names one. */
export const UnloadBody = z.strictObject({
  version: AdminUnloadRequest.shape.version,
});
export type UnloadBody = z.infer<typeof UnloadBody>;

export function parseLoadBody(body: unknown): LoadBody {
  return parseOptionalBody(LoadBody, body);
}

export function parseUnloadBody(body: unknown): UnloadBody {
  return parseOptionalBody(UnloadBody, body);
}

function parseOptionalBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success)
    throw new PortfolioError('INVALID_REQUEST', describeIssues(parsed.error));
  return parsed.data;
}

/** `PUT /admin/models/{id}/aliases/{alias}`: the version it points at. */
export const SetAliasBody = z.strictObject({ version: VersionNumber });
export type SetAliasBody = z.infer<typeof SetAliasBody>;

export function parseSetAliasBody(body: unknown): SetAliasBody {
  const parsed = SetAliasBody.safeParse(body);
  if (!parsed.success)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the body must be {"version": N} with N a version number: ${describeIssues(parsed.error)}`,
    );
  return parsed.data;
}

/** A page of `GET /admin/models` when the query names no `limit`. */
export const DEFAULT_PAGE_SIZE = 100;

/**
 * `GET /admin/models?limit=N&after=ID&label=KEY:VALUE...`: a page of at most `limit`
 * models (1 to MAX_PAGE_SIZE, default DEFAULT_PAGE_SIZE) after the id `after`, with
 * every label given (`label` may repeat; the value is what follows the first `:`).
 */
export function parseListQuery(query: Record<string, unknown>): {
  limit: number;
  after?: string;
  labels?: Record<string, string>;
} {
  const single = (name: string): string | undefined => {
    const raw = query[name];
    if (raw === undefined || typeof raw === 'string') return raw;
    throw new PortfolioError('INVALID_REQUEST', `${name} must be given once`);
  };
  const limitText = single('limit');
  const limit = limitText === undefined ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got "${String(limitText).slice(0, 40)}"`,
    );
  const after = single('after');
  if (after !== undefined && !isModelId(after))
    throw new PortfolioError(
      'INVALID_REQUEST',
      `after must be a model id (the "next" of the previous page), got "${String(after).slice(0, 140)}"`,
    );
  const given = query['label'];
  const pairs =
    given === undefined ? [] : Array.isArray(given) ? given : [given];
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const at = typeof pair === 'string' ? pair.indexOf(':') : -1;
    if (at <= 0 || (pair as string).length > 1281)
      throw new PortfolioError(
        'INVALID_REQUEST',
        `label must be KEY:VALUE (e.g. label=team:red), got "${String(pair).slice(0, 80)}"`,
      );
    labels[(pair as string).slice(0, at)] = (pair as string).slice(at + 1);
  }
  return {
    limit,
    ...(after !== undefined ? { after } : {}),
    ...(pairs.length > 0 ? { labels } : {}),
  };
}

/** `GET /admin/audit?limit=N&before=ID&model_id=ID`: see ListAuditRequest. */
export function parseAuditQuery(query: Record<string, unknown>): {
  limit: number;
  before?: number;
  model_id?: string;
} {
  const { limit } = parseListQuery({ limit: query['limit'] });
  const before = query['before'];
  const modelId = query['model_id'];
  if (
    before !== undefined &&
    (typeof before !== 'string' || !/^[1-9][0-9]{0,15}$/.test(before))
  )
    throw new PortfolioError(
      'INVALID_REQUEST',
      `before must be an entry id (the "next" of the previous page), got "${String(before).slice(0, 40)}"`,
    );
  if (modelId !== undefined && !isModelId(modelId))
    throw new PortfolioError(
      'INVALID_REQUEST',
      `model_id must be a model id, got "${String(modelId).slice(0, 140)}"`,
    );
  return {
    limit,
    ...(before !== undefined ? { before: Number(before) } : {}),
    ...(modelId !== undefined ? { model_id: modelId as string } : {}),
  };
}

/** `PATCH /admin/models/{id}`: any of the settings `POST /admin/models` takes, not `id` or `format`. */
export const PatchModelBody = CreateModelBody.omit({ id: true, format: true })
  .partial()
  .refine((b) => Object.keys(b).length > 0, {
    message: 'give at least one setting to change',
  });
export type PatchModelBody = z.infer<typeof PatchModelBody>;

/**
 * The settings to change, as the registry takes them: sizes and durations parsed,
 * `null` kept (it clears the setting), absent ones left out (they stay as they are).
 */
export function parsePatchModel(
  id: string,
  body: unknown,
): Omit<UpdateModelRequest, 'actor'> {
  const parsed = PatchModelBody.safeParse(body);
  if (!parsed.success)
    throw new PortfolioError('INVALID_REQUEST', describeIssues(parsed.error));
  const b = parsed.data;
  return {
    id,
    ...(b.description !== undefined ? { description: b.description } : {}),
    ...(b.memory_estimate !== undefined
      ? {
          memory_estimate_bytes:
            b.memory_estimate === null
              ? null
              : field('memory_estimate', () =>
                  parseSize(b.memory_estimate as string | number),
                ),
        }
      : {}),
    ...(b.memory_estimate_authoritative !== undefined
      ? { memory_estimate_authoritative: b.memory_estimate_authoritative }
      : {}),
    ...(b.preload !== undefined ? { preload: b.preload } : {}),
    ...(b.pinned !== undefined ? { pinned: b.pinned } : {}),
    ...(b.ttl !== undefined
      ? {
          ttl_ms:
            b.ttl === null
              ? null
              : field('ttl', () => parseDuration(b.ttl as string | number)),
        }
      : {}),
    ...(b.labels !== undefined ? { labels: b.labels } : {}),
    ...(b.max_batch_size !== undefined
      ? { max_batch_size: b.max_batch_size }
      : {}),
    ...(b.max_queue_delay !== undefined
      ? { max_queue_delay_ms: queueDelayMs(b.max_queue_delay) }
      : {}),
    ...(b.engine !== undefined ? { engine: b.engine } : {}),
    ...(b.processing !== undefined ? { processing: b.processing } : {}),
  };
}

/** `PATCH /admin/models/{id}/versions/{v}`: deprecate a version, or restore it. */
export const PatchVersionBody = z.strictObject({
  status: UpdateVersionRequest.shape.status,
});
export type PatchVersionBody = z.infer<typeof PatchVersionBody>;

export function parsePatchVersionBody(body: unknown): PatchVersionBody {
  const parsed = PatchVersionBody.safeParse(body);
  if (!parsed.success)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the body must be {"status": "deprecated"} or {"status": "ready"}: ${describeIssues(parsed.error)}`,
    );
  return parsed.data;
}

/** `?force=true` on a DELETE: `true`/`1` or `false`/`0` (absent: false). */
export function parseForce(query: Record<string, unknown>): boolean {
  const unknownKeys = Object.keys(query).filter((k) => k !== 'force');
  if (unknownKeys.length > 0)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `unknown query parameter${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => `"${k}"`).join(', ')}; only "force" is accepted`,
    );
  const value = query['force'];
  if (value === undefined) return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new PortfolioError(
    'INVALID_REQUEST',
    `force must be true or false (got ${JSON.stringify(value)})`,
  );
}

/** The answer to an alias move: the alias, and how routing moved with it. */
export const AliasMoveSchema = AliasRecordSchema.extend({
  rollout: z.object({
    /** Runtimes that held the new version before routing switched (none: nothing was loaded ahead). */
    nodes: z.array(NodeId),
    /**
     * `not_loaded`: the previous version was loaded nowhere; `draining`: it is unloaded
     * once the change reached every gateway and its requests are done; `kept`: another
     * alias or the default still leads to it.
     */
    previous: z.enum(['not_loaded', 'draining', 'kept']),
  }),
});
export type AliasMove = z.infer<typeof AliasMoveSchema>;

export const DeletedVersionSchema = DeleteVersionResponse.extend({
  unloaded: AdminUnloadResponse.shape.unloaded,
});
export type DeletedVersion = z.infer<typeof DeletedVersionSchema>;

export const DeletedModelSchema = DeleteModelResponse.extend({
  unloaded: AdminUnloadResponse.shape.unloaded,
});
export type DeletedModel = z.infer<typeof DeletedModelSchema>;

/**
 * `POST /admin/storage/gc`: a dry run unless `dry_run` is false; `min_age` ("1h", or
 * seconds) keeps younger artifacts (default: the storage service's setting).
 */
export const GcBody = z.strictObject({
  dry_run: z.boolean().optional(),
  min_age: z.union([z.string(), z.number()]).optional(),
});

export function parseGcBody(body: unknown): {
  dry_run: boolean;
  min_age_ms?: number;
} {
  const b = parseOptionalBody(GcBody, body);
  return {
    dry_run: b.dry_run ?? true,
    ...(b.min_age !== undefined
      ? {
          min_age_ms: field('min_age', () =>
            parseDuration(b.min_age as string | number),
          ),
        }
      : {}),
  };
}

/** `POST /admin/models/{id}/versions` as JSON: where the artifact already is. */
export const ImportBody = z.strictObject({
  uri: z.string().min(1).max(2000),
  sha256: Sha256.optional(),
});

export function parseImportBody(body: unknown): z.infer<typeof ImportBody> {
  const parsed = ImportBody.safeParse(body);
  if (!parsed.success)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `the body must be {"uri": "s3://..." | "gs://..." | "az://..." | "file:///...", "sha256"?: "<64 hex digits>"}: ${describeIssues(parsed.error)}`,
    );
  return parsed.data;
}
