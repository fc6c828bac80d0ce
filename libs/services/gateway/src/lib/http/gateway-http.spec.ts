import { Controller, Get, Logger, Module, Param } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { connect } from 'node:net';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { GatewayErrorFilter } from './error.filter';
import { createGatewayAdapter } from './gateway-http';

@Controller()
class EchoController {
  @Get('v1/models/:modelId/metadata')
  v1(@Param('modelId') modelId: string) {
    return { id: modelId };
  }

  @Get('v2/models/:name')
  v2(@Param('name') name: string) {
    return { name };
  }
}

const settings: GatewaySettings = {
  authEnabled: false,
  adminKey: null,
  bodyLimitBytes: 1024,
  uploadLimitBytes: 4096,
  requestTimeoutMs: 1000,
  loadTimeoutMs: 1000,
  configuredModels: [],
};

@Module({
  controllers: [EchoController],
  providers: [
    { provide: GATEWAY_SETTINGS, useValue: settings },
    { provide: APP_FILTER, useClass: GatewayErrorFilter },
  ],
})
class EchoModule {}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection after answering. */
  closed: boolean;
}

/**
 * Sends `request` as raw bytes (what a client library cannot be made to send, such as
 * oversized headers or bad percent-encoding) and reads one response.
 */
function raw(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const finish = () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(':');
        headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: rest.join('\r\n\r\n'),
        closed,
      });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const [head, body = ''] = data.split('\r\n\r\n');
      const length = /content-length:\s*(\d+)/i.exec(head);
      // Keep-alive responses are complete once their body is; give a close a moment.
      if (length && Buffer.byteLength(body) >= Number(length[1]))
        setTimeout(() => {
          socket.destroy();
          finish();
        }, 100);
    });
    socket.on('end', () => (closed = true));
    socket.on('error', reject);
    socket.write(request);
  });
}

/** The gateway's real adapter on a real port: errors Node and Fastify raise before any route. */
describe(createGatewayAdapter.name, () => {
  let app: NestFastifyApplication;
  let port: number;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    app = await NestFactory.create<NestFastifyApplication>(
      EchoModule,
      createGatewayAdapter(settings.bodyLimitBytes),
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => app.close());

  const get = (path: string, extra = '') =>
    raw(
      port,
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: req-1\r\n${extra}\r\n`,
    );

  it('routes a model id of 128 characters, the longest the id rule allows', async () => {
    const id = 'a'.repeat(128);

    const res = await get(`/v1/models/${id}/metadata`);

    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id });
  });

  it('answers bad percent-encoding with a 400 in the contract shape', async () => {
    const res = await get('/v1/models/%E0%A4%A/metadata');

    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe('req-1');
    expect(JSON.parse(res.body)).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: 'the URL is not valid (bad percent-encoding)',
        request_id: 'req-1',
      },
    });
  });

  it('answers bad percent-encoding under /v2 in the protocol shape', async () => {
    const res = await get('/v2/models/%E0%A4%A');

    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      error: 'the URL is not valid (bad percent-encoding)',
    });
  });

  it('answers headers over the limit with 431 in the contract shape and says it closes the connection', async () => {
    const res = await get(
      '/v1/models/m/metadata',
      `X-Padding: ${'x'.repeat(20_000)}\r\n`,
    );

    expect(res.status).toBe(431);
    expect(res.headers['connection']).toBe('close');
    expect(res.closed).toBe(true);
    const body = JSON.parse(res.body);
    expect(body.error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'the request headers are larger than the limit of 16 KiB',
    });
    expect(typeof body.error.request_id).toBe('string');
  });

  it('sends X-Request-Id with the answer to a request Node cannot parse, the id of its body', async () => {
    const res = await raw(
      port,
      'GET /v1/models/a b HTTP/1.1\r\nHost: x\r\n\r\n',
    );

    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe(
      JSON.parse(res.body).error.request_id,
    );
  });

  it('answers a request Node cannot parse under /v2 in the protocol shape', async () => {
    const res = await raw(
      port,
      'GET /v2/models/a b HTTP/1.1\r\nHost: x\r\n\r\n',
    );

    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBeDefined();
    expect(JSON.parse(res.body)).toEqual({ error: 'malformed HTTP request' });
  });

  it('answers a malformed request line with 400 in the contract shape and closes the connection', async () => {
    const res = await raw(port, 'NOT HTTP AT ALL\r\n\r\n');

    expect(res.status).toBe(400);
    expect(res.headers['connection']).toBe('close');
    expect(res.closed).toBe(true);
    expect(JSON.parse(res.body).error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'malformed HTTP request',
    });
  });
});
