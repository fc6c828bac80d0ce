import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import {
  isPortfolioError,
  ModelChangedEvent,
  Registry,
  VersionMeasuredEvent,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { ModelRegistryService } from './model-registry.service';

/** The registry's bus surface: parse (done by Messaging), delegate, announce changes. */
@Injectable()
export class ModelRegistryHandlers
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('ModelRegistry');
  private subscriptions: BusSubscription[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly messaging: Messaging,
    private readonly registry: ModelRegistryService,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.messaging;
    this.subscriptions = [
      m.serve(Registry.createModel, async (req) => {
        const res = await this.registry.createModel(req);
        if (res.created)
          this.changed({ model_id: res.model.id, change: 'created' });
        else if (req.if_exists === 'update')
          this.changed({ model_id: res.model.id, change: 'updated' });
        return res;
      }),
      m.serve(Registry.updateModel, async (req) => {
        const res = await this.registry.updateModel(req);
        if (res.changed.length > 0)
          this.changed({ model_id: req.id, change: 'updated' });
        return res;
      }),
      m.serve(Registry.getModel, (req) => this.registry.getModel(req.id)),
      m.serve(Registry.listModels, (req) => this.registry.listModels(req)),
      m.serve(Registry.createVersion, async (req) => {
        const res = await this.registry.createVersion(req);
        if (res.created) {
          this.changed({
            model_id: req.model_id,
            change: 'version_created',
            version: res.version.version,
          });
        }
        return res;
      }),
      m.serve(Registry.updateVersion, async (req) => {
        const res = await this.registry.updateVersion(req);
        if (res.changed)
          this.changed({
            model_id: req.model_id,
            change: 'version_updated',
            version: req.version,
          });
        return res;
      }),
      m.serve(Registry.deleteVersion, async (req) => {
        const res = await this.registry.deleteVersion(req);
        this.changed({
          model_id: req.model_id,
          change: 'version_deleted',
          version: req.version,
        });
        return res;
      }),
      m.serve(Registry.deleteModel, async (req) => {
        const res = await this.registry.deleteModel(req);
        this.changed({ model_id: req.id, change: 'deleted' });
        return res;
      }),
      m.serve(Registry.resolveVersion, (req) =>
        this.registry.resolveVersion(req),
      ),
      m.serve(Registry.listAudit, (req) => this.registry.listAudit(req)),
      m.serve(Registry.referencedArtifacts, (req) =>
        this.registry.referencedArtifacts(req),
      ),
      m.serve(Registry.setAlias, async (req) => {
        const res = await this.registry.setAlias(req);
        this.changed({
          model_id: req.model_id,
          change: 'alias_set',
          alias: req.alias,
          version: req.version,
        });
        return res;
      }),
      m.serve(Registry.deleteAlias, async (req) => {
        const res = await this.registry.deleteAlias(req);
        this.changed({
          model_id: req.model_id,
          change: 'alias_deleted',
          alias: req.alias,
          version: res.version,
        });
        return res;
      }),
      // No registry.model.changed.v1 for a measurement: nothing a gateway caches depends
      // on it, and the cache-manager that publishes it knows it already.
      m.on(Registry.versionMeasured, (e) => this.measured(e)),
      // Up means able to answer: a registry without its database is down for health.
      m.serve(Registry.ping, async () => {
        await this.registry.ping();
        return {
          service: 'model-registry',
          instance: process.pid.toString(),
          started_at: this.startedAt,
        };
      }),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }

  /** Best effort: a measurement that cannot be stored is logged; the next load measures again. */
  private async measured(e: VersionMeasuredEvent): Promise<void> {
    try {
      await this.registry.recordMeasurement(e);
    } catch (err) {
      if (!isPortfolioError(err)) throw err;
      this.logger.warn(
        `measurement of ${e.model_id}@${e.version} by ${e.node_id} not recorded: ${err.message}`,
      );
    }
  }

  private changed(event: ModelChangedEvent): void {
    this.messaging.emit(Registry.modelChanged, event);
  }
}
