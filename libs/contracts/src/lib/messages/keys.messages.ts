import { z } from 'zod';

import { event, serviceRpc } from '../rpc';
import { Empty, Sha256 } from './common.schema';

/**
 * What a key may do: `predict` (the client API's predictions and /v2 inference), `read`
 * (metadata and status), `admin` (everything under /admin, and the others too).
 */
export const API_KEY_SCOPES = ['predict', 'read', 'admin'] as const;
export const ApiKeyScope = z.enum(API_KEY_SCOPES);
export type ApiKeyScope = z.infer<typeof ApiKeyScope>;

export const ApiKeyId = z.string().uuid();

/** A token bucket: `requests_per_second` refill, up to `burst` at once. */
export const RateLimitSchema = z.object({
  requests_per_second: z.number().positive().max(1_000_000),
  burst: z.number().int().positive().max(1_000_000),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

/**
 * An API key as the registry keeps it: never the key itself, only its SHA-256 (keys are
 * long random strings, so a fast hash is enough to make a leaked table useless) and a
 * prefix to recognise it by.
 */
export const ApiKeyRecordSchema = z.object({
  id: ApiKeyId,
  name: z.string().min(1).max(100),
  /** The key's first characters, shown in listings (`pf_3kT9...`). */
  prefix: z.string().min(1).max(16),
  scopes: z.array(ApiKeyScope).min(1),
  /** Null: the gateway's default limit applies. */
  rate_limit: RateLimitSchema.nullable(),
  /** ISO 8601, UTC. */
  created_at: z.string(),
  /** The name of the key that created it, null for the bootstrap key or config. */
  created_by: z.string().nullable(),
  /** ISO 8601, UTC; null while the key is valid. */
  revoked_at: z.string().nullable(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

export const CreateApiKeyRequest = z.object({
  name: ApiKeyRecordSchema.shape.name,
  prefix: ApiKeyRecordSchema.shape.prefix,
  /** The gateway makes the key and sends only its hash: the key never crosses the bus. */
  key_sha256: Sha256,
  scopes: ApiKeyRecordSchema.shape.scopes,
  rate_limit: RateLimitSchema.nullable().optional(),
  created_by: z.string().max(100).nullable().optional(),
});
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeyRequest>;

export const ApiKeyResponse = z.object({ key: ApiKeyRecordSchema });
export type ApiKeyResponse = z.infer<typeof ApiKeyResponse>;

export const ListApiKeysResponse = z.object({
  keys: z.array(ApiKeyRecordSchema),
});
export type ListApiKeysResponse = z.infer<typeof ListApiKeysResponse>;

export const RevokeApiKeyRequest = z.object({
  id: ApiKeyId,
  /** Who revokes it, for the audit log. */
  actor: z.string().max(200).optional(),
});
export type RevokeApiKeyRequest = z.infer<typeof RevokeApiKeyRequest>;

export const LookupApiKeyRequest = z.object({ key_sha256: Sha256 });
export type LookupApiKeyRequest = z.infer<typeof LookupApiKeyRequest>;

/** The valid key with that hash, or null (unknown or revoked). */
export const LookupApiKeyResponse = z.object({
  key: ApiKeyRecordSchema.nullable(),
});
export type LookupApiKeyResponse = z.infer<typeof LookupApiKeyResponse>;

/** A key was created or revoked: gateways drop what they cached of it. */
export const ApiKeyChangedEvent = z.object({
  id: ApiKeyId,
  key_sha256: Sha256,
  change: z.enum(['created', 'revoked']),
});
export type ApiKeyChangedEvent = z.infer<typeof ApiKeyChangedEvent>;

const QUEUE = 'registry';

/** API keys, kept by the model registry (the one service with a database). */
export const ApiKeys = {
  create: serviceRpc(
    'registry.key.create.v1',
    QUEUE,
    CreateApiKeyRequest,
    ApiKeyResponse,
  ),
  list: serviceRpc('registry.key.list.v1', QUEUE, Empty, ListApiKeysResponse),
  revoke: serviceRpc(
    'registry.key.revoke.v1',
    QUEUE,
    RevokeApiKeyRequest,
    ApiKeyResponse,
  ),
  lookup: serviceRpc(
    'registry.key.lookup.v1',
    QUEUE,
    LookupApiKeyRequest,
    LookupApiKeyResponse,
  ),
  changed: event('registry.key.changed.v1', ApiKeyChangedEvent),
} as const;
