import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Access } from '../auth/scopes';
import { ModelEventsDocs, StatsDocs } from './console.openapi';
import { ModelEventStreams, wantsEventStream } from './event-stream';
import { MODEL_EVENTS_KEPT, ModelEventLog } from './model-event-log';
import { SAMPLE_INTERVAL_MS, TrafficSampler } from './traffic-sampler';

/**
 * What the web console reads besides the client API (scope `read`): the cache-manager's
 * model events, kept and live, and this gateway's recent traffic.
 */
@Controller('v1')
@Access('read')
@ApiTags('v1')
export class ConsoleController {
  constructor(
    private readonly log: ModelEventLog,
    private readonly streams: ModelEventStreams,
    private readonly sampler: TrafficSampler,
  ) {}

  @Get('models/events')
  @ModelEventsDocs()
  events(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (wantsEventStream(request)) return this.streams.start(request, reply);
    const last = request.headers['last-event-id'];
    return {
      gateway: this.log.instance,
      capacity: MODEL_EVENTS_KEPT,
      events: this.log.since(typeof last === 'string' ? last : undefined),
    };
  }

  @Get('stats')
  @StatsDocs()
  stats() {
    return { interval_ms: SAMPLE_INTERVAL_MS, samples: this.sampler.recent() };
  }
}
