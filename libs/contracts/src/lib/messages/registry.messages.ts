import { z } from 'zod';

import { event, serviceRpc } from '../rpc';
import {
  AliasName,
  Bytes,
  Empty,
  EngineSettingsSchema,
  ModelFormatSchema,
  ModelId,
  NodeId,
  PingResponse,
  ProcessingSchema,
  Sha256,
  SignatureSchema,
  VersionNumber,
} from './common.schema';

export const ModelRecordSchema = z.object({
  id: ModelId,
  format: ModelFormatSchema,
  description: z.string().nullable(),
  /**
   * Declared by the operator. Placement uses a version's measurement (`measured`)
   * when there is one, and this until then, unless `memory_estimate_authoritative`.
   */
  memory_estimate_bytes: Bytes.nullable(),
  /**
   * True: the declared `memory_estimate_bytes` is used even where a measurement exists
   * (the operator knows better, e.g. memory the RSS delta does not see). Never true
   * without an estimate. The registry always sends it; absent (a record from a sender
   * that predates the field) means false.
   */
  memory_estimate_authoritative: z.boolean().optional(),
  preload: z.boolean(),
  pinned: z.boolean(),
  ttl_ms: z.number().int().positive().nullable(),
  labels: z.record(z.string(), z.string()),
  /**
   * Dynamic batching of this model in the runtimes: the most rows one merged run takes
   * (1: never merged), and how long a run may wait for others to join it. null: the
   * runtime's defaults. Absent from senders that predate them: null.
   */
  max_batch_size: z.number().int().min(1).max(65_536).nullable().optional(),
  max_queue_delay_ms: z.number().min(0).max(10_000).nullable().optional(),
  /** How its framework is set up (threads, ONNX Runtime's session); null: the defaults. */
  engine: EngineSettingsSchema.nullable().optional(),
  /** Its pre- and post-processing, applied by the runtimes; null: none. */
  processing: ProcessingSchema.nullable().optional(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type ModelRecord = z.infer<typeof ModelRecordSchema>;

/**
 * `ready`: servable, and the default when it is the newest ready one. `deprecated`: still
 * served when asked for by number, never chosen by default nor by a moved alias.
 */
export const VERSION_STATUSES = ['ready', 'failed', 'deprecated'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

/**
 * The latest memory measurement of one version, taken by a runtime when it loaded it
 * (see `registry.version.measured.v1`). The latest, not the largest: it reflects the
 * engine and settings the runtimes run now.
 */
export const VersionMeasurementSchema = z.object({
  /** The runtime's measurement: RSS delta around load and warm-up, at least the file size. */
  memory_bytes: Bytes,
  load_ms: z.number().nonnegative(),
  /** ISO 8601, UTC. */
  measured_at: z.string(),
});
export type VersionMeasurement = z.infer<typeof VersionMeasurementSchema>;

/**
 * Versions are immutable: nothing but `status` ever changes after creation. `measured`
 * is not part of the version itself but the registry's latest observation of it: null
 * until a runtime has loaded it and the cache-manager reported it; the registry always
 * sends it (absent only from senders that predate the field).
 */
export const VersionRecordSchema = z.object({
  model_id: ModelId,
  version: VersionNumber,
  format: ModelFormatSchema,
  artifact_uri: z.string().min(1),
  sha256: Sha256,
  size_bytes: Bytes,
  signature: SignatureSchema,
  status: z.enum(VERSION_STATUSES),
  created_at: z.string(),
  /** Who registered it (an API key's name, `config`); null: unknown. Absent from older senders. */
  created_by: z.string().nullable().optional(),
  measured: VersionMeasurementSchema.nullable().optional(),
});
export type VersionRecord = z.infer<typeof VersionRecordSchema>;

const ModelSettings = {
  description: z.string().max(10_000).nullable().optional(),
  memory_estimate_bytes: Bytes.nullable().optional(),
  /** True needs a memory estimate (given here or already stored): INVALID_REQUEST otherwise. */
  memory_estimate_authoritative: z.boolean().optional(),
  preload: z.boolean().optional(),
  pinned: z.boolean().optional(),
  ttl_ms: z.number().int().positive().nullable().optional(),
  labels: z.record(z.string().max(256), z.string().max(1024)).optional(),
  max_batch_size: z.number().int().min(1).max(65_536).nullable().optional(),
  max_queue_delay_ms: z.number().min(0).max(10_000).nullable().optional(),
  engine: EngineSettingsSchema.nullable().optional(),
  processing: ProcessingSchema.nullable().optional(),
};

export const CreateModelRequest = z.object({
  id: ModelId,
  format: ModelFormatSchema,
  ...ModelSettings,
  /**
   * `error` (default): MODEL_EXISTS when the id is taken. `update`: used by the
   * configuration sync, which owns the settings of the models it lists; an existing
   * model keeps its versions and takes the new settings (the format must match).
   */
  if_exists: z.enum(['error', 'update']).optional(),
  /** Who asks (an API key's name, `config`), for the audit log. */
  actor: z.string().max(200).optional(),
});
export type CreateModelRequest = z.infer<typeof CreateModelRequest>;
export const CreateModelResponse = z.object({
  model: ModelRecordSchema,
  created: z.boolean(),
});
export type CreateModelResponse = z.infer<typeof CreateModelResponse>;

/** A model's aliases: name -> the version it points at. */
export const AliasMapSchema = z.record(AliasName, VersionNumber);
export type AliasMap = z.infer<typeof AliasMapSchema>;

/**
 * The version `alias` points at, or undefined. Own entries only: an alias is a name, and
 * one named like an Object property (`constructor`) must not find the prototype's.
 */
export function aliasTarget(
  aliases: Readonly<AliasMap>,
  alias: string,
): number | undefined {
  return Object.hasOwn(aliases, alias) ? aliases[alias] : undefined;
}

/** Changes the settings given (`null` clears a nullable one); MODEL_NOT_FOUND when absent. */
export const UpdateModelRequest = z.object({
  id: ModelId,
  ...ModelSettings,
  /** Who asks, for the audit log. */
  actor: z.string().max(200).optional(),
});
export type UpdateModelRequest = z.infer<typeof UpdateModelRequest>;
export const UpdateModelResponse = z.object({
  model: ModelRecordSchema,
  /** The settings whose value changed (empty: nothing was written). */
  changed: z.array(z.string()),
});
export type UpdateModelResponse = z.infer<typeof UpdateModelResponse>;

export const GetModelRequest = z.object({ id: ModelId });
export const GetModelResponse = z.object({
  model: ModelRecordSchema,
  versions: z.array(VersionRecordSchema),
  /** The registry always sends it; absent (a sender that predates aliases): none. */
  aliases: AliasMapSchema.optional(),
});
export type GetModelResponse = z.infer<typeof GetModelResponse>;

/** The most models one page of a listing holds. */
export const MAX_PAGE_SIZE = 1000;

/**
 * Models in id order. With `limit`, one page: those after `after` (an id, exclusive),
 * and `next` is the id to ask after for the following page (null: this was the last).
 * Without it, every model in one answer: on NATS that answer must fit the server's
 * max_payload (1 MiB by default: about 3,000 models), so services that need them all
 * page through them with listAllModels. `labels`: only models with all of these labels
 * and values.
 */
export const ListModelsRequest = z.object({
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
  after: ModelId.optional(),
  labels: z.record(z.string().max(256), z.string().max(1024)).optional(),
});
export type ListModelsRequest = z.infer<typeof ListModelsRequest>;
export const ListModelsResponse = z.object({
  models: z.array(ModelRecordSchema),
  /** The registry always sends it; absent (an older sender): no more pages. */
  next: ModelId.nullable().optional(),
});
export type ListModelsResponse = z.infer<typeof ListModelsResponse>;

/**
 * The page size of listAllModels: a page of models of typical size (about 300 bytes of
 * JSON each) is about 150 KB, well within NATS' default max_payload of 1 MiB.
 */
export const LIST_ALL_PAGE_SIZE = 500;

/**
 * Every registered model, in id order, a page at a time through `list` (a call of
 * Registry.listModels): the whole catalogue in one answer (10,000 models: 3 MiB) does
 * not cross NATS. Models registered or deleted meanwhile may or may not be in it, as
 * with any listing.
 */
export async function listAllModels(
  list: (req: ListModelsRequest) => Promise<ListModelsResponse>,
): Promise<ModelRecord[]> {
  const models: ModelRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list({ limit: LIST_ALL_PAGE_SIZE, after });
    models.push(...page.models);
    if (!page.next || page.models.length === 0) return models;
    after = page.next;
  }
}

export const CreateVersionRequest = z.object({
  model_id: ModelId,
  artifact_uri: z.string().min(1),
  sha256: Sha256,
  size_bytes: Bytes,
  format: ModelFormatSchema,
  signature: SignatureSchema,
  /**
   * When true and a version with the same sha256 already exists, that version is
   * returned with `created: false` instead of a new one. The configuration sync uses
   * it so that a restart registers nothing new.
   */
  reuse_if_same_sha256: z.boolean().optional(),
  /** Who asks, for the audit log. */
  actor: z.string().max(200).optional(),
});
export type CreateVersionRequest = z.infer<typeof CreateVersionRequest>;
export const CreateVersionResponse = z.object({
  version: VersionRecordSchema,
  created: z.boolean(),
});
export type CreateVersionResponse = z.infer<typeof CreateVersionResponse>;

/**
 * A version by number, or by alias (never both: INVALID_REQUEST), or the default: the
 * version alias `production` points at when it is set, else the highest ready version.
 */
export const ResolveVersionRequest = z.object({
  model_id: ModelId,
  version: VersionNumber.optional(),
  alias: AliasName.optional(),
});
export type ResolveVersionRequest = z.infer<typeof ResolveVersionRequest>;
export const ResolveVersionResponse = z.object({
  model: ModelRecordSchema,
  version: VersionRecordSchema,
  /** The model's aliases (absent from senders that predate them: none). */
  aliases: AliasMapSchema.optional(),
});
export type ResolveVersionResponse = z.infer<typeof ResolveVersionResponse>;

/**
 * Points `alias` of a model at `version`, which must exist and be ready; moves it when
 * it points elsewhere. `actor` says who (an API key's name, or `config`), for the logs.
 */
export const SetAliasRequest = z.object({
  model_id: ModelId,
  alias: AliasName,
  version: VersionNumber,
  actor: z.string().max(200).optional(),
});
export type SetAliasRequest = z.infer<typeof SetAliasRequest>;
export const AliasRecordSchema = z.object({
  model_id: ModelId,
  alias: AliasName,
  version: VersionNumber,
  /** Where it pointed before this change; null: it is new. */
  previous_version: VersionNumber.nullable(),
  updated_at: z.string(),
  updated_by: z.string().nullable(),
});
export type AliasRecord = z.infer<typeof AliasRecordSchema>;
export const SetAliasResponse = z.object({ alias: AliasRecordSchema });
export type SetAliasResponse = z.infer<typeof SetAliasResponse>;

/** ALIAS_NOT_FOUND when the model has no such alias. */
export const DeleteAliasRequest = z.object({
  model_id: ModelId,
  alias: AliasName,
  /** Who asks, for the audit log. */
  actor: z.string().max(200).optional(),
});
export type DeleteAliasRequest = z.infer<typeof DeleteAliasRequest>;
export const DeleteAliasResponse = z.object({
  model_id: ModelId,
  alias: AliasName,
  /** The version it pointed at. */
  version: VersionNumber,
});
export type DeleteAliasResponse = z.infer<typeof DeleteAliasResponse>;

/**
 * Deletes a version and its measurements; its artifact stays until garbage collection.
 * VERSION_IN_USE while an alias points at it, unless `force` (which deletes those
 * aliases too). Whether it is loaded somewhere is the caller's to check: the registry
 * does not know. Numbers are never reused: the next upload gets a new one.
 */
export const DeleteVersionRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  force: z.boolean().optional(),
  actor: z.string().max(200).optional(),
});
export type DeleteVersionRequest = z.infer<typeof DeleteVersionRequest>;
export const DeleteVersionResponse = z.object({
  version: VersionRecordSchema,
  /** The aliases that pointed at it and were deleted with it (`force`). */
  aliases_deleted: z.array(AliasName),
});
export type DeleteVersionResponse = z.infer<typeof DeleteVersionResponse>;

/** Deletes a model with its versions and aliases; the audit log keeps its history. */
export const DeleteModelRequest = z.object({
  id: ModelId,
  actor: z.string().max(200).optional(),
});
export type DeleteModelRequest = z.infer<typeof DeleteModelRequest>;
export const DeleteModelResponse = z.object({
  model: ModelRecordSchema,
  versions: z.array(VersionNumber),
  aliases: AliasMapSchema,
});
export type DeleteModelResponse = z.infer<typeof DeleteModelResponse>;

/**
 * Deprecates a ready version (`deprecated`) or restores it (`ready`). VERSION_IN_USE
 * when deprecating a version an alias points at; INVALID_REQUEST for a failed version.
 */
export const UpdateVersionRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  status: z.enum(['ready', 'deprecated']),
  actor: z.string().max(200).optional(),
});
export type UpdateVersionRequest = z.infer<typeof UpdateVersionRequest>;
export const UpdateVersionResponse = z.object({
  version: VersionRecordSchema,
  /** False: it had that status already, nothing was written. */
  changed: z.boolean(),
});
export type UpdateVersionResponse = z.infer<typeof UpdateVersionResponse>;

