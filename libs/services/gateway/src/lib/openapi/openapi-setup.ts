import { INestApplication } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  OpenAPIObject,
  OperationObject,
  ResponseObject,
  SwaggerModule,
} from '@nestjs/swagger';

import { RouteAccess, SCOPE_EXTENSION } from '../auth/scopes';
import { INTERNAL_ERROR_MESSAGE } from '../http/error.filter';
import { SERVER_METADATA } from '../v2/v2.controller';
import { ERROR_SCHEMAS, ref, SECURITY_SCHEMES } from './openapi';

/** Where the browsable page (Swagger UI) and the document are served. */
export const DOCS_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs/json';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

function errorResponse(
  path: string,
  description: string,
  code: string,
  message: string,
): ResponseObject {
  const oip = path.startsWith('/v2');
  return {
    description,
    content: {
      'application/json': {
        schema: ref(oip ? 'OipError' : 'Error'),
        example: oip
          ? { error: message }
          : { error: { code, message, request_id: '...' } },
      },
    },
  };
}

/**
 * Security, the scope and the answers every route shares, from the scope each route
 * declares with `@Access` (which the guard enforces and which Access records as
 * `x-required-scope`): public routes need no key (`security: []`); the others take
 * either scheme, say which scope in their description, and may answer 401, 403 and
 * 429 (rate limits are per key).
 * Every route may answer 500 ("internal error", the cause only in the gateway's log).
 */
function applyAccess(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths))
    for (const method of METHODS) {
      const op = item[method] as
        | (OperationObject & { [SCOPE_EXTENSION]?: RouteAccess })
        | undefined;
      if (!op) continue;
      const access = op[SCOPE_EXTENSION];
      if (access === undefined)
        throw new Error(
          `${method.toUpperCase()} ${path} declares no scope (@Access)`,
        );
      const responses = op.responses as Record<string, ResponseObject>;
      if (access === 'public') {
        op.security = [];
        op.description = [op.description, 'No API key needed.']
          .filter(Boolean)
          .join('\n\n');
      } else {
        op.security = [{ bearer: [] }, { api_key: [] }];
        op.description = [
          op.description,
          `Scope: \`${access}\`${access === 'admin' ? '' : ' (or `admin`)'}.`,
        ]
          .filter(Boolean)
          .join('\n\n');
        responses['401'] ??= errorResponse(
          path,
          'UNAUTHORIZED: no API key, or one that is not valid (unknown or revoked)',
          'UNAUTHORIZED',
          'the API key is not valid',
        );
        responses['403'] ??= errorResponse(
          path,
          `FORBIDDEN: the key does not have the \`${access}\` scope (\`details.needed_scope\`)`,
          'FORBIDDEN',
          `the API key "ci" does not have the "${access}" scope this endpoint needs`,
        );
        responses['429'] ??= errorResponse(
          path,
          'RATE_LIMITED: the API key is over its rate limit (`Retry-After`)',
          'RATE_LIMITED',
          'the API key "ci" is over its rate limit',
        );
      }
      responses['500'] ??= errorResponse(
        path,
        `INTERNAL: "${INTERNAL_ERROR_MESSAGE}", nothing more (the cause is logged under the request id)`,
        'INTERNAL',
        INTERNAL_ERROR_MESSAGE,
      );
    }
}

/**
 * A route that reads both JSON and raw bytes (`/v2` infer: the binary tensor extension)
 * has its JSON schema under `application/json`; under `application/octet-stream` its body
 * is bytes (the JSON, then the raw tensors), which Nest's scanner cannot say by itself.
 */
function binaryBodies(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths))
    for (const method of METHODS) {
      const content = (item[method] as OperationObject | undefined)
        ?.requestBody as { content?: Record<string, object> } | undefined;
      if (
        content?.content?.['application/json'] &&
        content.content['application/octet-stream']
      )
        content.content['application/octet-stream'] = {
          schema: {
            type: 'string',
            format: 'binary',
            description:
              'The JSON request (the first `Inference-Header-Content-Length` bytes), then the raw tensors of the inputs that have `parameters.binary_data_size`, in input order: little-endian, row-major, no padding; BOOL one byte 0 or 1, FP16 IEEE half, BYTES a 4-byte little-endian length then the bytes, per element.',
          },
        };
    }
}

