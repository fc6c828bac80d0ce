import { ModelFormat, ModelRecord, VersionRecord } from '@portfolio/contracts';

import { ModelVersionEntity } from './entities/model-version.entity';
import { ModelEntity } from './entities/model.entity';
import { VersionMeasurementEntity } from './entities/version-measurement.entity';

export function toModelRecord(e: ModelEntity): ModelRecord {
  return {
    id: e.id,
    format: e.format as ModelFormat,
    description: e.description,
    memory_estimate_bytes: e.memoryEstimateBytes,
    memory_estimate_authoritative: e.memoryEstimateAuthoritative,
    preload: e.preload,
    pinned: e.pinned,
    ttl_ms: e.ttlMs,
    labels: e.labels,
    max_batch_size: e.maxBatchSize,
    max_queue_delay_ms: e.maxQueueDelayMs,
    engine: e.engine,
    processing: e.processing,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

/** A timestamptz column as Date#toISOString() writes it (UTC, milliseconds, `Z`). */
const isoUtc = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * toModelRecord in SQL: the ModelRecord of the `models` row aliased `m`, as JSON. For
 * listings, where the database hands over a whole page as one JSON value instead of
 * thousands of rows for TypeORM to hydrate one entity at a time and map again (the
 * whole catalogue of 10,000 models in less than half the time on PGlite:
 * `npm run bench:registry`). Keep the two in step: the registry's tests compare a
 * listed record with the one getModel returns.
 */
export const MODEL_RECORD_SQL = `json_build_object(
  'id', m.id,
  'format', m.format,
  'description', m.description,
  'memory_estimate_bytes', m.memory_estimate_bytes,
  'memory_estimate_authoritative', m.memory_estimate_authoritative,
  'preload', m.preload,
  'pinned', m.pinned,
  'ttl_ms', m.ttl_ms,
  'labels', m.labels,
  'max_batch_size', m.max_batch_size,
  'max_queue_delay_ms', m.max_queue_delay_ms,
  'engine', m.engine,
  'processing', m.processing,
  'created_at', ${isoUtc('m.created_at')},
  'updated_at', ${isoUtc('m.updated_at')})`;

export function toVersionRecord(
  e: ModelVersionEntity,
  measurement: VersionMeasurementEntity | null,
): VersionRecord {
  return {
    model_id: e.modelId,
    version: e.version,
    format: e.format as ModelFormat,
    artifact_uri: e.artifactUri,
    sha256: e.sha256,
    size_bytes: e.sizeBytes,
    signature: e.signature,
    status: e.status,
    created_at: e.createdAt.toISOString(),
    created_by: e.createdBy ?? null,
    measured: measurement && {
      memory_bytes: measurement.memoryBytes,
      load_ms: measurement.loadMs,
      measured_at: measurement.measuredAt.toISOString(),
    },
  };
}
