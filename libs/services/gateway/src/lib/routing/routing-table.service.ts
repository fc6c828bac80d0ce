import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import { CacheManager, RoutingTable } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

/**
 * The gateway's copy of where each (model, version) is loaded, pushed by the
 * cache-manager, so that a hit costs no extra hop. A table from another cache-manager
 * instance (it restarted) replaces ours whatever its epoch; from the same instance,
 * only a newer epoch does.
 */
@Injectable()
export class RoutingTableService
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('RoutingTable');
  private table: RoutingTable | null = null;
  private routes = new Map<string, string[]>();
  private cursor = 0;
  private subscription: BusSubscription | null = null;

  constructor(private readonly messaging: Messaging) {}

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.on(CacheManager.routingChanged, (t) =>
      this.accept(t),
    );
    void this.messaging
      .call(CacheManager.getRouting, {}, { timeoutMs: 2000 })
      .then((t) => this.accept(t))
      .catch(() =>
        this.logger.log(
          'no routing table yet (the cache-manager is not up); routing through it on demand',
        ),
      );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  /** A node serving the pair, spreading requests over copies; null on a miss. */
  pick(modelId: string, version: number): string | null {
    const nodes = this.routes.get(`${modelId}@${version}`);
    if (!nodes?.length) return null;
    return nodes[this.cursor++ % nodes.length];
  }

  /** Drops one node for a pair after it failed, until the next table says otherwise. */
  forget(modelId: string, version: number, nodeId: string): void {
    const k = `${modelId}@${version}`;
    const nodes = this.routes.get(k)?.filter((n) => n !== nodeId);
    if (nodes?.length) this.routes.set(k, nodes);
    else this.routes.delete(k);
  }

  /** Records where a miss was just loaded, ahead of the table announcing it. */
  learn(modelId: string, version: number, nodeId: string): void {
    const k = `${modelId}@${version}`;
    const nodes = this.routes.get(k) ?? [];
    if (!nodes.includes(nodeId)) this.routes.set(k, [...nodes, nodeId]);
  }

  accept(table: RoutingTable): void {
    const current = this.table;
    if (
      current &&
      current.instance === table.instance &&
      table.epoch < current.epoch
    )
      return;
    this.table = table;
    this.routes = new Map(
      table.routes.map((r) => [`${r.model_id}@${r.version}`, r.nodes]),
    );
  }
}