/** The OpenAPI 3 document of every route the gateway's controllers serve. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, {
    openapi: '3.0.3',
    info: {
      title: 'Portfolio',
      version: SERVER_METADATA.version,
      description:
        "The gateway of Portfolio, a multi-model inference server: `/v1` prediction, metadata, status and health; `/v2`, the Open Inference Protocol (KServe v2 / Triton REST, with the binary tensor extension); `/admin` (models, versions, loading, API keys); `/metrics`. Generated from the gateway's code; docs/api.md has the prose. Every response carries `X-Request-Id`.",
    },
    tags: [
      { name: 'v1', description: 'Client API' },
      {
        name: 'v2',
        description: 'Open Inference Protocol (KServe v2 / Triton REST)',
      },
      {
        name: 'admin',
        description: 'Models, versions and loading (scope `admin`)',
      },
      { name: 'keys', description: 'API keys (scope `admin`)' },
      { name: 'metrics', description: 'Prometheus' },
    ],
    security: [{ bearer: [] }, { api_key: [] }],
    components: {
      securitySchemes: SECURITY_SCHEMES,
      schemas: ERROR_SCHEMAS,
    },
  });
  applyAccess(document);
  binaryBodies(document);
  return document;
}

/** Swagger UI's files served under DOCS_PATH, and their content types. */
const UI_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

function uiPage(): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<title>Portfolio API</title>',
    `<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">`,
    `<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">`,
    '</head>',
    '<body>',
    '<div id="swagger-ui"></div>',
    `<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>`,
    `<script src="${DOCS_PATH}/swagger-ui-standalone-preset.js"></script>`,
    `<script src="${DOCS_PATH}/swagger-ui-init.js"></script>`,
    '</body>',
    '</html>',
  ].join('\n');
}

function uiInit(document: OpenAPIObject): string {
  return `window.onload = function () {
  window.ui = SwaggerUIBundle({
    spec: ${JSON.stringify(document)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
};
`;
}

/**
 * Serves the document at `/docs/json` and Swagger UI at `/docs` (its files under
 * `/docs/`), built once from the controllers. Call it after NestFactory.create and
 * before init/listen (Fastify takes no routes once it is ready). These routes are
 * Fastify's own, outside Nest's router, so AuthGuard never sees them: public, like
 * health, by construction (they show the code's contract, no data). Both apps and the
 * test gateway call it, so what the tests list is what the apps serve.
 *
 * The page and its few files are served here from swagger-ui-dist rather than through
 * SwaggerModule's UI, which needs @fastify/static: that package brings an ES-module-only
 * dependency the test runner cannot load while PGlite's dynamic imports need its VM
 * modules mode, and serving four known files needs no static-file server.
 */
export function setUpOpenApi(app: INestApplication): OpenAPIObject {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    swaggerUiEnabled: false,
  });
  const fastify = app
    .getHttpAdapter()
    .getInstance() as import('fastify').FastifyInstance;
  // The package's own way to find its files (its index loads the whole UI bundle).
  const uiDist = require('swagger-ui-dist/absolute-path.js') as () => string;
  const dist = uiDist();
  const files = new Map<string, Buffer>();
  const page = uiPage();
  const init = uiInit(document);
  fastify.get(DOCS_PATH, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(page),
  );
  fastify.get(`${DOCS_PATH}/swagger-ui-init.js`, (_request, reply) =>
    reply.type('application/javascript; charset=utf-8').send(init),
  );
  for (const [name, type] of Object.entries(UI_ASSETS))
    fastify.get(`${DOCS_PATH}/${name}`, (_request, reply) => {
      let body = files.get(name);
      if (!body) {
        body = readFileSync(join(dist, name));
        files.set(name, body);
      }
      return reply
        .type(type)
        .header('Cache-Control', 'public, max-age=86400')
        .send(body);
    });
  return document;
}
