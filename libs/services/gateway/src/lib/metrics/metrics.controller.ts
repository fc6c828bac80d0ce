import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

import { CacheManager } from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { RoutingTableService } from '../routing/routing-table.service';
import { GatewayMetrics } from './gateway-metrics';
import { Access } from '../auth/scopes';

/** A scrape must not wait long on the cache-manager: without it, its gauges are left out. */
const STATUS_TIMEOUT_MS = 2000;

/**
 * `GET /metrics`: Prometheus text. Open like health (no key): it names models, versions
 * and runtimes, nothing more; keep the port private if that is too much.
 */
@Controller()
@Access('read')
export class MetricsController {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly routing: RoutingTableService,
    private readonly messaging: Messaging,
  ) {}

  @Get('metrics')
  async scrape(@Res({ passthrough: true }) reply: FastifyReply) {
    const cluster = await this.messaging
      .call(CacheManager.status, {}, { timeoutMs: STATUS_TIMEOUT_MS })
      .catch(() => null);
    void reply.header('Content-Type', this.metrics.contentType);
    return this.metrics.render(cluster, this.routing.inFlightByNode());
  }
}
