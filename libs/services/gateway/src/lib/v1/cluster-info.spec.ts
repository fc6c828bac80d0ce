import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';

/** What the cache-manager says of the cluster, as its ClusterStatus schema lets it through. */
const STATUS = sampleStatus();

describe('status and metadata', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1, unseen: 1 },
      nodes: [],
    });
    g.cacheManager.status = STATUS;
  });
  afterEach(() => g.close());

  it('GET /v1/models/status passes on all the cache-manager says, and lists models it has not seen', async () => {
    const res = await g.app.inject({ method: 'GET', url: '/v1/models/status' });

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ...STATUS,
      models: [
        ...STATUS.models,
        {
          model_id: 'unseen',
          version: null,
          state: 'unloaded',
          reason: null,
          nodes: [],
          memory_bytes: null,
          last_used_at: null,
          hits: 0,
          misses: 0,
          loads: 0,
          evictions: 0,
          evictions_by_reason: {},
          load_ms: null,
        },
      ],
    });
  });

  it("metadata's cache section has each version's state, nodes, counters and evictions by reason", async () => {
    const res = await g.app.inject({
      method: 'GET',
      url: '/v1/models/m/metadata',
    });

    expect(res.statusCode).toBe(200);
    const { model_id: _id, ...status } = STATUS.models[0];
    expect(res.json().cache).toEqual([status]);
  });
});
