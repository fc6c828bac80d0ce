import { InitialSchema1764201600000 } from './1764201600000-initial-schema';
import { MemoryMeasurements1796169600000 } from './1796169600000-memory-measurements';
import { ApiKeys1796256000000 } from './1796256000000-api-keys';
import { Aliases1796342400000 } from './1796342400000-aliases';
import { AuditLog1796428800000 } from './1796428800000-audit-log';
import { VersionLifecycle1796601600000 } from './1796601600000-version-lifecycle';
import { ModelLabelsIndex1796688000000 } from './1796688000000-model-labels-index';
import { VersionCreatedBy1796774400000 } from './1796774400000-version-created-by';
import { ModelBatching1796860800000 } from './1796860800000-model-batching';
import { ModelEngine1796947200000 } from './1796947200000-model-engine';
import { ModelProcessing1797033600000 } from './1797033600000-model-processing';

/** In order. Never edit a migration that has shipped: add a new one. */
export const REGISTRY_MIGRATIONS = [
  InitialSchema1764201600000,
  MemoryMeasurements1796169600000,
  ApiKeys1796256000000,
  Aliases1796342400000,
  AuditLog1796428800000,
  VersionLifecycle1796601600000,
  ModelLabelsIndex1796688000000,
  VersionCreatedBy1796774400000,
  ModelBatching1796860800000,
  ModelEngine1796947200000,
  ModelProcessing1797033600000,
];
