import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam } from '@nestjs/swagger';
import { z } from 'zod';

import { ApiKeyRecordSchema } from '@portfolio/contracts';

import { ApiErrors, ApiJson, openApiSchema } from '../openapi/openapi';
import { CreateKeyBody } from './keys.controller';

/*
 * The OpenAPI description of /admin/keys (docs/api.md, "API keys"), from the zod schema
 * that validates the body (keys.controller.ts) and the registry's key record.
 */

const KEY_EXAMPLE = {
  id: '7c0e2b1a-6f3d-4c8e-9b5a-1d2e3f4a5b6c',
  name: 'ci',
  prefix: 'pf_Xq3k2',
  scopes: ['predict'],
  rate_limit: null,
  created_at: '2026-01-05T10:00:00.000Z',
  created_by: 'bootstrap',
  revoked_at: null,
};

export const CreateKeyDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Create an API key',
      description:
        "The answer carries `key` (`pf_` and 32 characters), shown this once only: the registry keeps its SHA-256. `rate_limit` (optional) is the key's own token bucket; without it `gateway.rate_limit` applies.",
    }),
    ApiBody({
      schema: openApiSchema(CreateKeyBody, 'input'),
      examples: {
        ci: {
          summary: 'A predict key',
          value: { name: 'ci', scopes: ['predict'] },
        },
      },
    }),
    ApiJson(
      201,
      'The key record and the key',
      openApiSchema(ApiKeyRecordSchema.extend({ key: z.string() })),
      { ...KEY_EXAMPLE, key: 'pf_Xq3k2vT9bL0mN4pR7sW1yZ5cF8hJ6dG' },
    ),
    ApiErrors({
      status: 400,
      codes: ['INVALID_REQUEST'],
      when: 'an unknown field, no name, no scope or an unknown scope (nothing is created)',
    }),
  );

export const ListKeysDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Every API key, revoked ones included',
      description: 'Each with its prefix, never the key.',
    }),
    ApiJson(
      200,
      'The keys',
      openApiSchema(z.object({ keys: z.array(ApiKeyRecordSchema) })),
      { keys: [KEY_EXAMPLE] },
    ),
  );

export const RevokeKeyDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Revoke an API key',
      description:
        "It stops working at once on this gateway and, through the registry's event, on the others. Revoking again answers the same record.",
    }),
    ApiParam({
      name: 'id',
      description: "The key's id (a UUID).",
      format: 'uuid',
    }),
    ApiJson(200, 'The revoked record', openApiSchema(ApiKeyRecordSchema), {
      ...KEY_EXAMPLE,
      revoked_at: '2026-01-06T10:00:00.000Z',
    }),
    ApiErrors(
      { status: 400, codes: ['INVALID_REQUEST'], when: 'the id is not a UUID' },
      { status: 404, codes: ['KEY_NOT_FOUND'], when: 'no key has this id' },
    ),
  );
