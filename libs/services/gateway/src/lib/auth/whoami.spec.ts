import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { ADMIN_KEY, FakeKeys } from './fake-keys.testing';

describe('GET /v1/auth/whoami', () => {
  let g: GatewayWithPeers;
  afterEach(() => g.close());

  const whoami = (headers: Record<string, string> = {}) =>
    g.app.inject({ method: 'GET', url: '/v1/auth/whoami', headers });

  describe('with auth on', () => {
    let keys: FakeKeys;

    beforeEach(async () => {
      g = await startInProcess({
        models: { m: 1 },
        nodes: ['r1'],
        settings: { authEnabled: true, adminKey: ADMIN_KEY },
      });
      keys = new FakeKeys(g.peers);
    });

    it('names a valid key and its scopes (Bearer or X-API-Key)', async () => {
      const read = keys.add(['read']);
      const res = await whoami({ authorization: `Bearer ${read}` });
      const viaHeader = await whoami({ 'x-api-key': read });

      expect(res.statusCode).toBe(200);
      const record = [...keys.records.values()][0];
      expect(res.json()).toEqual({
        auth_enabled: true,
        key: 'valid',
        name: record.name,
        key_id: record.id,
        scopes: ['read'],
      });
      expect(viaHeader.json()).toEqual(res.json());
    });

    it('says the bootstrap key is admin', async () => {
      const res = await whoami({ authorization: `Bearer ${ADMIN_KEY}` });

      expect(res.json()).toEqual({
        auth_enabled: true,
        key: 'valid',
        name: 'bootstrap',
        key_id: null,
        scopes: ['admin'],
      });
    });

    it('answers 200 without a key, and for a key that is not valid, with no scope', async () => {
      const none = await whoami();
      const invalid = await whoami({ authorization: 'Bearer pf_not_ours' });

      expect(none.statusCode).toBe(200);
      expect(none.json()).toEqual({
        auth_enabled: true,
        key: 'none',
        name: null,
        key_id: null,
        scopes: [],
      });
      expect(invalid.statusCode).toBe(200);
      expect(invalid.json()).toMatchObject({ key: 'invalid', scopes: [] });
    });

    it('says a revoked key is not valid any more', async () => {
      const key = keys.add(['admin']);
      const id = [...keys.records.keys()][0];
      await g.app.inject({
        method: 'DELETE',
        url: `/admin/keys/${id}`,
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });

      const res = await whoami({ authorization: `Bearer ${key}` });

      expect(res.json().key).toBe('invalid');
    });
  });

  it('says no key is needed, and every scope is given, with auth off', async () => {
    g = await startInProcess({ models: { m: 1 }, nodes: ['r1'] });

    const res = await whoami();

    expect(res.json()).toEqual({
      auth_enabled: false,
      key: 'not_needed',
      name: null,
      key_id: null,
      scopes: ['predict', 'read', 'admin'],
    });
  });
});
