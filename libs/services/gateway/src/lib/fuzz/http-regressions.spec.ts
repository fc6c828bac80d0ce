import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';

const ADMIN_KEY = 'regression-admin-key-0123456789';

/** What the HTTP fuzzing found (http-fuzz.spec.ts), one test per behaviour, fixed. */
describe('HTTP fuzzing findings', () => {
  let g: GatewayWithPeers;

  beforeAll(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    g.cacheManager.status = sampleStatus();
  });
  afterAll(() => g.close());

  const send = (method: string, url: string, payload?: unknown) =>
    g.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-request-id': 'r-1' },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });

  it('answers a method no route has, on a URL it cannot decode, with 400 naming the URL and X-Request-Id', async () => {
    const res = await send('PUT', '/admin/models/%/load');

    expect(res.statusCode).toBe(400);
    expect(res.headers['x-request-id']).toBe('r-1');
    expect(res.json().error).toEqual({
      code: 'INVALID_REQUEST',
      message: 'the URL is not valid (bad percent-encoding)',
      request_id: 'r-1',
    });
  });

  it.each(['outputs=y&outputs=y', 'version=1&version=1'])(
    'refuses a query parameter given twice (%s) with 400, not 500',
    async (query) => {
      const res = await send('POST', `/v1/models/m/predict?${query}`, {
        inputs: { x: [[1, 2, 3, 4]] },
      });

      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('must be given once'),
      });
    },
  );
});
