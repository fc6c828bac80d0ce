import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { PortfolioError } from '@portfolio/contracts';
import { tensorToNested } from '@portfolio/tensor';

import { Access } from '../auth/scopes';
import {
  assertAliasName,
  ModelCatalogService,
} from '../catalog/model-catalog.service';
import { jsonPack, JsonOffload, Pack } from '../http/json-offload';
import { ClusterInfoService } from './cluster-info.service';
import { PredictService } from './predict.service';
import {
  HealthDocs,
  MetadataDocs,
  PredictDocs,
  StatusDocs,
} from './v1.openapi';

@Controller('v1')
@Access('read')
@ApiTags('v1')
export class V1Controller {
  constructor(
    private readonly catalog: ModelCatalogService,
    private readonly predictor: PredictService,
    private readonly info: ClusterInfoService,
    private readonly offload: JsonOffload,
  ) {}

  @Get('health')
  @Access('public')
  @HealthDocs()
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    const health = await this.info.health();
    if (health.status === 'down')
      void reply.status(503).header('Retry-After', '5');
    return health;
  }

  @Get('models/status')
  @StatusDocs()
  status() {
    return this.info.status();
  }

  @Get('models/:modelId/metadata')
  @MetadataDocs()
  metadata(@Param('modelId') modelId: string) {
    return this.info.metadata(modelId);
  }

  @Post('models/:modelId/predict')
  @Access('predict')
  @PredictDocs()
  @HttpCode(200)
  async predict(
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('modelId') modelId: string,
    @Query('version') versionParam: unknown,
    @Query('alias') aliasParam: unknown,
    @Query('outputs') outputsParam: unknown,
    @Body() body: unknown,
  ) {
    const version = parseVersion(singleQueryValue('version', versionParam));
    const alias = parseAlias(singleQueryValue('alias', aliasParam), version);
    const resolved = await this.catalog.resolve(modelId, version, alias);
    const inputs = this.predictor.parseV1Inputs(body, resolved);
    const outputs = this.predictor.parseOutputs(
      singleQueryValue('outputs', outputsParam),
      resolved.version.signature,
      modelId,
    );
    const result = await this.predictor.infer(resolved, inputs, outputs);
    const out: Record<string, unknown> = {};
    const answer = {
      model_id: modelId,
      model_version: resolved.version.version,
      outputs: out,
    };
    const tensors = Object.entries(result.outputs);
    let elements = 0;
    for (const [, t] of tensors) elements += t.data.length;
    if (!this.offload.takesAnswer(elements)) {
      for (const [name, t] of tensors) out[name] = tensorToNested(t);
      return answer;
    }
    // A large answer is serialized off the event loop (see JsonOffload).
    const packs: Pack[] = [];
    for (const [name, t] of tensors) {
      const pack = jsonPack(['outputs', name], t);
      if (pack) packs.push(pack);
      out[name] = pack ? null : tensorToNested(t);
    }
    const bytes = await this.offload.stringify(answer, packs);
    void reply.header('Content-Type', 'application/json; charset=utf-8');
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

/**
 * A query parameter given at most once. The query parser makes a repeated one
 * (`?outputs=a&outputs=b`) an array: refused with 400, not read as one string.
 */
export function singleQueryValue(
  name: string,
  raw: unknown,
): string | undefined {
  if (raw === undefined || typeof raw === 'string') return raw;
  throw new PortfolioError(
    'INVALID_REQUEST',
    `${name} must be given once (list outputs separated by commas: outputs=a,b)`,
  );
}

/** `?alias=NAME`: a name, and never together with `?version=`. */
export function parseAlias(
  raw: string | undefined,
  version: number | undefined,
): string | undefined {
  if (raw === undefined) return undefined;
  assertAliasName(raw);
  if (version !== undefined)
    throw new PortfolioError(
      'INVALID_REQUEST',
      'give version or alias, not both',
    );
  return raw;
}

export function parseVersion(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `version must be a positive integer, got "${raw.slice(0, 40)}"`,
    );
  }
  return Number(raw);
}
