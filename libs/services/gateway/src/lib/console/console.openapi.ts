import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';

import { CacheModelEvent } from '@portfolio/contracts';

import { ApiErrors, ApiJson, openApiSchema } from '../openapi/openapi';
import { MODEL_EVENTS_KEPT } from './model-event-log';
import { SAMPLE_INTERVAL_MS, SAMPLES_KEPT } from './traffic-sampler';

/*
 * The OpenAPI description of what the web console reads besides the client API: the
 * cache-manager's model events and this gateway's recent traffic (docs/api.md, "Client
 * API"). Who the key is: auth/whoami.openapi.ts.
 */

const LoggedEventSchema = CacheModelEvent.extend({ id: z.string() });

export const ModelEventsSchema = z.object({
  gateway: z.string(),
  capacity: z.number().int(),
  events: z.array(LoggedEventSchema),
});

const SampleSchema = z.object({
  at: z.string(),
  interval_ms: z.number().int(),
  requests: z.number().int(),
  predictions: z.number().int(),
  errors: z.number().int(),
  latency_ms: z
    .object({ p50: z.number(), p95: z.number(), p99: z.number() })
    .nullable(),
  hits: z.number().int(),
  misses: z.number().int(),
  hit_ratio: z.number().nullable(),
});

export const StatsSchema = z.object({
  interval_ms: z.number().int(),
  samples: z.array(SampleSchema),
});

const EVENT_EXAMPLE = {
  id: '3f9a12c0-17',
  kind: 'loaded',
  model_id: 'iris',
  version: 1,
  node_id: 'runtime-1',
  bytes: 786432,
  load_ms: 3.9,
  reason: 'admin',
  at: '2026-01-05T10:00:00.000Z',
};

export const ModelEventsDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: "The cache-manager's loads and unloads, as they happen",
      description: `Every load, unload and failed load, with its reason (\`miss\`, \`admin\`, \`preload\`, ... for loads; an eviction reason for unloads; a sentence for failures). The last ${MODEL_EVENTS_KEPT} this gateway received, oldest first, as JSON; with \`Accept: text/event-stream\`, a server-sent event stream that starts with them (only those after \`Last-Event-ID\` when it names an event of this gateway) and then carries each new one as \`event: model\`, its JSON in \`data\`, with a comment line every 15 s.`,
    }),
    ApiHeader({
      name: 'Last-Event-ID',
      required: false,
      description:
        'The id of the last event received: the stream resumes after it.',
    }),
    ApiResponse({
      status: 200,
      description:
        'The events kept (JSON), or the live stream (`text/event-stream`)',
      content: {
        'application/json': {
          schema: openApiSchema(ModelEventsSchema),
          example: {
            gateway: '3f9a12c0',
            capacity: MODEL_EVENTS_KEPT,
            events: [EVENT_EXAMPLE],
          },
        },
        'text/event-stream': {
          schema: { type: 'string' },
          example: `retry: 2000\n\nid: 3f9a12c0-17\nevent: model\ndata: ${JSON.stringify(EVENT_EXAMPLE)}\n\n`,
        },
      },
    }),
    ApiErrors({
      status: 503,
      codes: ['SERVICE_UNAVAILABLE'],
      when: 'this gateway already serves its most event streams (100)',
    }),
  );

export const StatsDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: "This gateway's recent traffic",
      description: `A sample every ${SAMPLE_INTERVAL_MS / 1000} s, the last ${SAMPLES_KEPT} kept (oldest first): requests answered, HTTP predictions and those answered with a 5xx, their latency percentiles (null without predictions), and hits and misses of predictions (\`hit_ratio\` null without either). Each gateway counts its own traffic.`,
    }),
    ApiJson(200, 'The samples', openApiSchema(StatsSchema), {
      interval_ms: SAMPLE_INTERVAL_MS,
      samples: [
        {
          at: '2026-01-05T10:00:05.000Z',
          interval_ms: SAMPLE_INTERVAL_MS,
          requests: 130,
          predictions: 120,
          errors: 0,
          latency_ms: { p50: 1.9, p95: 3.4, p99: 7.2 },
          hits: 118,
          misses: 2,
          hit_ratio: 0.9833,
        },
      ],
    }),
  );
