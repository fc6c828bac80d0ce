import { randomUUID } from 'node:crypto';

import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { servedRoutes } from '../served-routes.testing';
import { ADMIN_KEY, FakeKeys, WRONG_SCOPE } from './fake-keys.testing';
import { INVENTORY } from './route-inventory.testing';

describe('API keys and scopes (auth.enabled)', () => {
  let g: GatewayWithPeers;
  let keys: FakeKeys;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    keys = new FakeKeys(g.peers);
  });
  afterEach(() => g.close());

  const send = (
    route: string,
    headers: Record<string, string> = {},
    payload?: unknown,
  ) => {
    const [method, path] = route.split(' ');
    return g.app.inject({
      method: method as 'GET',
      url: path
        .replace(':modelId', 'm')
        .replace(':name', 'm')
        .replace(':version', '1')
        .replace(':id', randomUUID())
        .replace(':alias', 'production'),
      headers,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  };
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('serves exactly the routes of the inventory', () => {
    expect(servedRoutes(g.app)).toEqual(Object.keys(INVENTORY).sort());
  });

  it.each(Object.entries(INVENTORY))(
    '%s (%s): refuses no key, an unknown key and a key without the scope; lets the scope in',
    async (route, access) => {
      if (access === 'public') {
        const open = await send(route);
        expect([401, 403]).not.toContain(open.statusCode);
        return;
      }
      const none = await send(route);
      const unknown = await send(route, bearer('pf_not_a_key_of_ours'));
      const wrong = await send(route, bearer(keys.add([WRONG_SCOPE[access]])));
      const right = await send(route, bearer(keys.add([access])));
      const admin = await send(route, { 'x-api-key': ADMIN_KEY });

      expect([none.statusCode, unknown.statusCode, wrong.statusCode]).toEqual([
        401, 401, 403,
      ]);
      expect([401, 403]).not.toContain(right.statusCode);
      expect([401, 403]).not.toContain(admin.statusCode);
      if (route.includes(' /v2')) {
        expect(typeof none.json().error).toBe('string');
      } else {
        expect(none.json().error.code).toBe('UNAUTHORIZED');
        expect(wrong.json().error).toMatchObject({
          code: 'FORBIDDEN',
          details: { needed_scope: access },
        });
      }
    },
  );

  it('creates a key shown once, which then works for its scope until revoked', async () => {
    const created = await send('POST /admin/keys', bearer(ADMIN_KEY), {
      name: 'ci',
      scopes: ['read'],
      rate_limit: { requests_per_second: 10, burst: 20 },
    });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({
      name: 'ci',
      scopes: ['read'],
      rate_limit: { requests_per_second: 10, burst: 20 },
      created_by: 'bootstrap',
      revoked_at: null,
    });
    expect(body.key).toMatch(/^pf_[A-Za-z0-9_-]{32}$/);
    expect(body.prefix).toBe(body.key.slice(0, 8));
    // The registry got the key's hash only.
    expect(JSON.stringify([...keys.records.values()])).not.toContain(body.key);
    const listed = await send('GET /admin/keys', bearer(ADMIN_KEY));
    expect(JSON.stringify(listed.json())).not.toContain(body.key);

    expect(
      (await send('GET /v1/models/status', bearer(body.key))).statusCode,
    ).toBe(200);
    const revoked = await g.app.inject({
      method: 'DELETE',
      url: `/admin/keys/${body.id}`,
      headers: bearer(ADMIN_KEY),
    });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked_at).not.toBeNull();
    const after = await send('GET /v1/models/status', bearer(body.key));
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toBe('the API key is not valid');
  });

  it.each([
    ['no name', { scopes: ['read'] }],
    ['an unknown scope', { name: 'x', scopes: ['root'] }],
    ['no scope', { name: 'x', scopes: [] }],
    ['an unknown field', { name: 'x', scopes: ['read'], owner: 'me' }],
    [
      'a negative rate',
      {
        name: 'x',
        scopes: ['read'],
        rate_limit: { requests_per_second: -1, burst: 1 },
      },
    ],
  ])('refuses a key with %s (400), creating nothing', async (_what, body) => {
    const res = await send('POST /admin/keys', bearer(ADMIN_KEY), body);

    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INVALID_REQUEST');
    expect(keys.records.size).toBe(0);
  });

  it('answers 400 for a key id that is not a UUID and 404 for an unknown one', async () => {
    const bad = await g.app.inject({
      method: 'DELETE',
      url: '/admin/keys/not-an-id',
      headers: bearer(ADMIN_KEY),
    });
    const unknown = await send('DELETE /admin/keys/:id', bearer(ADMIN_KEY));

    expect(bad.statusCode).toBe(400);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('KEY_NOT_FOUND');
  });
});

describe('rate limits', () => {
  let g: GatewayWithPeers;
  let keys: FakeKeys;
  const status = (key: string) =>
    g.app.inject({
      method: 'GET',
      url: '/v1/models/status',
      headers: { authorization: `Bearer ${key}` },
    });

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: {
        authEnabled: true,
        adminKey: ADMIN_KEY,
        // Slow enough that no token comes back while a test runs.
        defaultRateLimit: { requests_per_second: 0.01, burst: 2 },
      },
    });
    keys = new FakeKeys(g.peers);
  });
  afterEach(() => g.close());

  it("answers 429 RATE_LIMITED with Retry-After once a key's burst is spent", async () => {
    const key = keys.add(['read'], { requests_per_second: 0.5, burst: 3 });

    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await status(key)).statusCode);
    const limited = await status(key);

    expect(codes).toEqual([200, 200, 200]);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.json().error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { requests_per_second: 0.5, burst: 3 },
    });
  });

  it('gives keys without a limit of their own the default, and none to the bootstrap key', async () => {
    const key = keys.add(['read']);

    const keyed = [];
    for (let i = 0; i < 3; i++) keyed.push((await status(key)).statusCode);
    const bootstrap = [];
    for (let i = 0; i < 5; i++)
      bootstrap.push((await status(ADMIN_KEY)).statusCode);

    expect(keyed).toEqual([200, 200, 429]);
    expect(bootstrap).toEqual([200, 200, 200, 200, 200]);
  });

  it('answers 429 in the protocol shape under /v2', async () => {
    const key = keys.add(['read'], { requests_per_second: 0.01, burst: 1 });
    const get = () =>
      g.app.inject({
        method: 'GET',
        url: '/v2',
        headers: { authorization: `Bearer ${key}` },
      });

    expect((await get()).statusCode).toBe(200);
    const limited = await get();

    expect(limited.statusCode).toBe(429);
    expect(typeof limited.json().error).toBe('string');
  });
});

describe('auth.enabled: false', () => {
  it('lets every request in as admin', async () => {
    const g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: false, adminKey: ADMIN_KEY },
    });
    try {
      const res = await g.app.inject({ method: 'GET', url: '/admin/models' });
      expect(res.statusCode).toBe(200);
    } finally {
      await g.close();
    }
  });
});