/** The most artifacts one ReferencedArtifacts request may ask about. */
export const MAX_ARTIFACT_BATCH = 1000;

/**
 * Which of these stored artifacts (by model and sha256: the `<model id>/<sha256>/`
 * of their storage keys) some version still references, for garbage collection.
 */
export const ReferencedArtifactsRequest = z.object({
  artifacts: z
    .array(z.object({ model_id: ModelId, sha256: Sha256 }))
    .max(MAX_ARTIFACT_BATCH),
});
export type ReferencedArtifactsRequest = z.infer<
  typeof ReferencedArtifactsRequest
>;
export const ReferencedArtifactsResponse = z.object({
  referenced: z.array(z.object({ model_id: ModelId, sha256: Sha256 })),
});
export type ReferencedArtifactsResponse = z.infer<
  typeof ReferencedArtifactsResponse
>;

export const ModelChangedEvent = z.object({
  model_id: ModelId,
  change: z.enum([
    'created',
    'updated',
    'version_created',
    'deleted',
    'alias_set',
    'alias_deleted',
    'version_updated',
    'version_deleted',
  ]),
  version: VersionNumber.optional(),
  alias: AliasName.optional(),
});
export type ModelChangedEvent = z.infer<typeof ModelChangedEvent>;

/**
 * A runtime measured a version's memory while loading it; the cache-manager publishes
 * this after each successful load so that the measurement outlives it. The registry
 * keeps the latest measurement per (model, version), by `measured_at`: every registry
 * instance receives the event, and a redelivered or older one changes nothing. Best
 * effort: one that finds the database down, or names a version that does not exist, is
 * logged and dropped (the next load measures again).
 */
