import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

import { JsonOffload } from './json-offload';

/** The routes whose large JSON bodies are parsed off the event loop (tensors). */
const OFFLOADED_ROUTES = new Set(['/v1/models/:modelId/predict']);

/**
 * Fastify's JSON parser, except for large bodies of the prediction route: those are
 * parsed on the JSON offload thread, their big numeric arrays arriving as
 * PackedNumbers (which the tensor conversion reads directly). Errors are Fastify's
 * own for small bodies and the same kind (400, `malformed request body: ...`) for
 * large ones. Registered at module init, before the instance is ready.
 */
@Injectable()
export class JsonBodyReader implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly offload: JsonOffload,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const inline = fastify.getDefaultJsonParser('error', 'error');
    fastify.removeContentTypeParser('application/json');
    fastify.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer' },
      (request, body, done) => {
        const bytes = body as Buffer;
        if (
          !this.offload.takesBody(bytes.length) ||
          !OFFLOADED_ROUTES.has(request.routeOptions.url ?? '')
        )
          return inline(request, bytes as unknown as string, done);
        // Nothing reads the raw body after this parser.
        this.offload.parse(bytes, { giveAway: true }).then(
          (value) => done(null, value),
          (e: Error) => done(e, undefined),
        );
      },
    );
  }
}
