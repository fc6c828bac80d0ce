import { RouteAccess } from './scopes';

/**
 * Every route the gateway serves and who may call it. A route added without a line here
 * fails auth.spec.ts's inventory test: a new route's access is decided on purpose. The
 * auth tests check the guard against it, openapi.spec.ts the document.
 */
export const INVENTORY: Record<string, RouteAccess> = {
  'GET /v1/health': 'public',
  // Public, never 401: it says whether the key sent is valid and what it may do.
  'GET /v1/auth/whoami': 'public',
  'GET /v1/models/status': 'read',
  'GET /v1/models/events': 'read',
  'GET /v1/stats': 'read',
  'GET /v1/models/:modelId/metadata': 'read',
  'POST /v1/models/:modelId/predict': 'predict',
  'GET /v2': 'read',
  'GET /v2/health/live': 'public',
  'GET /v2/health/ready': 'public',
  'GET /v2/models/:name': 'read',
  'GET /v2/models/:name/ready': 'read',
  'GET /v2/models/:name/versions/:version': 'read',
  'GET /v2/models/:name/versions/:version/ready': 'read',
  'POST /v2/models/:name/infer': 'predict',
  'POST /v2/models/:name/versions/:version/infer': 'predict',
  'GET /admin/models': 'admin',
  'POST /admin/models': 'admin',
  'GET /admin/models/:modelId': 'admin',
  'PATCH /admin/models/:modelId': 'admin',
  'DELETE /admin/models/:modelId': 'admin',
  'GET /admin/models/:modelId/versions': 'admin',
  'POST /admin/models/:modelId/versions': 'admin',
  'GET /admin/models/:modelId/versions/:version': 'admin',
  'PATCH /admin/models/:modelId/versions/:version': 'admin',
  'DELETE /admin/models/:modelId/versions/:version': 'admin',
  'POST /admin/models/:modelId/load': 'admin',
  'POST /admin/models/:modelId/unload': 'admin',
  'PUT /admin/models/:modelId/aliases/:alias': 'admin',
  'DELETE /admin/models/:modelId/aliases/:alias': 'admin',
  'GET /admin/audit': 'admin',
  'POST /admin/storage/gc': 'admin',
  'GET /admin/keys': 'admin',
  'POST /admin/keys': 'admin',
  'DELETE /admin/keys/:id': 'admin',
  'GET /metrics': 'read',
  // The OpenAPI document and Swagger UI (setUpOpenApi): Fastify's own routes, outside
  // Nest's router and so outside the guard; they show the code's contract, no data.
  'GET /docs': 'public',
  'GET /docs/json': 'public',
  'GET /docs/swagger-ui-init.js': 'public',
  'GET /docs/swagger-ui.css': 'public',
  'GET /docs/swagger-ui-bundle.js': 'public',
  'GET /docs/swagger-ui-standalone-preset.js': 'public',
  'GET /docs/favicon-32x32.png': 'public',
  // The web console (ConsolePages): Fastify's own routes too; the page and its code, no
  // data (the page sends the key it is given to the routes above).
  'GET /ui': 'public',
  'GET /ui/': 'public',
  'GET /ui/console.js': 'public',
  'GET /ui/console.css': 'public',
};
