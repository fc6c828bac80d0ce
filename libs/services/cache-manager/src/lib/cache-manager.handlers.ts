import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import { CacheManager, Runtime } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { CacheManagerService } from './cache-manager.service';

@Injectable()
export class CacheManagerHandlers
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private subscriptions: BusSubscription[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly messaging: Messaging,
    private readonly cache: CacheManagerService,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.messaging;
    this.subscriptions = [
      m.on(Runtime.heartbeat, (hb) => this.cache.onHeartbeat(hb)),
      m.on(Runtime.stopping, (e) => this.cache.onRuntimeStopping(e.node_id)),
      m.serve(CacheManager.ensureLoaded, (req) => this.cache.ensure(req)),
      m.serve(CacheManager.getRouting, () => this.cache.routingTable()),
      m.serve(CacheManager.status, () => this.cache.status()),
      m.serve(CacheManager.load, (req) => this.cache.adminLoad(req)),
      m.serve(CacheManager.unload, (req) => this.cache.adminUnload(req)),
      m.serve(CacheManager.ping, () => ({
        service: 'cache-manager',
        instance: this.cache.instance,
        started_at: this.startedAt,
      })),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }
}
