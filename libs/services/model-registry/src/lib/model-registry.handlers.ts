import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import { ModelChangedEvent, Registry } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { ModelRegistryService } from './model-registry.service';

/** The registry's bus surface: parse (done by Messaging), delegate, announce changes. */
@Injectable()
export class ModelRegistryHandlers
  implements OnApplicationBootstrap, OnModuleDestroy
{
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
      m.serve(Registry.getModel, (req) => this.registry.getModel(req.id)),
      m.serve(Registry.listModels, () => this.registry.listModels()),
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
      m.serve(Registry.resolveVersion, (req) =>
        this.registry.resolveVersion(req),
      ),
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

  private changed(event: ModelChangedEvent): void {
    this.messaging.emit(Registry.modelChanged, event);
  }
}
