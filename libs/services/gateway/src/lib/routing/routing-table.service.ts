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
 *
 * It also counts the requests this gateway has in flight on each runtime, so that a
 * model with several copies gets each request sent to the copy with the fewest (other
 * gateways' requests are not seen; each spreads its own).
 */
@Injectable()
export class RoutingTableService
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('RoutingTable');
  private table: RoutingTable | null = null;
  private routes = new Map<string, string[]>();
  private cursor = 0;
  private readonly inFlight = new Map<string, number>();
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

  /**
   * The node serving the pair with the fewest of this gateway's requests in flight,
   * ties taken in turn (round robin); null on a miss.
   */
  pick(modelId: string, version: number): string | null {
    const nodes = this.routes.get(`${modelId}@${version}`);
    if (!nodes?.length) return null;
    const start = this.cursor++ % nodes.length;
    let best = nodes[start];
    for (let i = 1; i < nodes.length; i++) {
      const node = nodes[(start + i) % nodes.length];
      if (this.inFlightOn(node) < this.inFlightOn(best)) best = node;
    }
    return best;
  }

  /** Counts one request in flight on a node until the returned function is called. */
  track(nodeId: string): () => void {
    this.inFlight.set(nodeId, this.inFlightOn(nodeId) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = this.inFlightOn(nodeId) - 1;
      if (n > 0) this.inFlight.set(nodeId, n);
      else this.inFlight.delete(nodeId);
    };
  }

  inFlightOn(nodeId: string): number {
    return this.inFlight.get(nodeId) ?? 0;
  }

  /** This gateway's requests in flight, per node that has any. */
  inFlightByNode(): ReadonlyMap<string, number> {
    return this.inFlight;
  }

  /** Drops a node that stopped answering from every pair, until the next table. */
  forgetNode(nodeId: string): void {
    for (const [k, nodes] of this.routes) {
      const left = nodes.filter((n) => n !== nodeId);
      if (left.length === nodes.length) continue;
      if (left.length) this.routes.set(k, left);
      else this.routes.delete(k);
    }
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
