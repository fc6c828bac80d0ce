import { DynamicModule, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import type { TrialLoadOptions } from '@portfolio/model-formats';
import { StorageDriver } from '@portfolio/storage';
import { MetricsModule } from '@portfolio/telemetry';

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
import { STORAGE_INSTANCE, StorageController } from './storage.controller';
import { StorageMetrics } from './storage.metrics';
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
  /**
   * Artifacts are loaded once in a throwaway process before their version is
   * registered (storage.trial_load); absent: they are only inspected.
   */
  readonly trialLoad?: TrialLoadOptions;
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
      trialLoad: options.trialLoad,
    };
    return {
      module: StorageServiceModule,
      imports: [MetricsModule],
      controllers: [StorageController],
      providers: [
        { provide: STORAGE_DRIVER, useValue: options.driver },
        { provide: INGEST_SETTINGS, useValue: settings },
        { provide: STORAGE_INSTANCE, useValue: settings.instance },
        { provide: GC_SETTINGS, useValue: options.gc ?? DEFAULT_GC_SETTINGS },
        StorageMetrics,
        IngestService,
        ArtifactCollector,
      ],
      exports: [IngestService],
    };
  }
}

/**
 * The trial loads of an app's `storage.trial_load` settings, run with the
 * `trial-load.js` built beside its main.js (`appDir`); undefined where they are off.
 */
export function trialLoadOptions(
  storage: {
    readonly trialLoad: {
      readonly enabled: boolean;
      readonly timeoutMs: number;
      readonly maxMemoryBytes: number;
    };
  },
  appDir: string,
): TrialLoadOptions | undefined {
  const { enabled, timeoutMs, maxMemoryBytes } = storage.trialLoad;
  return enabled
    ? {
        script: join(appDir, 'trial-load.js'),
        timeoutMs,
        maxBytes: maxMemoryBytes,
      }
    : undefined;
}
