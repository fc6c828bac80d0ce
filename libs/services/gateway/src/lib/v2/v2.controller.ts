import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Res,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { parseVersion } from '../v1/v1.controller';
import { JsonOffload } from '../http/json-offload';
import {
  decodeInferRequest,
  encodeInferResponseOffloaded,
  INFERENCE_HEADER_CONTENT_LENGTH,
  jsonPartToOffload,
  notValidJson,
} from './oip.codec';
import {
  OpenInferenceService,
  SERVER_METADATA,
} from './open-inference.service';
import { Access } from '../auth/scopes';
import {
  InferDocs,
  LiveDocs,
  ModelMetadataDocs,
  ModelReadyDocs,
  ReadyDocs,
  ServerMetadataDocs,
} from './oip.openapi';

/** What `GET /v2` reports (shared with gRPC's ServerMetadata). */
export { SERVER_METADATA };

/**
 * The Open Inference Protocol's server endpoints (KServe v2 / Triton): metadata (scope
 * `read`) and health (open, as `/v1/health` is).
 */
@Controller('v2')
@Access('read')
@ApiTags('v2')
export class V2ServerController {
  constructor(private readonly oip: OpenInferenceService) {}

  @Get()
  @ServerMetadataDocs()
  metadata() {
    return SERVER_METADATA;
  }

  /** The process answers: it is live. */
  @Get('health/live')
  @Access('public')
  @LiveDocs()
  live() {
    return { live: true };
  }

  /**
   * Ready when an inference can be served: the bus, the registry and the cache-manager
   * answer and a runtime is alive (models load on demand, so none need be loaded).
   * Otherwise 503, with what is missing.
   */
  @Get('health/ready')
  @Access('public')
  @ReadyDocs()
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const readiness = await this.oip.serverReadiness();
    if (readiness.ready) return { ready: true };
    void reply.status(503).header('Retry-After', '1');
    return {
      ready: false,
      error: `not ready: ${readiness.missing.join('; ')}`,
    };
  }
}

/**
 * The Open Inference Protocol's model endpoints: metadata, readiness and inference of a
 * model, at its default version (where alias `production` points, else the highest ready one) or a given one. Inference goes
 * through PredictService, as `/v1` predict does: same routing, loading and retries.
 * Metadata and readiness need the `read` scope, inference `predict`.
 */
@Controller('v2/models')
@Access('read')
@ApiTags('v2')
export class V2ModelsController {
  constructor(
    private readonly oip: OpenInferenceService,
    private readonly offload: JsonOffload,
  ) {}

  @Get(':name')
  @ModelMetadataDocs(false)
  metadata(@Param('name') name: string) {
    return this.oip.modelMetadata(name, undefined);
  }

  @Get(':name/versions/:version')
  @ModelMetadataDocs(true)
  versionMetadata(
    @Param('name') name: string,
    @Param('version') version: string,
  ) {
    return this.oip.modelMetadata(name, parseVersion(version));
  }

  @Get(':name/ready')
  @ModelReadyDocs(false)
  ready(@Param('name') name: string) {
    return this.modelReady(name, undefined);
  }

  @Get(':name/versions/:version/ready')
  @ModelReadyDocs(true)
  versionReady(@Param('name') name: string, @Param('version') version: string) {
    return this.modelReady(name, parseVersion(version));
  }

  @Post(':name/infer')
  @Access('predict')
  @InferDocs(false)
  @HttpCode(200)
  infer(
    @Param('name') name: string,
    @Headers(INFERENCE_HEADER_CONTENT_LENGTH) headerLength: string | undefined,
    @Body() body: Buffer | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return this.runInference(name, undefined, body, headerLength, reply);
  }

  @Post(':name/versions/:version/infer')
  @Access('predict')
  @InferDocs(true)
  @HttpCode(200)
  versionInfer(
    @Param('name') name: string,
    @Param('version') version: string,
    @Headers(INFERENCE_HEADER_CONTENT_LENGTH) headerLength: string | undefined,
    @Body() body: Buffer | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return this.runInference(
      name,
      parseVersion(version),
      body,
      headerLength,
      reply,
    );
  }

  /**
   * The JSON part of a large request parsed off the event loop (undefined: small, left
   * to the decoder), with the decoder's own strictness and wording.
   */
  private async parseLargeJson(
    body: Buffer | undefined,
    headerLength: string | undefined,
  ): Promise<unknown> {
    const json = jsonPartToOffload(body, headerLength, this.offload);
    if (!json) return undefined;
    try {
      return await this.offload.parse(json, {
        strictUtf8: true,
        refusePoisoning: false,
      });
    } catch (e) {
      if (e instanceof SyntaxError) throw notValidJson(e.message);
      throw e;
    }
  }

  private async modelReady(name: string, version: number | undefined) {
    await this.oip.modelReady(name, version);
    return { name, ready: true };
  }

  private async runInference(
    name: string,
    version: number | undefined,
    body: Buffer | undefined,
    headerLength: string | undefined,
    reply: FastifyReply,
  ): Promise<Buffer> {
    const {
      request,
      version: served,
      outputs,
    } = await this.oip.infer(name, version, async (signature) =>
      decodeInferRequest(
        body,
        headerLength,
        signature,
        name,
        this.oip.jsonBudget(),
        await this.parseLargeJson(body, headerLength),
      ),
    );
    const encoded = await encodeInferResponseOffloaded(
      {
        modelId: name,
        version: served,
        ...(request.id !== undefined ? { id: request.id } : {}),
        outputs,
        binary: request.binary,
      },
      this.offload,
    );
    if (encoded.headerLength === null) {
      void reply.header('Content-Type', 'application/json; charset=utf-8');
    } else {
      void reply
        .header('Content-Type', 'application/octet-stream')
        .header(
          'Inference-Header-Content-Length',
          String(encoded.headerLength),
        );
    }
    return encoded.body;
  }
}
