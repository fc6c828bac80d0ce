import { DynamicModule, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';

import { StorageDriver } from '@portfolio/storage';

import {
  INGEST_SETTINGS,
  IngestService,
  IngestSettings,
  STORAGE_DRIVER,
} from './ingest.service';
import {
  ArtifactCollector,
  DEFAULT_GC_SETTINGS,
  GC_SETTINGS,
  GcSettings,
} from './gc/artifact-collector';
import { ImportSources } from './import/import-sources';
import { StorageHandlers } from './storage.handlers';
import { UnpackLimits } from './unpack/artifact-unpack';

export interface StorageServiceOptions {
  readonly driver: StorageDriver;
  /** The bus's max payload; chunks stay well below it. */
  readonly maxPayloadBytes: number;
  readonly idleTimeoutMs?: number;
  /** Where archives and forms are unpacked (default: the OS's temporary directory). */
  readonly unpackDir?: string;
  readonly unpackLimits?: UnpackLimits;
  /** Where versions may be registered from by URI (default: nowhere). */
  readonly importSources?: ImportSources;
  /** Garbage collection of unreferenced artifacts (default: every 6 h, older than 1 h). */
  readonly gc?: GcSettings;
}

const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Room for headers and framing within one message. */
const PAYLOAD_HEADROOM_BYTES = 16 * 1024;

@Module({})
export class StorageServiceModule {
  static forRoot(options: StorageServiceOptions): DynamicModule {
    const settings: IngestSettings = {
      instance: `storage-${randomBytes(6).toString('hex')}`,
      maxChunkBytes: Math.max(
        4096,
        Math.min(
          MAX_CHUNK_BYTES,
          options.maxPayloadBytes - PAYLOAD_HEADROOM_BYTES,
        ),
      ),
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      unpackDir: options.unpackDir,
      unpackLimits: options.unpackLimits,
      importSources: options.importSources,
    };
    return {
      module: StorageServiceModule,
      providers: [
        { provide: STORAGE_DRIVER, useValue: options.driver },
        { provide: INGEST_SETTINGS, useValue: settings },
        { provide: GC_SETTINGS, useValue: options.gc ?? DEFAULT_GC_SETTINGS },
        IngestService,
        ArtifactCollector,
        StorageHandlers,
      ],
      exports: [IngestService],
    };
  }
}
