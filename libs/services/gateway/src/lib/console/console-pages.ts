import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';

/** Where the web console is served. */
export const CONSOLE_PATH = '/ui';

/**
 * The console's files, as the build writes them into `ui/` beside the app's main.js
 * (tools/webpack/console.config.js bundles libs/console there), and their types.
 */
export const CONSOLE_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'application/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * The console's Content-Security-Policy: its own script and style only, requests to
 * this origin only, no frames, no plugins, no inline code, nothing from elsewhere. The
 * page builds its DOM with textContent; this is the second line of defence should a
 * model id or a reason string ever reach markup.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The folder the console's files are read from: `ui/` beside the running main.js. */
export function defaultConsoleDir(): string {
  // In a built app this module is part of main.js, and __dirname is its folder.
  return join(__dirname, 'ui');
}

/**
 * The web console's page and files (`GET /ui`, `/ui/`, `/ui/console.js`,
 * `/ui/console.css`): Fastify routes of their own, as Swagger UI's are, with no key
 * needed (the page asks for one and sends it to the API, which checks it). Read from
 * the build's output once and kept; a build without them (the unit tests' source tree)
 * answers 404 saying so.
 */
@Injectable()
export class ConsolePages implements OnModuleInit {
  private readonly dir: string;
  private readonly cache = new Map<string, Buffer>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(GATEWAY_SETTINGS) settings: GatewaySettings,
  ) {
    this.dir = settings.consoleDir ?? defaultConsoleDir();
  }

  /** Routes added before Nest's init makes Fastify ready (it takes none after). */
  onModuleInit(): void {
    const fastify =
      this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    const page = (request: FastifyRequest, reply: FastifyReply) =>
      this.send('index.html', request, reply);
    fastify.get(CONSOLE_PATH, page);
    fastify.get(`${CONSOLE_PATH}/`, page);
    for (const name of Object.keys(CONSOLE_FILES))
      if (name !== 'index.html')
        fastify.get(`${CONSOLE_PATH}/${name}`, (request, reply) =>
          this.send(name, request, reply),
        );
  }

  private async send(
    name: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    void reply
      .header('Content-Security-Policy', CONSOLE_CSP)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .header('X-Frame-Options', 'DENY')
      // Not hashed in their names: a browser asks again after an upgrade.
      .header('Cache-Control', 'no-cache');
    const body = await this.file(name);
    if (!body)
      return reply
        .status(404)
        .type('application/json; charset=utf-8')
        .send({
          error: {
            code: 'NOT_FOUND',
            message: `the web console is not part of this build (${name} is missing); build the app with nx build`,
            request_id: request.id,
          },
        });
    return reply.type(CONSOLE_FILES[name]).send(body);
  }

  private async file(name: string): Promise<Buffer | null> {
    const kept = this.cache.get(name);
    if (kept) return kept;
    try {
      const body = await readFile(join(this.dir, name));
      this.cache.set(name, body);
      return body;
    } catch {
      return null;
    }
  }
}
