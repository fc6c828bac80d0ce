import { z } from 'zod';

import { event, serviceRpc } from '../rpc';
import {
  Bytes,
  Empty,
  ModelFormatSchema,
  ModelId,
  PingResponse,
  Sha256,
  SignatureSchema,
  VersionNumber,
} from './common.schema';

export const ModelRecordSchema = z.object({
  id: ModelId,
  format: ModelFormatSchema,
  description: z.string().nullable(),
  /** Declared by the operator; the runtime's measurement replaces it once loaded. */
  memory_estimate_bytes: Bytes.nullable(),
  preload: z.boolean(),
  pinned: z.boolean(),
  ttl_ms: z.number().int().positive().nullable(),
  labels: z.record(z.string(), z.string()),
  created_at: z.string(),
  updated_at: z.string(),
});
export type ModelRecord = z.infer<typeof ModelRecordSchema>;

export const VERSION_STATUSES = ['ready', 'failed'] as const;

/** Versions are immutable: nothing but `status` ever changes after creation. */
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
});
export type VersionRecord = z.infer<typeof VersionRecordSchema>;

const ModelSettings = {
  description: z.string().max(10_000).nullable().optional(),
  memory_estimate_bytes: Bytes.nullable().optional(),
  preload: z.boolean().optional(),
  pinned: z.boolean().optional(),
  ttl_ms: z.number().int().positive().nullable().optional(),
  labels: z.record(z.string().max(256), z.string().max(1024)).optional(),
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
});
export type CreateModelRequest = z.infer<typeof CreateModelRequest>;
export const CreateModelResponse = z.object({
  model: ModelRecordSchema,
  created: z.boolean(),
});
export type CreateModelResponse = z.infer<typeof CreateModelResponse>;

export const GetModelRequest = z.object({ id: ModelId });
export const GetModelResponse = z.object({
  model: ModelRecordSchema,
  versions: z.array(VersionRecordSchema),
});
export type GetModelResponse = z.infer<typeof GetModelResponse>;

export const ListModelsResponse = z.object({
  models: z.array(ModelRecordSchema),
});
export type ListModelsResponse = z.infer<typeof ListModelsResponse>;

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
});
export type CreateVersionRequest = z.infer<typeof CreateVersionRequest>;
export const CreateVersionResponse = z.object({
  version: VersionRecordSchema,
  created: z.boolean(),
});
export type CreateVersionResponse = z.infer<typeof CreateVersionResponse>;

/** Without `version`, the default: the highest ready version (aliases come with their own issue). */
export const ResolveVersionRequest = z.object({
  model_id: ModelId,
  version: VersionNumber.optional(),
});
export type ResolveVersionRequest = z.infer<typeof ResolveVersionRequest>;
export const ResolveVersionResponse = z.object({
  model: ModelRecordSchema,
  version: VersionRecordSchema,
});
export type ResolveVersionResponse = z.infer<typeof ResolveVersionResponse>;

export const ModelChangedEvent = z.object({
  model_id: ModelId,
  change: z.enum(['created', 'updated', 'version_created', 'deleted']),
  version: VersionNumber.optional(),
});
export type ModelChangedEvent = z.infer<typeof ModelChangedEvent>;

const QUEUE = 'registry';

export const Registry = {
  createModel: serviceRpc(
    'registry.model.create.v1',
    QUEUE,
    CreateModelRequest,
    CreateModelResponse,
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
    Empty,
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
  ping: serviceRpc('registry.ping.v1', QUEUE, Empty, PingResponse),
  modelChanged: event('registry.model.changed.v1', ModelChangedEvent),
} as const;
