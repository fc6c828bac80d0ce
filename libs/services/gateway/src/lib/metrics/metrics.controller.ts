import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { CacheManager } from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { RoutingTableService } from '../routing/routing-table.service';
import { GatewayMetrics } from './gateway-metrics';
import { Access } from '../auth/scopes';

/** A scrape must not wait long on the cache-manager: without it, its gauges are left out. */
const STATUS_TIMEOUT_MS = 2000;

/**
 * `GET /metrics`: Prometheus text, for a key with the `read` scope (Prometheus sends it
 * with `authorization: { credentials: <key> }` in its scrape config): it names models,
 * versions and runtimes.
 */
@Controller()
@Access('read')
@ApiTags('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly routing: RoutingTableService,
    private readonly messaging: Messaging,
  ) {}

  @Get('metrics')
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'HTTP requests and latency by route template, cache hits and misses, loads, evictions by reason, memory per runtime, copies and quotas (docs/metrics.md). 200 even when the cache-manager does not answer: `portfolio_cache_manager_up` is then 0.',
  })
  @ApiResponse({
    status: 200,
    description: 'Prometheus text exposition format',
    content: {
      'text/plain; version=0.0.4; charset=utf-8': {
        schema: { type: 'string' },
        example:
          '# HELP portfolio_cache_manager_up Whether the cache-manager answered this scrape\n# TYPE portfolio_cache_manager_up gauge\nportfolio_cache_manager_up 1\n',
      },
    },
  })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply) {
    const cluster = await this.messaging
      .call(CacheManager.status, {}, { timeoutMs: STATUS_TIMEOUT_MS })
      .catch(() => null);
    void reply.header('Content-Type', this.metrics.contentType);
    return this.metrics.render(cluster, this.routing.inFlightByNode());
  }
}
