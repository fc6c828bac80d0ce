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
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

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
    measured: measurement && {
      memory_bytes: measurement.memoryBytes,
      load_ms: measurement.loadMs,
      measured_at: measurement.measuredAt.toISOString(),
    },
  };
}
