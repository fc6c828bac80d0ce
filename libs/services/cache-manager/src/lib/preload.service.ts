import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import {
  isPortfolioError,
  listAllModels,
  Registry,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { CacheManagerService } from './cache-manager.service';

const RETRY_MS = 2000;
/** Errors worth retrying: the cluster may change (a runtime joins, memory frees up). */
const TRANSIENT = new Set([
  'NO_RUNTIME',
  'SERVICE_UNAVAILABLE',
  'TIMEOUT',
  'INSUFFICIENT_MEMORY',
]);

/**
 * Keeps `preload: true` models (their default version) loaded: at start, when a model
 * or version changes, when a runtime joins, and whenever one is found loaded nowhere
 * (evicted under memory pressure, or lost with its runtime). Work that failed for a
 * transient reason is retried; a model that fails to load is left alone until it changes.
 */
@Injectable()
export class PreloadService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Preload');
  private dirty = true;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private subscription: BusSubscription | null = null;
  private stopJoinHook: (() => void) | null = null;
  private readonly given = new Set<string>();
  /** The default version of each preload model, as of the last listing. */
  private readonly targets = new Map<string, number>();

  constructor(
    private readonly messaging: Messaging,
    private readonly cache: CacheManagerService,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.on(Registry.modelChanged, (e) => {
      this.given.delete(e.model_id);
      this.dirty = true;
      void this.sync();
    });
    this.stopJoinHook = this.cache.onRuntimeJoined(() => {
      this.dirty = true;
      void this.sync();
    });
    this.timer = setInterval(() => void this.sync(), RETRY_MS);
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.subscription?.unsubscribe();
    this.stopJoinHook?.();
  }

  async sync(): Promise<void> {
    for (const [modelId, version] of this.targets)
      if (!this.cache.isServing(modelId, version)) this.dirty = true;
    if (!this.dirty || this.running) return;
    this.running = true;
    this.dirty = false;
    try {
      const models = await listAllModels((req) =>
        this.messaging.call(Registry.listModels, req),
      );
      const preloaded = new Set(
        models.filter((m) => m.preload).map((m) => m.id),
      );
      for (const id of this.targets.keys())
        if (!preloaded.has(id)) this.targets.delete(id);
      for (const model of models.filter(
        (m) => m.preload && !this.given.has(m.id),
      )) {
        try {
          const { version } = await this.messaging.call(
            Registry.resolveVersion,
            { model_id: model.id },
          );
          this.targets.set(model.id, version.version);
          const res = await this.cache.ensure({
            model_id: model.id,
            version: version.version,
          });
          if (res.loaded_now)
            this.logger.log(
              `preloaded ${model.id}@${version.version} on ${res.node_id}`,
            );
        } catch (e) {
          if (!isPortfolioError(e) || TRANSIENT.has(e.code)) {
            this.dirty = true;
          } else if (e.code !== 'VERSION_NOT_FOUND') {
            this.given.add(model.id);
            this.logger.warn(`not preloading ${model.id}: ${e.message}`);
          }
        }
      }
    } catch (e) {
      // The registry is not reachable yet; try again on the next tick.
      this.dirty = true;
      if (!isPortfolioError(e))
        this.logger.warn(
          `preload: ${e instanceof Error ? e.message : String(e)}`,
        );
    } finally {
      this.running = false;
    }
  }
}
