import { Controller, Get, Logger, Module, Param } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { ErrorCode, PortfolioError } from '@portfolio/contracts';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { GatewayErrorFilter } from './error.filter';
import { createGatewayAdapter } from './gateway-http';

/** Throws what it is asked to; mounted at `/fail`, and at `/v2/fail` for the protocol's shape. */
function failingController(path: string) {
  @Controller(path)
  class FailingController {
    @Get('portfolio/:code')
    portfolio(@Param('code') code: string): never {
      throw new PortfolioError(code as ErrorCode, `failed with ${code}`, {
        asked: code,
      });
    }

    @Get('unexpected')
    unexpected(): never {
      throw new Error('secret internals at /srv/app/main.js:12');
    }
  }
  return FailingController;
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
  controllers: [failingController('fail'), failingController('v2/fail')],
  providers: [
    { provide: GATEWAY_SETTINGS, useValue: settings },
    { provide: APP_FILTER, useClass: GatewayErrorFilter },
  ],
})
class FailingModule {}

/** The gateway's real Fastify adapter and error filter, answering in-process requests (no port). */
describe(GatewayErrorFilter.name, () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    app = await NestFactory.create<NestFastifyApplication>(
      FailingModule,
      createGatewayAdapter(settings.bodyLimitBytes),
      { logger: false },
    );
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  const get = (url: string) =>
    app.inject({
      method: 'GET',
      url,
      headers: { 'x-request-id': 'req-0001' },
    });

  it('sends a retryable error code as its status with Retry-After and the error body', async () => {
    const res = await get('/fail/portfolio/SERVICE_UNAVAILABLE');

    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-request-id']).toBe('req-0001');
    expect(res.json()).toEqual({
      error: {
        code: 'SERVICE_UNAVAILABLE',
        message: 'failed with SERVICE_UNAVAILABLE',
        details: { asked: 'SERVICE_UNAVAILABLE' },
        request_id: 'req-0001',
      },
    });
  });

  it('sends a code that is not retryable as its status without Retry-After', async () => {
    const res = await get('/fail/portfolio/INSUFFICIENT_MEMORY');

    expect(res.statusCode).toBe(507);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.json()).toMatchObject({
      error: { code: 'INSUFFICIENT_MEMORY', request_id: 'req-0001' },
    });
  });

  it('answers an unexpected error with a generic 500 that carries the request id and hides the cause', async () => {
    const res = await get('/fail/unexpected');

    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({
      error: { code: 'INTERNAL', request_id: 'req-0001' },
    });
    expect(res.json().error.details).toBeUndefined();
    expect(res.body).not.toContain('secret internals');
    expect(res.body).not.toContain('/srv/app');
  });

  it('answers an unknown route with NOT_FOUND in the same shape', async () => {
    const res = await get('/nowhere?x=1');

    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no route for GET /nowhere',
        request_id: 'req-0001',
      },
    });
  });

  describe('on /v2 (Open Inference Protocol)', () => {
    it.each([
      ['INVALID_INPUT', 400],
      ['INVALID_REQUEST', 400],
      ['MODEL_NOT_FOUND', 404],
      ['VERSION_NOT_FOUND', 404],
      ['PAYLOAD_TOO_LARGE', 413],
      ['MODEL_LOAD_FAILED', 422],
      ['NO_RUNTIME', 503],
      ['SERVICE_UNAVAILABLE', 503],
      ['TIMEOUT', 504],
      ['INSUFFICIENT_MEMORY', 507],
    ])('answers %s with %i and { "error": message }', async (code, status) => {
      const res = await get(`/v2/fail/portfolio/${code}`);

      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toBe(
        'application/json; charset=utf-8',
      );
      expect(res.headers['x-request-id']).toBe('req-0001');
      expect(res.headers['retry-after']).toBe(status === 503 ? '1' : undefined);
      expect(res.json()).toEqual({ error: `failed with ${code}` });
    });

    it('answers an unexpected error with 500 "internal error", hiding the cause', async () => {
      const res = await get('/v2/fail/unexpected');

      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'internal error' });
      expect(res.body).not.toContain('/srv/app');
    });

    it('answers an unknown /v2 route with 404 in the same shape', async () => {
      const res = await get('/v2/nowhere');

      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'no route for GET /v2/nowhere' });
    });
  });
});
