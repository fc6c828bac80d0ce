import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import {
  GcReport,
  isModelId,
  MAX_ARTIFACT_BATCH,
  Registry,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import { StorageDriver } from '@portfolio/storage';

import { STORAGE_DRIVER } from '../ingest.service';

export const GC_SETTINGS = Symbol('GC_SETTINGS');

export interface GcSettings {
  /** How often the background collection runs; 0: never (only when asked). */
  readonly intervalMs: number;
  /** Artifacts younger than this are kept whatever the registry says (see collect). */
  readonly minAgeMs: number;
}

export const DEFAULT_GC_SETTINGS: GcSettings = {
  intervalMs: 6 * 3600_000,
  minAgeMs: 3600_000,
};

/** The most unreferenced artifacts a report lists one by one (all are counted). */
const REPORT_LIMIT = 1000;
const SHA256 = /^[0-9a-f]{64}$/;

interface Group {
  model_id: string;
  sha256: string;
  keys: string[];
  bytes: number;
  modified: Date;
}

/**
 * Garbage collection of stored artifacts that no version references. An artifact is
 * the files under one `<model id>/<sha256>/`; the registry is asked, in batches, which
 * of them some version still names, and the others are deleted. Never on doubt: a
 * registry that does not answer stops the run before anything is deleted, and an
 * artifact younger than `minAgeMs` is kept, because between an upload's commit and its
 * version's creation the registry does not know it yet. Just before deleting, the
 * candidates are asked about again and their files' times read again: the local driver
 * renews an artifact's time when identical bytes are committed again, so an upload that
 * reuses an orphan during the run keeps it. (The cloud drivers do not renew it: there
 * the window is the few milliseconds between such a commit and its version's creation,
 * during a collection's last check.)
 */
@Injectable()
export class ArtifactCollector
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('ArtifactGC');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<GcReport> | null = null;

  constructor(
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    private readonly messaging: Messaging,
    @Inject(GC_SETTINGS) private readonly settings: GcSettings,
  ) {}

  onApplicationBootstrap(): void {
    if (this.settings.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.collect({ dryRun: false }).catch((e: unknown) =>
        this.logger.warn(
          `background collection stopped: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One collection at a time: a second request while one runs gets that one's report. */
  collect(options: { dryRun: boolean; minAgeMs?: number }): Promise<GcReport> {
    this.running ??= this.run(options).finally(() => (this.running = null));
    return this.running;
  }

  private async run(options: {
    dryRun: boolean;
    minAgeMs?: number;
  }): Promise<GcReport> {
    const started = Date.now();
    const minAgeMs = options.minAgeMs ?? this.settings.minAgeMs;
    const groups = new Map<string, Group>();
    let files = 0;
    let bytes = 0;
    for await (const a of this.driver.list('')) {
      const [modelId, sha256, ...rest] = a.key.split('/');
      // Only content-addressed artifacts; anything else is not the collector's.
      if (rest.length === 0 || !isModelId(modelId) || !SHA256.test(sha256))
        continue;
      files++;
      bytes += a.sizeBytes;
      const id = `${modelId}/${sha256}`;
      const g = groups.get(id) ?? {
        model_id: modelId,
        sha256,
        keys: [],
        bytes: 0,
        modified: a.modified,
      };
      g.keys.push(a.key);
      g.bytes += a.sizeBytes;
      if (a.modified > g.modified) g.modified = a.modified;
      groups.set(id, g);
    }
    const unreferenced = await this.unreferenced([...groups.values()]);
    const cutoff = started - minAgeMs;
    const old = unreferenced.filter((g) => g.modified.getTime() <= cutoff);
    const deleted: Group[] = [];
    if (!options.dryRun && old.length > 0) {
      // Again, just before: a version may have been registered meanwhile.
      const still = new Set(
        (await this.unreferenced(old)).map((g) => `${g.model_id}/${g.sha256}`),
      );
      for (const g of old) {
        if (!still.has(`${g.model_id}/${g.sha256}`)) continue;
        // Stored again since the scan (an upload of the same bytes): it stays.
        if (await this.touchedSince(g, cutoff)) continue;
        for (const key of g.keys)
          await this.driver.delete(this.driver.uriFor(key));
        deleted.push(g);
      }
    }
    const report: GcReport = {
      dry_run: options.dryRun,
      min_age_ms: minAgeMs,
      scanned: { artifacts: groups.size, files, bytes },
      unreferenced: {
        artifacts: unreferenced.length,
        bytes: sum(unreferenced),
        too_recent: unreferenced.length - old.length,
        listed: unreferenced.slice(0, REPORT_LIMIT).map((g) => ({
          model_id: g.model_id,
          sha256: g.sha256,
          files: g.keys.length,
          bytes: g.bytes,
          modified_at: g.modified.toISOString(),
          collectable: g.modified.getTime() <= cutoff,
        })),
      },
      deleted: { artifacts: deleted.length, bytes: sum(deleted) },
      took_ms: Date.now() - started,
    };
    this.logger.log(
      `${options.dryRun ? 'dry run: ' : ''}${groups.size} artifacts (${bytes} bytes) scanned, ${unreferenced.length} referenced by no version (${report.unreferenced.bytes} bytes, ${report.unreferenced.too_recent} too recent to collect), ${deleted.length} deleted (${report.deleted.bytes} bytes)`,
    );
    return report;
  }

  private async touchedSince(g: Group, cutoff: number): Promise<boolean> {
    for (const key of g.keys) {
      const stat = await this.driver
        .stat(this.driver.uriFor(key))
        .catch(() => null);
      if (stat && stat.modified.getTime() > cutoff) return true;
    }
    return false;
  }

  /** Those of `groups` no version references, asking the registry in batches. */
  private async unreferenced(groups: Group[]): Promise<Group[]> {
    const referenced = new Set<string>();
    for (let i = 0; i < groups.length; i += MAX_ARTIFACT_BATCH) {
      const batch = groups.slice(i, i + MAX_ARTIFACT_BATCH);
      const res = await this.messaging.call(Registry.referencedArtifacts, {
        artifacts: batch.map((g) => ({
          model_id: g.model_id,
          sha256: g.sha256,
        })),
      });
      for (const r of res.referenced)
        referenced.add(`${r.model_id}/${r.sha256}`);
    }
    return groups.filter((g) => !referenced.has(`${g.model_id}/${g.sha256}`));
  }
}

function sum(groups: Group[]): number {
  return groups.reduce((n, g) => n + g.bytes, 0);
}
