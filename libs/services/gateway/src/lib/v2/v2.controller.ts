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

import {
  Registry,
  ResolveVersionResponse,
  Signature,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import { NamedTensor } from '@portfolio/tensor';

import { ModelCatalogService } from '../catalog/model-catalog.service';
import { ClusterInfoService } from '../v1/cluster-info.service';
import { PredictService } from '../v1/predict.service';
import { parseVersion } from '../v1/v1.controller';
import {
  decodeInferRequest,
  encodeInferResponse,
  INFERENCE_HEADER_CONTENT_LENGTH,
} from './oip.codec';
import { Access } from '../auth/scopes';
import {
  InferDocs,
  LiveDocs,
  ModelMetadataDocs,
  ModelReadyDocs,
  ReadyDocs,
  ServerMetadataDocs,
} from './oip.openapi';

/**
 * What `GET /v2` reports. `version` is the workspace's version (package.json), which no
 * release process sets yet; `binary_tensor_data` is the one protocol extension served.
 */
export const SERVER_METADATA = {
  name: 'portfolio',
  version: '0.0.0',
  extensions: ['binary_tensor_data'],
} as const;

/** The health components an inference needs, and what their being down means. */
const NOT_READY_WHEN_DOWN: Readonly<Record<string, string>> = {
  bus: 'the message bus is disconnected',
  registry: 'the registry does not answer',
  cache_manager: 'the cache-manager does not answer',
  runtimes: 'no runtime is alive',
};

/** Triton's platform names, which KServe clients read too; other formats keep their own. */
const PLATFORM: Readonly<Record<string, string>> = { onnx: 'onnxruntime_onnx' };

/**
 * The Open Inference Protocol's server endpoints (KServe v2 / Triton): metadata (scope
 * `read`) and health (open, as `/v1/health` is).
 */
@Controller('v2')
@Access('read')
@ApiTags('v2')
export class V2ServerController {
  constructor(private readonly info: ClusterInfoService) {}

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
    const { components } = await this.info.health();
    const missing = Object.entries(NOT_READY_WHEN_DOWN)
      .filter(
        ([c]) =>
          (components[c] as { status?: string } | undefined)?.status === 'down',
      )
      .map(([, why]) => why);
    if (missing.length === 0) return { ready: true };
    void reply.status(503).header('Retry-After', '1');
    return { ready: false, error: `not ready: ${missing.join('; ')}` };
  }
}

/**
 * The Open Inference Protocol's model endpoints: metadata, readiness and inference of a
 * model, at its default version (the highest ready one) or a given one. Inference goes
 * through PredictService, as `/v1` predict does: same routing, loading and retries.
 * Metadata and readiness need the `read` scope, inference `predict`.
 */
@Controller('v2/models')
@Access('read')
@ApiTags('v2')
export class V2ModelsController {
  constructor(
    private readonly catalog: ModelCatalogService,
    private readonly predictor: PredictService,
    private readonly messaging: Messaging,
  ) {}

  @Get(':name')
  @ModelMetadataDocs(false)
  metadata(@Param('name') name: string) {
    return this.modelMetadata(name, undefined);
  }

  @Get(':name/versions/:version')
  @ModelMetadataDocs(true)
  versionMetadata(
    @Param('name') name: string,
    @Param('version') version: string,
  ) {
    return this.modelMetadata(name, parseVersion(version));
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

  private async modelMetadata(name: string, version: number | undefined) {
    const resolved = await this.catalog.resolve(name, version);
    const { versions } = await this.messaging.call(Registry.getModel, {
      id: name,
    });
    const signature = resolved.version.signature;
    return {
      name,
      versions: versions
        .filter((v) => v.status === 'ready')
        .map((v) => String(v.version)),
      platform: PLATFORM[resolved.model.format] ?? resolved.model.format,
      inputs: signature.inputs.map(describeTensor),
      outputs: signature.outputs.map(describeTensor),
    };
  }

  /** Ready when the version resolves: a request for it is served (loaded on demand). */
  private async modelReady(name: string, version: number | undefined) {
    await this.catalog.resolve(name, version);
    return { name, ready: true };
  }

  private async runInference(
    name: string,
    version: number | undefined,
    body: Buffer | undefined,
    headerLength: string | undefined,
    reply: FastifyReply,
  ): Promise<Buffer> {
    const resolved = await this.catalog.resolve(name, version);
    const request = decodeInferRequest(
      body,
      headerLength,
      resolved.version.signature,
      name,
    );
    const result = await this.predictor.infer(
      resolved,
      request.inputs,
      request.outputs,
    );
    const encoded = encodeInferResponse({
      modelId: name,
      version: resolved.version.version,
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: orderedOutputs(resolved, result.outputs, request.outputs),
      binary: request.binary,
    });
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

function describeTensor(spec: Signature['inputs'][number]) {
  return { name: spec.name, datatype: spec.datatype, shape: spec.shape };
}

/** The outputs in the order asked for, or else in the signature's order. */
function orderedOutputs(
  resolved: ResolveVersionResponse,
  outputs: Record<string, NamedTensor | Omit<NamedTensor, 'name'>>,
  requested: readonly string[] | undefined,
): NamedTensor[] {
  const order =
    requested ?? resolved.version.signature.outputs.map((o) => o.name);
  return order
    .filter((n) => outputs[n] !== undefined)
    .map((n) => ({ ...outputs[n], name: n }));
}
