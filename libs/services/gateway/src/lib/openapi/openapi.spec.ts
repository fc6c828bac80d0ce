import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ResponseObject,
} from '@nestjs/swagger';

import {
  parseCreateModel,
  parseLoadBody,
  parseUnloadBody,
} from '../admin/admin.dto';
import { CreateKeyBody } from '../auth/keys.controller';
import { CONSOLE_PATH } from '../console/console-pages';
import { INVENTORY } from '../auth/route-inventory.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { servedRoutes } from '../served-routes.testing';
import { DOCS_JSON_PATH, DOCS_PATH } from './openapi-setup';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Operation = OperationObject & { 'x-required-scope'?: string };

/** `METHOD /path/{param}` -> operation, for every operation of the document. */
function operations(doc: OpenAPIObject): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of METHODS) {
      const op = item[method];
      if (op) ops.set(`${method.toUpperCase()} ${path}`, op as Operation);
    }
  return ops;
}

/** Fastify's `:param` as OpenAPI's `{param}`. */
const openApiRoute = (route: string) => route.replace(/:(\w+)/g, '{$1}');

/**
 * Pages and their assets, which the document does not describe: Swagger UI's (it is the
 * document) and the web console's (it is a client of the API).
 */
const isDocsUi = (route: string) =>
  [DOCS_PATH, CONSOLE_PATH].some(
    (page) =>
      route.split(' ')[1] === page ||
      route.split(' ')[1].startsWith(`${page}/`),
  );

/** Every `$ref` anywhere in `value`. */
function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, found));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value))
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
  return found;
}

/** The examples of an operation's JSON request body. */
function requestExamples(op: Operation): unknown[] {
  const media = (
    op.requestBody as
      | {
          content: Record<
            string,
            { example?: unknown; examples?: Record<string, { value: unknown }> }
          >;
        }
      | undefined
  )?.content['application/json'];
  if (!media) return [];
  return [
    ...(media.example !== undefined ? [media.example] : []),
    ...Object.values(media.examples ?? {}).map((e) => e.value),
  ];
}

