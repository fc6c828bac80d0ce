import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';

import {
  CacheManager,
  PingResponse,
  Runtime,
  RpcRequest,
  RpcResponse,
  RuntimeHeartbeat,
} from '@portfolio/contracts';
import { BusEvent, BusRpc } from '@portfolio/messaging';

import { CacheManagerService } from './cache-manager.service';

type Req<K extends keyof typeof CacheManager> = RpcRequest<
  (typeof CacheManager)[K]
>;
type Res<K extends keyof typeof CacheManager> =
  | RpcResponse<(typeof CacheManager)[K]>
  | Promise<RpcResponse<(typeof CacheManager)[K]>>;

/** The cache-manager's bus surface: runtimes' reports in, placement and status out. */
@Controller()
export class CacheManagerController {
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly cache: CacheManagerService) {}

  @BusEvent(Runtime.heartbeat)
  heartbeat(@Payload() hb: RuntimeHeartbeat): void {
    this.cache.onHeartbeat(hb);
  }

  @BusEvent(Runtime.stopping)
  stopping(@Payload() e: { node_id: string }): void {
    this.cache.onRuntimeStopping(e.node_id);
  }

  @BusRpc(CacheManager.ensureLoaded)
  ensureLoaded(@Payload() req: Req<'ensureLoaded'>): Res<'ensureLoaded'> {
    return this.cache.ensure(req);
  }

  @BusRpc(CacheManager.getRouting)
  getRouting(): Res<'getRouting'> {
    return this.cache.routingTable();
  }

  @BusRpc(CacheManager.status)
  status(): Res<'status'> {
    return this.cache.status();
  }

  @BusRpc(CacheManager.load)
  load(@Payload() req: Req<'load'>): Res<'load'> {
    return this.cache.adminLoad(req);
  }

  @BusRpc(CacheManager.unload)
  unload(@Payload() req: Req<'unload'>): Res<'unload'> {
    return this.cache.adminUnload(req);
  }

  @BusRpc(CacheManager.ping)
  ping(): PingResponse {
    return {
      service: 'cache-manager',
      instance: this.cache.instance,
      started_at: this.startedAt,
    };
  }
}
