import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { GatewayMetrics } from './gateway-metrics';
import { Access } from '../auth/scopes';

/**
 * `GET /metrics`: Prometheus text of the app's registry, for a key with the `read` scope
 * (Prometheus sends it with `authorization: { credentials_file: <file> }` in its scrape
 * config): it names models, versions and runtimes. In the distributed mode that is the
 * gateway's own metrics (the other services serve theirs on `metrics.port`); in the
 * standalone app, every service's.
 */
@Controller()
@Access('read')
@ApiTags('metrics')
export class MetricsController {
  constructor(private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      "HTTP and gRPC requests and latency by route template, cache hits and misses, retries and requests in flight per runtime (docs/metrics.md); in the standalone app also every other service's: loads, evictions by reason, inference queue and compute time, batch sizes, memory per runtime, placement time, registry and database latency.",
  })
  @ApiResponse({
    status: 200,
    description: 'Prometheus text exposition format',
    content: {
      'text/plain; version=0.0.4; charset=utf-8': {
        schema: { type: 'string' },
        example:
          '# HELP portfolio_cache_hits_total Predictions through this gateway that found their model loaded\n# TYPE portfolio_cache_hits_total counter\nportfolio_cache_hits_total{model="iris",version="1"} 42\n',
      },
    },
  })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply) {
    void reply.header('Content-Type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
