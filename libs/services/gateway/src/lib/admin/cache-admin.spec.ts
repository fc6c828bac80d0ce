import { PortfolioError } from '@portfolio/contracts';

import { GatewayWithPeers, startInProcess } from '../gateway.testing';

/** `POST /admin/models/{id}/load` and `/unload` through the real gateway to a fake cache-manager. */
describe('admin load and unload', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({
      models: { iris: 2, fraud: 1 },
      nodes: [],
    });
  });
  afterEach(() => g.close());

  const post = (url: string, payload?: unknown) =>
    g.app.inject({
      method: 'POST',
      url,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  describe('load', () => {
    it('loads the version predict would use when none is named, once, and says where', async () => {
      const res = await post('/admin/models/iris/load');

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        model_id: 'iris',
        version: 2,
        nodes: ['r1'],
      });
      expect(g.cacheManager.loads).toEqual([
        { model_id: 'iris', version: 2, copies: 1 },
      ]);
    });

    it('passes on the version and the number of copies asked for', async () => {
      const res = await post('/admin/models/iris/load', {
        version: 1,
        copies: 2,
      });

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        model_id: 'iris',
        version: 1,
        nodes: ['r1', 'r2'],
      });
      expect(g.cacheManager.loads).toEqual([
        { model_id: 'iris', version: 1, copies: 2 },
      ]);
    });

    it.each([
      [
        'an unknown model',
        '/admin/models/nope/load',
        {},
        404,
        'MODEL_NOT_FOUND',
      ],
      [
        'an unknown version',
        '/admin/models/iris/load',
        { version: 7 },
        404,
        'VERSION_NOT_FOUND',
      ],
      [
        'zero copies',
        '/admin/models/iris/load',
        { copies: 0 },
        400,
        'INVALID_REQUEST',
      ],
      [
        'a version that is not a number',
        '/admin/models/iris/load',
        { version: '2' },
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unknown key',
        '/admin/models/iris/load',
        { replicas: 2 },
        400,
        'INVALID_REQUEST',
      ],
      [
        'a body that is a list',
        '/admin/models/iris/load',
        [1],
        400,
        'INVALID_REQUEST',
      ],
      [
        'an invalid model id',
        '/admin/models/Iris!/load',
        {},
        400,
        'INVALID_MODEL_ID',
      ],
    ])(
      'refuses %s in the error shape, and loads nothing',
      async (_what, url, body, status, code) => {
        const res = await post(url, body);

        expect(res.statusCode).toBe(status);
        expect(res.json()).toEqual({
          error: {
            code,
            message: expect.any(String),
            request_id: expect.any(String),
          },
        });
        expect(g.cacheManager.loads).toEqual([]);
      },
    );

    it('names the field a bad body got wrong', async () => {
      const res = await post('/admin/models/iris/load', { copies: 0 });

      expect(res.json().error.message).toMatch(/^copies: /);
    });

    it("answers the cache-manager's 507 when the model does not fit", async () => {
      g.cacheManager.onLoad = () => {
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          'iris@2 needs 3000 bytes; no runtime has room even after unloading what may be unloaded',
          { bytes: 3000 },
        );
      };

      const res = await post('/admin/models/iris/load', { copies: 2 });

      expect(res.statusCode).toBe(507);
      expect(res.json().error).toMatchObject({
        code: 'INSUFFICIENT_MEMORY',
        message: expect.stringContaining('iris@2'),
        details: { bytes: 3000 },
      });
    });

    it('is 503 with Retry-After, saying nothing was loaded, when the cache-manager does not answer', async () => {
      g.cacheManager.close();

      const res = await post('/admin/models/iris/load');

      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json().error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        message: 'the cache-manager is not reachable; iris@2 was not loaded',
      });
    });
  });

  describe('unload', () => {
    it('unloads every version when none is named, and answers what was freed', async () => {
      g.cacheManager.onUnload = (req) => ({
        model_id: req.model_id,
        unloaded: [
          { node_id: 'r1', version: 1, freed_bytes: 1200 },
          { node_id: 'r2', version: 2, freed_bytes: 1300 },
        ],
      });

      const res = await post('/admin/models/iris/unload');

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        model_id: 'iris',
        unloaded: [
          { node_id: 'r1', version: 1, freed_bytes: 1200 },
          { node_id: 'r2', version: 2, freed_bytes: 1300 },
        ],
      });
      expect(g.cacheManager.unloads).toEqual([{ model_id: 'iris' }]);
    });

    it('unloads one version when asked to', async () => {
      const res = await post('/admin/models/iris/unload', { version: 1 });

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ model_id: 'iris', unloaded: [] });
      expect(g.cacheManager.unloads).toEqual([
        { model_id: 'iris', version: 1 },
      ]);
    });

    it.each([
      [
        'an unknown model',
        '/admin/models/nope/unload',
        {},
        404,
        'MODEL_NOT_FOUND',
      ],
      [
        'an unknown version',
        '/admin/models/fraud/unload',
        { version: 2 },
        404,
        'VERSION_NOT_FOUND',
      ],
      [
        'copies (not an unload option)',
        '/admin/models/iris/unload',
        { copies: 1 },
        400,
        'INVALID_REQUEST',
      ],
    ])(
      'refuses %s and unloads nothing',
      async (_what, url, body, status, code) => {
        const res = await post(url, body);

        expect(res.statusCode).toBe(status);
        expect(res.json().error.code).toBe(code);
        expect(g.cacheManager.unloads).toEqual([]);
      },
    );
  });
});
