import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Req,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

import {
  ApiKeyId,
  ApiKeyRecord,
  ApiKeys,
  ApiKeyScope,
  PortfolioError,
  RateLimitSchema,
} from '@portfolio/contracts';
import { describeIssues, Messaging } from '@portfolio/messaging';

import { principalOf } from './auth.guard';
import { KeyDirectory, keyDigest } from './key-directory.service';
import { CreateKeyDocs, ListKeysDocs, RevokeKeyDocs } from './keys.openapi';
import { Access } from './scopes';

/** `POST /admin/keys` as clients send it (and as the OpenAPI document describes it). */
export const CreateKeyBody = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(ApiKeyScope).min(1),
  rate_limit: RateLimitSchema.nullable().optional(),
});

/** What a key looks like: a tag to recognise it by, then 192 random bits. */
export function newApiKey(): string {
  return `pf_${randomBytes(24).toString('base64url')}`;
}

/** The characters of a key shown in listings: its tag and the first few random ones. */
const PREFIX_LENGTH = 8;

/**
 * API keys (scope `admin`). A key is made here and shown once, in the answer to its
 * creation; the registry keeps only its SHA-256, so a lost key cannot be shown again,
 * only revoked and replaced.
 */
@Controller('admin/keys')
@Access('admin')
@ApiTags('keys')
export class KeysController {
  constructor(
    private readonly messaging: Messaging,
    private readonly directory: KeyDirectory,
  ) {}

  @Post()
  @CreateKeyDocs()
  @HttpCode(201)
  async create(
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ): Promise<ApiKeyRecord & { key: string }> {
    const parsed = CreateKeyBody.safeParse(body);
    if (!parsed.success)
      throw new PortfolioError('INVALID_REQUEST', describeIssues(parsed.error));
    const key = newApiKey();
    const { key: record } = await this.messaging.call(ApiKeys.create, {
      name: parsed.data.name,
      prefix: key.slice(0, PREFIX_LENGTH),
      key_sha256: keyDigest(key),
      scopes: parsed.data.scopes,
      rate_limit: parsed.data.rate_limit ?? null,
      created_by: principalOf(request)?.name ?? null,
    });
    return { ...record, key };
  }

  @Get()
  @ListKeysDocs()
  list() {
    return this.messaging.call(ApiKeys.list, {});
  }

  @Delete(':id')
  @RevokeKeyDocs()
  @HttpCode(200)
  async revoke(
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ): Promise<ApiKeyRecord> {
    if (!ApiKeyId.safeParse(id).success)
      throw new PortfolioError(
        'INVALID_REQUEST',
        `"${id.slice(0, 64)}" is not an API key id (a UUID)`,
      );
    const actor = principalOf(request)?.name;
    const { key } = await this.messaging.call(ApiKeys.revoke, {
      id,
      ...(actor ? { actor } : {}),
    });
    this.directory.forget(id);
    return key;
  }
}