describe('the OpenAPI document (GET /docs/json)', () => {
  let g: GatewayWithPeers;
  let doc: OpenAPIObject;
  let ops: Map<string, Operation>;

  beforeAll(async () => {
    // Auth on: /docs must answer without a key, as health does.
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: 'openapi-admin-key-0123456789' },
    });
    const res = await g.app.inject({ method: 'GET', url: DOCS_JSON_PATH });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.json();
    ops = operations(doc);
  });
  afterAll(() => g.close());

  it('describes every route Fastify serves, and nothing it does not', () => {
    const served = servedRoutes(g.app)
      .filter((r) => !isDocsUi(r))
      .map(openApiRoute)
      .sort();

    expect([...ops.keys()].sort()).toEqual(served);
  });

  it('serves Swagger UI at /docs, without a key', async () => {
    const page = await g.app.inject({ method: 'GET', url: DOCS_PATH });
    const init = await g.app.inject({
      method: 'GET',
      url: `${DOCS_PATH}/swagger-ui-init.js`,
    });

    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger-ui');
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain('"openapi"');
  });

  it('is an OpenAPI 3 document: version, info, paths, operations with responses', () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info).toEqual(
      expect.objectContaining({
        title: 'Portfolio',
        version: expect.any(String),
      }),
    );
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    const ids = new Set<string>();
    for (const [route, op] of ops) {
      expect({ route, summary: typeof op.summary }).toEqual({
        route,
        summary: 'string',
      });
      expect(op.operationId).toBeDefined();
      expect(ids.has(op.operationId ?? '')).toBe(false);
      ids.add(op.operationId ?? '');
      const responses = Object.entries(op.responses) as [
        string,
        ResponseObject,
      ][];
      expect(responses.length).toBeGreaterThan(0);
      for (const [status, response] of responses) {
        expect(status).toMatch(/^[1-5]\d\d$/);
        expect(typeof response.description).toBe('string');
      }
      // Every `{param}` of the path is declared as a required path parameter, and no other.
      const inPath = [...route.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = ((op.parameters ?? []) as ParameterObject[])
        .filter((p) => p.in === 'path')
        .map((p) => {
          expect(p.required).toBe(true);
          return p.name;
        })
        .sort();
      expect({ route, params: declared }).toEqual({ route, params: inPath });
    }
    // Every reference resolves.
    for (const r of refs(doc)) {
      const name = /^#\/components\/schemas\/(\w+)$/.exec(r)?.[1];
      expect({
        ref: r,
        resolves: !!name && !!doc.components?.schemas?.[name],
      }).toEqual({
        ref: r,
        resolves: true,
      });
    }
  });

  it('gives each route the security and scope its @Access declares', () => {
    expect(Object.keys(doc.components?.securitySchemes ?? {}).sort()).toEqual([
      'api_key',
      'bearer',
    ]);
    for (const [route, access] of Object.entries(INVENTORY)) {
      if (isDocsUi(route)) continue;
      const op = ops.get(openApiRoute(route));
      expect({ route, scope: op?.['x-required-scope'] }).toEqual({
        route,
        scope: access,
      });
      if (access === 'public') {
        expect({ route, security: op?.security }).toEqual({
          route,
          security: [],
        });
        expect(op?.responses['401']).toBeUndefined();
        expect(op?.description).toContain('No API key needed');
      } else {
        expect({ route, security: op?.security }).toEqual({
          route,
          security: [{ bearer: [] }, { api_key: [] }],
        });
        expect(Object.keys(op?.responses ?? {})).toEqual(
          expect.arrayContaining(['401', '403']),
        );
        expect(op?.description).toContain(`Scope: \`${access}\``);
      }
    }
  });

  it('documents the error shapes: {error: {code, ...}} outside /v2, {error: "..."} under it', () => {
    for (const [route, op] of ops) {
      const errors = Object.entries(op.responses).filter(
        ([s]) => Number(s) >= 400,
      );
      expect(errors.length).toBeGreaterThan(0);
      for (const [status, response] of errors) {
        const schema = (response as ResponseObject).content?.[
          'application/json'
        ]?.schema;
        if (
          route.includes(' /v1/health') ||
          route.includes(' /v2/health/ready')
        )
          if (status === '503') continue; // Health's own body, with its status.
        expect({ route, status, schema }).toEqual({
          route,
          status,
          schema: {
            $ref: route.includes(' /v2')
              ? '#/components/schemas/OipError'
              : '#/components/schemas/Error',
          },
        });
      }
    }
  });

  it('declares the binary bodies: artifact uploads, and /v2 infer with Inference-Header-Content-Length', () => {
    const upload = ops.get('POST /admin/models/{modelId}/versions');
    expect(
      Object.keys((upload?.requestBody as { content: object }).content),
    ).toEqual([
      'application/octet-stream',
      'application/x-tar',
      'application/gzip',
      'application/zip',
      'multipart/form-data',
    ]);
    for (const route of [
      'POST /v2/models/{name}/infer',
      'POST /v2/models/{name}/versions/{version}/infer',
    ]) {
      const op = ops.get(route);
      const body = (
        op?.requestBody as { content: Record<string, { schema: object }> }
      ).content;
      expect(body['application/octet-stream'].schema).toMatchObject({
        format: 'binary',
      });
      expect(body['application/json'].schema).toMatchObject({
        required: ['inputs'],
      });
      expect(
        (op?.parameters as ParameterObject[]).map((p) => `${p.in} ${p.name}`),
      ).toContain('header Inference-Header-Content-Length');
      expect(
        Object.keys((op?.responses['200'] as ResponseObject).content ?? {}),
      ).toEqual(['application/json', 'application/octet-stream']);
    }
  });

  it('has predict examples that the route itself accepts', async () => {
    const examples = requestExamples(
      ops.get('POST /v1/models/{modelId}/predict') as Operation,
    );
    expect(examples.length).toBe(3);
    for (const payload of examples) {
      const res = await g.app.inject({
        method: 'POST',
        url: '/v1/models/m/predict',
        headers: { 'x-api-key': 'openapi-admin-key-0123456789' },
        payload: payload as object,
      });
      expect({ payload, status: res.statusCode }).toEqual({
        payload,
        status: 200,
      });
    }
  });

  it('has infer examples that the route itself accepts', async () => {
    for (const route of [
      '/v2/models/m/infer',
      '/v2/models/m/versions/1/infer',
    ]) {
      const op = ops.get(
        `POST ${route.replace('/m/', '/{name}/').replace('/1/', '/{version}/')}`,
      );
      const examples = requestExamples(op as Operation);
      expect(examples.length).toBe(1);
      const res = await g.app.inject({
        method: 'POST',
        url: route,
        headers: { 'x-api-key': 'openapi-admin-key-0123456789' },
        payload: JSON.stringify(examples[0]),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ model_name: 'm', id: '42' });
    }
  });

  it('has admin examples that the admin bodies parse', () => {
    const parsers: Record<string, (body: unknown) => unknown> = {
      'POST /admin/models': parseCreateModel,
      'POST /admin/models/{modelId}/load': parseLoadBody,
      'POST /admin/models/{modelId}/unload': parseUnloadBody,
      'POST /admin/keys': (b) => CreateKeyBody.parse(b),
    };
    for (const [route, parse] of Object.entries(parsers)) {
      const examples = requestExamples(ops.get(route) as Operation);
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples)
        expect(() => parse(example)).not.toThrow();
    }
  });
});