export const VersionMeasuredEvent = z.object({
  model_id: ModelId,
  version: VersionNumber,
  memory_bytes: Bytes,
  load_ms: z.number().nonnegative(),
  node_id: NodeId,
  /**
   * When the load finished (ISO 8601 with an offset, e.g. Date#toISOString()); absent:
   * when the registry receives it. Set it, so that all registry instances agree.
   */
  measured_at: z.iso.datetime({ offset: true }).optional(),
});
export type VersionMeasuredEvent = z.infer<typeof VersionMeasuredEvent>;

export const AUDIT_ACTIONS = [
  'model.create',
  'model.update',
  'model.delete',
  'version.create',
  'version.update',
  'version.delete',
  'alias.set',
  'alias.delete',
  'key.create',
  'key.revoke',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One admin change: who (null when unknown), what, when, to which model and version. */
export const AuditEntrySchema = z.object({
  id: z.number().int().positive(),
  at: z.string(),
  actor: z.string().nullable(),
  action: z.enum(AUDIT_ACTIONS),
  model_id: ModelId.nullable(),
  version: VersionNumber.nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

/** Newest first: at most `limit` entries older than the entry `before`; of one model if given. */
export const ListAuditRequest = z.object({
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE),
  before: z.number().int().positive().optional(),
  model_id: ModelId.optional(),
});
export type ListAuditRequest = z.infer<typeof ListAuditRequest>;
export const ListAuditResponse = z.object({
  entries: z.array(AuditEntrySchema),
  /** The `before` of the next (older) page; null: this was the last. */
  next: z.number().int().positive().nullable(),
});
export type ListAuditResponse = z.infer<typeof ListAuditResponse>;

const QUEUE = 'registry';

export const Registry = {
  createModel: serviceRpc(
    'registry.model.create.v1',
    QUEUE,
    CreateModelRequest,
    CreateModelResponse,
  ),
  updateModel: serviceRpc(
    'registry.model.update.v1',
    QUEUE,
    UpdateModelRequest,
    UpdateModelResponse,
  ),
  getModel: serviceRpc(
    'registry.model.get.v1',
    QUEUE,
    GetModelRequest,
    GetModelResponse,
  ),
  listModels: serviceRpc(
    'registry.model.list.v1',
    QUEUE,
    ListModelsRequest,
    ListModelsResponse,
  ),
  createVersion: serviceRpc(
    'registry.version.create.v1',
    QUEUE,
    CreateVersionRequest,
    CreateVersionResponse,
  ),
  resolveVersion: serviceRpc(
    'registry.version.resolve.v1',
    QUEUE,
    ResolveVersionRequest,
    ResolveVersionResponse,
  ),
  deleteModel: serviceRpc(
    'registry.model.delete.v1',
    QUEUE,
    DeleteModelRequest,
    DeleteModelResponse,
  ),
  updateVersion: serviceRpc(
    'registry.version.update.v1',
    QUEUE,
    UpdateVersionRequest,
    UpdateVersionResponse,
  ),
  deleteVersion: serviceRpc(
    'registry.version.delete.v1',
    QUEUE,
    DeleteVersionRequest,
    DeleteVersionResponse,
  ),
  setAlias: serviceRpc(
    'registry.alias.set.v1',
    QUEUE,
    SetAliasRequest,
    SetAliasResponse,
  ),
  deleteAlias: serviceRpc(
    'registry.alias.delete.v1',
    QUEUE,
    DeleteAliasRequest,
    DeleteAliasResponse,
  ),
  referencedArtifacts: serviceRpc(
    'registry.artifacts.referenced.v1',
    QUEUE,
    ReferencedArtifactsRequest,
    ReferencedArtifactsResponse,
  ),
  listAudit: serviceRpc(
    'registry.audit.list.v1',
    QUEUE,
    ListAuditRequest,
    ListAuditResponse,
  ),
  ping: serviceRpc('registry.ping.v1', QUEUE, Empty, PingResponse),
  modelChanged: event('registry.model.changed.v1', ModelChangedEvent),
  versionMeasured: event('registry.version.measured.v1', VersionMeasuredEvent),
} as const;
