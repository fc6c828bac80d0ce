import { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * `METHOD path` of every route Fastify serves, with Fastify's parameters (`:id`); HEAD,
 * which Fastify adds for each GET, left out. Read from Fastify's own route tree, so a
 * route added outside Nest's controllers (Swagger UI's, say) is listed too.
 */
export function servedRoutes(app: NestFastifyApplication): string[] {
  const tree: string = app
    .getHttpAdapter()
    .getInstance()
    .printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(', ').filter(Boolean))
      if (method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return routes.sort();
}
