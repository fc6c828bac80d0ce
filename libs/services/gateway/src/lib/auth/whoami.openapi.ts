import { applyDecorators } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';

import { API_KEY_SCOPES } from '@portfolio/contracts';

import { ApiJson, openApiSchema } from '../openapi/openapi';

/** The answer of `GET /v1/auth/whoami` (docs/api.md, "Authentication"). */
export const WhoAmISchema = z.object({
  auth_enabled: z.boolean(),
  key: z.enum(['valid', 'invalid', 'none', 'not_needed']),
  name: z.string().nullable(),
  key_id: z.string().nullable(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
});
export type WhoAmI = z.infer<typeof WhoAmISchema>;

export const WhoAmIDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Who the API key sent is, and what it may do',
      description:
        '`key`: `valid` (with its `name`, `key_id` and `scopes`), `invalid` (unknown or revoked), `none` (no key sent), or `not_needed` (auth is off: every scope). Never 401: the web console asks it whether to ask for a key, and which controls to show.',
    }),
    ApiJson(200, 'The key', openApiSchema(WhoAmISchema), {
      auth_enabled: true,
      key: 'valid',
      name: 'ci',
      key_id: '7c0e8f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6',
      scopes: ['read'],
    }),
  );
