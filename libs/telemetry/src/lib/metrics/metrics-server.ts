import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** The port it listens on (the one asked for, or the one the OS gave for 0). */
  readonly port: number;
  /** `http://127.0.0.1:<port>/metrics`, for logs and tests. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `GET /metrics` (Prometheus text) on a port of its own, on every interface: for the
 * services without HTTP (model-registry, storage, cache-manager, runtime). Anything
 * else is 404, or 405 for another method on /metrics. Rejects, naming the port and the
 * setting, when the port cannot be had.
 */
export function serveMetrics(
  registry: Registry,
  options: { readonly port: number; readonly host?: string },
): Promise<MetricsServer> {
  const server = createServer((req, res) => void answer(registry, req, res));
  // Keep-alive connections of a scraper must not hold a shutdown.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot serve metrics on port ${options.port} (metrics.port, PORTFOLIO_METRICS_PORT): ${
            e.code === 'EADDRINUSE'
              ? 'the port is in use; choose another, or 0 to turn the metrics port off'
              : e.message
          }`,
        ),
      ),
    );
    const onListening = () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        url: `http://127.0.0.1:${port}/metrics`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    };
    if (options.host === undefined) server.listen(options.port, onListening);
    else server.listen(options.port, options.host, onListening);
  });
}

async function answer(
  registry: Registry,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, {
      Allow: 'GET, HEAD',
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end(`${req.method} is not allowed on /metrics; use GET\n`);
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(
      `the metrics could not be collected: ${e instanceof Error ? e.message : String(e)}\n`,
    );
  }
}
