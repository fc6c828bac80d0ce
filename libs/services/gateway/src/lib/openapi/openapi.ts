import { applyDecorators } from '@nestjs/common';
import { ApiResponse, SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';

import { ERROR_CODES } from '@portfolio/contracts';

/** The two ways to present a key (see AuthGuard's presentedKey); either will do. */
export const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      '`Authorization: Bearer <key>`: the bootstrap admin key or a key made by `POST /admin/keys`.',
  },
  api_key: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description:
      'The same key as `X-API-Key: <key>`, read when `Authorization` is absent or has another scheme.',
  },
} as const;

/**
 * A zod schema as the OpenAPI 3.0 JSON schema of what it accepts (`input`: request
 * bodies, defaults and optional keys as a client may send them) or produces (`output`).
 * Bodies and records validated with zod are described from the same zod schema, so the
 * document cannot drift from the validation.
 */
export function openApiSchema(
  schema: z.ZodType,
  io: 'input' | 'output' = 'output',
): SchemaObject {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return json as SchemaObject;
}

/** `#/components/schemas/<name>`. */
export const ref = (name: string) => ({
  $ref: `#/components/schemas/${name}`,
});

/** The error bodies of the contract (docs/api.md, "Errors"); see GatewayErrorFilter. */
export const ERROR_SCHEMAS: Record<string, SchemaObject> = {
  Error: {
    type: 'object',
    description:
      'Every error outside `/v2`. `message` is a sentence for the client; `details` is there when there is more to say; `request_id` repeats `X-Request-Id`.',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'request_id'],
        properties: {
          code: { type: 'string', enum: [...ERROR_CODES] },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: true },
          request_id: { type: 'string' },
        },
      },
    },
  },
  OipError: {
    type: 'object',
    description:
      'Every error under `/v2`, as the Open Inference Protocol has it: the message alone (the request id is in `X-Request-Id`).',
    required: ['error'],
    properties: { error: { type: 'string' } },
  },
};

/** One status an operation may answer with, and when (the codes it carries, outside `/v2`). */
export interface ErrorCase {
  readonly status: number;
  readonly codes: readonly (typeof ERROR_CODES)[number][];
  readonly when: string;
}

/** The error responses of a route outside `/v2`, each with an example of its first code. */
export function ApiErrors(...cases: ErrorCase[]) {
  return applyDecorators(
    ...cases.map((c) =>
      ApiResponse({
        status: c.status,
        description: `${c.codes.join(', ')}: ${c.when}`,
        content: {
          'application/json': {
            schema: ref('Error'),
            example: {
              error: {
                code: c.codes[0],
                message: c.when,
                request_id: '5f0c6e0a-3b7e-4a8e-9a53-0d1c2b3a4f5e',
              },
            },
          },
        },
      }),
    ),
  );
}

/** The error responses of a `/v2` route: `{ "error": "message" }`. */
export function ApiOipErrors(cases: Record<number, string>) {
  return applyDecorators(
    ...Object.entries(cases).map(([status, when]) =>
      ApiResponse({
        status: Number(status),
        description: when,
        content: {
          'application/json': {
            schema: ref('OipError'),
            example: { error: when },
          },
        },
      }),
    ),
  );
}

/** A 200/201 JSON answer with its schema and the example docs/api.md shows. */
export function ApiJson(
  status: number,
  description: string,
  schema: SchemaObject | { $ref: string },
  example?: unknown,
) {
  return ApiResponse({
    status,
    description,
    content: {
      'application/json': {
        schema,
        ...(example !== undefined ? { example } : {}),
      },
    },
  });
}
