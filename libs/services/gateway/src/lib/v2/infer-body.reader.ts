import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

/**
 * Media type given, inside this process only, to the body of every `/v2/.../infer`
 * request, so that one parser of ours reads it whole as bytes.
 */
const INFER_BODY_TYPE = 'application/x-portfolio-oip-infer';

/** `POST /v2/models/{name}[/versions/{v}]/infer`, with or without a query. */
const INFER_PATH =
  /^\/v2\/models\/[^/?]+(?:\/versions\/[^/?]+)?\/infer(?:\?.*)?$/;

/**
 * An inference request of the Open Inference Protocol is JSON, or JSON followed by raw
 * tensor bytes (the binary extension), and clients label it as they please: Triton's
 * HTTP client sends no Content-Type, KServe's sends `application/octet-stream` with
 * binary data and none without. So these bodies are read as bytes whatever their
 * Content-Type says (the route decodes them) instead of going to the JSON parser or the
 * upload stream. Fastify's `bodyLimit` still applies: over it, 413 before the body is
 * read when Content-Length announces it, else as soon as it is passed.
 *
 * Registered on the gateway's own Fastify instance at module init (before it is
 * ready), so every app that imports the gateway module gets it.
 */
@Injectable()
export class InferBodyReader implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onRequest', (request, _reply, done) => {
      // Fastify reads a missing Content-Type as "no body" only when no bytes are
      // announced either; setting it sends every body of this route to our parser.
      if (request.method === 'POST' && INFER_PATH.test(request.url))
        request.headers['content-type'] = INFER_BODY_TYPE;
      done();
    });
    fastify.addContentTypeParser(
      INFER_BODY_TYPE,
      { parseAs: 'buffer' },
      (_request, body, done) => done(null, body),
    );
  }
}
