import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';

import {
  PortfolioError,
  Registry,
  Storage,
  VersionRecord,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { principalOf } from '../auth/auth.guard';
import { UPLOAD_CONTENT_TYPES } from '../http/gateway-http';
import {
  assertAliasName,
  assertModelId,
  ModelCatalogService,
} from '../catalog/model-catalog.service';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { Access } from '../auth/scopes';
import { parseVersion } from '../v1/v1.controller';
import {
  parseCreateModel,
  parseAuditQuery,
  parseListQuery,
  parseLoadBody,
  parseForce,
  parseGcBody,
  parseImportBody,
  parsePatchModel,
  parsePatchVersionBody,
  parseSetAliasBody,
  parseUnloadBody,
} from './admin.dto';
import {
  AuditDocs,
  CreateModelDocs,
  DeleteAliasDocs,
  DeleteModelDocs,
  DeleteVersionDocs,
  GcDocs,
  GetModelDocs,
  GetVersionDocs,
  ListModelsDocs,
  ListVersionsDocs,
  LoadDocs,
  PatchModelDocs,
  PatchVersionDocs,
  SetAliasDocs,
  UnloadDocs,
  UploadVersionDocs,
} from './admin.openapi';
import { CacheAdminService } from './cache-admin.service';
import { ModelAdminService } from './model-admin.service';
import { VersionLifecycleService } from './version-lifecycle.service';

@Controller('admin')
@Access('admin')
@ApiTags('admin')
export class AdminController {
  constructor(
    private readonly admin: ModelAdminService,
    private readonly cache: CacheAdminService,
    private readonly lifecycle: VersionLifecycleService,
    private readonly messaging: Messaging,
    private readonly catalog: ModelCatalogService,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
  ) {}

  @Post('models')
  @CreateModelDocs()
  @HttpCode(201)
  async createModel(@Body() body: unknown, @Req() request: FastifyRequest) {
    return (
      await this.admin.createModel({
        ...parseCreateModel(body),
        ...actorOf(request),
      })
    ).model;
  }

  @Get('models')
  @ListModelsDocs()
  listModels(@Query() query: Record<string, unknown>) {
    return this.messaging.call(Registry.listModels, parseListQuery(query));
  }

  @Get('models/:modelId')
  @GetModelDocs()
  getModel(@Param('modelId') modelId: string) {
    assertModelId(modelId);
    return this.messaging.call(Registry.getModel, { id: modelId });
  }

  /** Settings only (`id` and `format` never change); the answer is the model record. */
  @Patch('models/:modelId')
  @PatchModelDocs()
  @HttpCode(200)
  async patchModel(
    @Param('modelId') modelId: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    const { model } = await this.messaging.call(Registry.updateModel, {
      ...parsePatchModel(modelId, body),
      ...actorOf(request),
    });
    this.catalog.invalidate(modelId);
    return model;
  }

  /** Refused while a version is loaded, unless `?force=true`. */
  @Delete('models/:modelId')
  @DeleteModelDocs()
  @HttpCode(200)
  deleteModel(
    @Param('modelId') modelId: string,
    @Query() query: Record<string, unknown>,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    const force = parseForce(query);
    return this.lifecycle.deleteModel(modelId, force, actorOf(request).actor);
  }

  @Get('models/:modelId/versions')
  @ListVersionsDocs()
  async listVersions(@Param('modelId') modelId: string) {
    assertModelId(modelId);
    const { versions } = await this.messaging.call(Registry.getModel, {
      id: modelId,
    });
    return { versions };
  }

  @Get('models/:modelId/versions/:version')
  @GetVersionDocs()
  async getVersion(
    @Param('modelId') modelId: string,
    @Param('version') version: string,
  ) {
    assertModelId(modelId);
    const n = parseVersion(version);
    return (
      await this.messaging.call(Registry.resolveVersion, {
        model_id: modelId,
        version: n,
      })
    ).version;
  }

  /** `{ "status": "deprecated" | "ready" }`; the answer is the version record. */
  @Patch('models/:modelId/versions/:version')
  @PatchVersionDocs()
  @HttpCode(200)
  async patchVersion(
    @Param('modelId') modelId: string,
    @Param('version') version: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    const n = pathVersion(version);
    const { status } = parsePatchVersionBody(body);
    return (
      await this.lifecycle.setStatus(modelId, n, status, actorOf(request).actor)
    ).version;
  }

  /** Refused while aliased or loaded, unless `?force=true`. */
  @Delete('models/:modelId/versions/:version')
  @DeleteVersionDocs()
  @HttpCode(200)
  deleteVersion(
    @Param('modelId') modelId: string,
    @Param('version') version: string,
    @Query() query: Record<string, unknown>,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    const n = pathVersion(version);
    const force = parseForce(query);
    return this.lifecycle.deleteVersion(
      modelId,
      n,
      force,
      actorOf(request).actor,
    );
  }

  /**
   * The artifact as the request body, streamed to storage: the model file
   * (`application/octet-stream`), a tar or zip archive of its files, or a form
   * (`multipart/form-data`) with its files in field `artifact`.
   */
  @Post('models/:modelId/versions')
  @UploadVersionDocs()
  @HttpCode(201)
  async uploadVersion(
    @Param('modelId') modelId: string,
    @Headers('content-type') contentType: string | undefined,
    @Headers('content-length') contentLength: string | undefined,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    const type = contentType?.toLowerCase() ?? '';
    if (type.startsWith('application/json')) {
      const { uri, sha256 } = parseImportBody(request.body);
      const { version } = await this.admin.importVersion(modelId, uri, {
        ...(sha256 !== undefined ? { sha256 } : {}),
        ...actorOf(request),
        timeoutMs: IMPORT_TIMEOUT_MS,
      });
      return uploadedVersion(version);
    }
    const form = type.startsWith('multipart/form-data');
    if (!form && !UPLOAD_CONTENT_TYPES.some((t) => type.startsWith(t))) {
      throw new PortfolioError(
        'INVALID_REQUEST',
        `send the artifact as the request body with "Content-Type: application/octet-stream" (a file, or a tar or zip archive of files), as "multipart/form-data" with its files in field "artifact", or name where it is as JSON {"uri": "s3://..."} (got ${contentType ?? 'no content type'})`,
      );
    }
    const expected =
      contentLength !== undefined ? Number(contentLength) : undefined;
    if (expected !== undefined && expected > this.settings.uploadLimitBytes) {
      throw new PortfolioError(
        'PAYLOAD_TOO_LARGE',
        `the artifact (${expected} bytes) is larger than the limit of ${this.settings.uploadLimitBytes} bytes (gateway.upload_limit)`,
      );
    }
    const body = request.body as Readable;
    const { version } = await this.admin
      .uploadVersion(modelId, body, {
        expectedSizeBytes: Number.isSafeInteger(expected)
          ? expected
          : undefined,
        maxBytes: this.settings.uploadLimitBytes,
        ...(form && contentType ? { contentType } : {}),
        ...actorOf(request),
      })
      .catch((e: unknown) => {
        // Whatever the client still sends is not wanted any more.
        body.resume();
        throw e;
      });
    return uploadedVersion(version);
  }

  /** `{ "version"?, "copies"? }` (or no body): loaded on that many runtimes when it answers. */
  @Post('models/:modelId/load')
  @LoadDocs()
  @HttpCode(200)
  load(@Param('modelId') modelId: string, @Body() body: unknown) {
    assertModelId(modelId);
    return this.cache.load(modelId, parseLoadBody(body));
  }

  /** `{ "version"? }` (or no body): every copy unloaded, once its requests are done. */
  @Post('models/:modelId/unload')
  @UnloadDocs()
  @HttpCode(200)
  unload(@Param('modelId') modelId: string, @Body() body: unknown) {
    assertModelId(modelId);
    return this.cache.unload(modelId, parseUnloadBody(body));
  }

  /**
   * Points an alias at a ready version, or moves it; predictions that name the alias
   * (and, for `production`, those that name no version) follow once the new version is
   * loaded wherever the old one serves (see VersionLifecycleService.moveAlias).
   */
  @Put('models/:modelId/aliases/:alias')
  @SetAliasDocs()
  @HttpCode(200)
  setAlias(
    @Param('modelId') modelId: string,
    @Param('alias') alias: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    assertAliasName(alias);
    const { version } = parseSetAliasBody(body);
    return this.lifecycle.moveAlias(
      modelId,
      alias,
      version,
      actorOf(request).actor,
    );
  }

  @Delete('models/:modelId/aliases/:alias')
  @DeleteAliasDocs()
  @HttpCode(200)
  async deleteAlias(
    @Param('modelId') modelId: string,
    @Param('alias') alias: string,
    @Req() request: FastifyRequest,
  ) {
    assertModelId(modelId);
    assertAliasName(alias);
    const deleted = await this.messaging.call(Registry.deleteAlias, {
      model_id: modelId,
      alias,
      ...actorOf(request),
    });
    this.catalog.invalidate(modelId);
    return deleted;
  }

  /**
   * Garbage collection of stored artifacts that no version references: a dry run (a
   * report of what would go) unless `{ "dry_run": false }`.
   */
  @Post('storage/gc')
  @GcDocs()
  @HttpCode(200)
  collectGarbage(@Body() body: unknown) {
    return this.messaging.call(Storage.collectGarbage, parseGcBody(body), {
      // A scan of the whole store: longer than a request's usual deadline.
      timeoutMs: 10 * 60_000,
    });
  }

  /** Admin changes, newest first, a page at a time (`before` the `next` of the last page). */
  @Get('audit')
  @AuditDocs()
  audit(@Query() query: Record<string, unknown>) {
    return this.messaging.call(Registry.listAudit, parseAuditQuery(query));
  }
}

/** `{ actor }` naming the request's key (nothing when there is none, auth off). */
export function actorOf(request: FastifyRequest): { actor?: string } {
  const name = principalOf(request)?.name;
  return name ? { actor: name } : {};
}

/** A version number from the path, where it cannot be empty (the route would not match). */
function pathVersion(raw: string): number {
  const n = parseVersion(raw);
  if (n === undefined)
    throw new PortfolioError('INVALID_REQUEST', 'the version is missing');
  return n;
}

/** A registration by URI copies the artifact in first: more than a request's deadline. */
const IMPORT_TIMEOUT_MS = 30 * 60_000;

/** What `POST /admin/models/{id}/versions` answers (the record without its measurement). */
function uploadedVersion(version: VersionRecord) {
  return {
    model_id: version.model_id,
    version: version.version,
    format: version.format,
    sha256: version.sha256,
    size_bytes: version.size_bytes,
    signature: version.signature,
    status: version.status,
    created_at: version.created_at,
    created_by: version.created_by ?? null,
  };
}
