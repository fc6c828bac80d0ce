import {
  AdminLoadRequest,
  ClusterStatus,
  ModelStatus,
  PortfolioError,
  Registry,
} from '@portfolio/contracts';

import { emptyStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { ALIAS_DRAIN_MS } from './version-lifecycle.service';

/** Cluster status in which each `model@version` is loaded on the nodes given. */
function loadedOn(placements: Record<string, string[]>): ClusterStatus {
  const models: ModelStatus[] = Object.entries(placements).map(([k, nodes]) => {
    const [model_id, version] = k.split('@');
    return {
      model_id,
      version: Number(version),
      state: 'loaded',
      reason: null,
      nodes,
      memory_bytes: 1000,
      last_used_at: null,
      hits: 0,
      misses: 0,
      loads: 1,
      evictions: 0,
      evictions_by_reason: {},
      load_ms: 1,
    };
  });
  return { ...emptyStatus(), models };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Alias moves, deletions and deprecation through the real gateway, against a fake
 * registry and cache-manager that record what they are asked, in which order.
 */
describe('version lifecycle', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({ models: { iris: 3, fraud: 1 }, nodes: [] });
  });
  afterEach(() => g.close());

  const call = (
    method: 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => g.app.inject({ method, url, ...(payload ? { payload } : {}) });
  const aliasOf = async (alias: string) =>
    (
      await g.peers.call(Registry.resolveVersion, {
        model_id: 'iris',
        alias,
      })
    ).version.version;

  describe('moving an alias', () => {
    beforeEach(async () => {
      expect(
        (
          await call('PUT', '/admin/models/iris/aliases/production', {
            version: 1,
          })
        ).statusCode,
      ).toBe(200);
    });

    it('loads the new version wherever the old one serves before routing switches, then drains the old one', async () => {
      g.cacheManager.status = loadedOn({ 'iris@1': ['r1', 'r2'] });
      const seenAtLoad: number[] = [];
      g.cacheManager.onLoad = async (req: AdminLoadRequest) => {
        // While the new version loads, the alias still points at the old one.
        seenAtLoad.push(await aliasOf('production'));
        return {
          model_id: req.model_id,
          version: req.version,
          nodes: ['r1', 'r2'],
        };
      };

      const res = await call('PUT', '/admin/models/iris/aliases/production', {
        version: 3,
      });

      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        alias: 'production',
        version: 3,
        previous_version: 1,
        rollout: { nodes: ['r1', 'r2'], previous: 'draining' },
      });
      expect(g.cacheManager.loads).toEqual([
        { model_id: 'iris', version: 3, copies: 2 },
      ]);
      expect(seenAtLoad).toEqual([1]);
      expect(await aliasOf('production')).toBe(3);
      // The old version is not unloaded at once: other gateways may still route to it.
      expect(g.cacheManager.unloads).toEqual([]);
      await sleep(ALIAS_DRAIN_MS + 300);
      expect(g.cacheManager.unloads).toEqual([
        { model_id: 'iris', version: 1 },
      ]);
    });

    it('leaves the alias where it was when the new version fails to load, and says why', async () => {
      g.cacheManager.status = loadedOn({ 'iris@1': ['r1'] });
      g.cacheManager.onLoad = () => {
        throw new PortfolioError(
          'MODEL_LOAD_FAILED',
          'iris@3 failed to load: the artifact is unreadable',
        );
      };

      const res = await call('PUT', '/admin/models/iris/aliases/production', {
        version: 3,
      });

      expect(res.statusCode).toBe(422);
      expect(res.json().error).toMatchObject({
        code: 'MODEL_LOAD_FAILED',
        details: { alias: 'production', version: 1 },
      });
      expect(res.json().error.message).toMatch(
        /alias "production" of model "iris" stays at version 1: version 3 did not load \(iris@3 failed to load: the artifact is unreadable\)/,
      );
      expect(await aliasOf('production')).toBe(1);
      await sleep(ALIAS_DRAIN_MS + 300);
      expect(g.cacheManager.unloads).toEqual([]);
    });

    it('moves at once, loading nothing, when the old version is loaded nowhere', async () => {
      const res = await call('PUT', '/admin/models/iris/aliases/production', {
        version: 2,
      });

      expect(res.json()).toMatchObject({
        version: 2,
        rollout: { nodes: [], previous: 'not_loaded' },
      });
      expect(g.cacheManager.loads).toEqual([]);
    });

    it('keeps the old version loaded while another alias still points at it', async () => {
      await call('PUT', '/admin/models/iris/aliases/staging', { version: 1 });
      g.cacheManager.status = loadedOn({ 'iris@1': ['r1'] });

      const res = await call('PUT', '/admin/models/iris/aliases/production', {
        version: 2,
      });

      expect(res.json()).toMatchObject({
        rollout: { nodes: ['r1'], previous: 'kept' },
      });
      await sleep(ALIAS_DRAIN_MS + 300);
      expect(g.cacheManager.unloads).toEqual([]);
    });

    it('loads ahead when production is first set while the default version serves', async () => {
      // Without production, the default is the newest ready version (3), on r2.
      await call('DELETE', '/admin/models/iris/aliases/production');
      await call('PUT', '/admin/models/iris/aliases/staging', { version: 1 });
      g.cacheManager.status = loadedOn({ 'iris@3': ['r2'] });

      const res = await call('PUT', '/admin/models/iris/aliases/production', {
        version: 2,
      });

      expect(res.json()).toMatchObject({
        previous_version: null,
        rollout: { nodes: ['r1'], previous: 'draining' },
      });
      expect(g.cacheManager.loads).toEqual([
        { model_id: 'iris', version: 2, copies: 1 },
      ]);
    });
  });

  describe('deleting a version', () => {
    it('refuses while an alias points at it, naming the alias, and deletes nothing', async () => {
      await call('PUT', '/admin/models/iris/aliases/staging', { version: 2 });

      const res = await call('DELETE', '/admin/models/iris/versions/2');

      expect(res.statusCode).toBe(409);
      expect(res.json().error).toMatchObject({
        code: 'VERSION_IN_USE',
        details: { aliases: ['staging'] },
      });
      expect(res.json().error.message).toMatch(/alias "staging" points/);
      expect(
        (
          await g.app.inject({
            method: 'GET',
            url: '/admin/models/iris/versions/2',
          })
        ).statusCode,
      ).toBe(200);
    });

    it('refuses while a runtime holds it, naming where', async () => {
      g.cacheManager.status = loadedOn({ 'iris@2': ['r1'] });

      const res = await call('DELETE', '/admin/models/iris/versions/2');

      expect(res.statusCode).toBe(409);
      expect(res.json().error).toMatchObject({
        code: 'VERSION_IN_USE',
        details: { nodes: ['r1'] },
      });
      expect(g.cacheManager.unloads).toEqual([]);
    });

    it('with force, deletes its aliases and unloads it first', async () => {
      await call('PUT', '/admin/models/iris/aliases/staging', { version: 2 });
      g.cacheManager.status = loadedOn({ 'iris@2': ['r1'] });
      g.cacheManager.onUnload = (req) => ({
        model_id: req.model_id,
        unloaded: [{ node_id: 'r1', version: 2, freed_bytes: 1000 }],
      });

      const res = await call(
        'DELETE',
        '/admin/models/iris/versions/2?force=true',
      );

      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        version: { model_id: 'iris', version: 2 },
        aliases_deleted: ['staging'],
        unloaded: [{ node_id: 'r1', version: 2, freed_bytes: 1000 }],
      });
      expect(g.cacheManager.unloads).toEqual([
        { model_id: 'iris', version: 2, reason: 'deleted' },
      ]);
      const gone = await g.app.inject({
        method: 'GET',
        url: '/admin/models/iris/versions/2',
      });
      expect(gone.statusCode).toBe(404);
      expect(gone.json().error.code).toBe('VERSION_NOT_FOUND');
    });

    it.each([
      [
        'an unknown version',
        '/admin/models/iris/versions/9',
        404,
        'VERSION_NOT_FOUND',
      ],
      [
        'an unknown model',
        '/admin/models/nope/versions/1',
        404,
        'MODEL_NOT_FOUND',
      ],
      [
        'a version that is no number',
        '/admin/models/iris/versions/x',
        400,
        'INVALID_REQUEST',
      ],
      [
        'force that is no boolean',
        '/admin/models/iris/versions/1?force=yes',
        400,
        'INVALID_REQUEST',
      ],
      [
        'another query parameter',
        '/admin/models/iris/versions/1?cascade=true',
        400,
        'INVALID_REQUEST',
      ],
    ])('refuses %s, deleting nothing', async (_what, url, status, code) => {
      const res = await call('DELETE', url);

      expect(res.statusCode).toBe(status);
      expect(res.json().error.code).toBe(code);
      expect(
        (await g.peers.call(Registry.getModel, { id: 'iris' })).versions,
      ).toHaveLength(3);
    });
  });

  describe('deleting a model', () => {
    it('refuses while a version is loaded, and with force unloads every version first', async () => {
      g.cacheManager.status = loadedOn({ 'iris@1': ['r1'], 'iris@3': ['r2'] });

      const refused = await call('DELETE', '/admin/models/iris');
      expect(refused.statusCode).toBe(409);
      expect(refused.json().error).toMatchObject({
        code: 'MODEL_IN_USE',
        details: {
          loaded: [
            { version: 1, nodes: ['r1'] },
            { version: 3, nodes: ['r2'] },
          ],
        },
      });

      const res = await call('DELETE', '/admin/models/iris?force=1');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        model: { id: 'iris' },
        versions: [1, 2, 3],
      });
      expect(g.cacheManager.unloads).toEqual([
        { model_id: 'iris', reason: 'deleted' },
      ]);
      const gone = await g.app.inject({
        method: 'GET',
        url: '/admin/models/iris',
      });
      expect(gone.statusCode).toBe(404);
    });

    it('deletes a model nothing holds without force', async () => {
      const res = await call('DELETE', '/admin/models/fraud');

      expect(res.statusCode).toBe(200);
      expect(g.cacheManager.unloads).toEqual([]);
    });
  });

  describe('deprecating', () => {
    it('deprecates a version and restores it, answering the version record', async () => {
      const res = await call('PATCH', '/admin/models/iris/versions/1', {
        status: 'deprecated',
      });

      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ version: 1, status: 'deprecated' });
      const back = await call('PATCH', '/admin/models/iris/versions/1', {
        status: 'ready',
      });
      expect(back.json()).toMatchObject({ version: 1, status: 'ready' });
    });

    it.each([
      ['another status', { status: 'failed' }],
      ['another key', { status: 'deprecated', reason: 'old' }],
      ['no body', undefined],
    ])('refuses %s with 400', async (_what, body) => {
      const res = await call('PATCH', '/admin/models/iris/versions/1', body);

      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('INVALID_REQUEST');
    });
  });

  describe('garbage collection', () => {
    const gc = (payload?: object) =>
      g.app.inject({
        method: 'POST',
        url: '/admin/storage/gc',
        ...(payload ? { payload } : {}),
      });

    it('is a dry run unless told otherwise, and passes min_age on in milliseconds', async () => {
      const dry = await gc();
      expect(dry.statusCode).toBe(200);
      expect(dry.json()).toMatchObject({ dry_run: true });
      await gc({ dry_run: false, min_age: '2h' });
      expect(g.storage.collections).toEqual([
        { dry_run: true },
        { dry_run: false, min_age_ms: 7_200_000 },
      ]);
    });

    it.each([
      ['another key', { dryrun: false }],
      ['dry_run that is no boolean', { dry_run: 'no' }],
      ['a min_age that is no duration', { min_age: 'soon' }],
    ])('refuses %s with 400, collecting nothing', async (_what, body) => {
      const res = await gc(body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('INVALID_REQUEST');
      expect(g.storage.collections).toEqual([]);
    });
  });
});
