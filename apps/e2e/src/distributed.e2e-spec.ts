import { PortfolioCluster } from '@portfolio/testing';

import { http } from './http.testing';
import { predictionFlow } from './prediction-flow.testing';

const ADMIN_KEY = 'e2e-admin-key-0123456789';

/**
 * gateway, model-registry, storage, cache-manager and TWO runtimes as separate
 * processes over a real NATS server and a real PostgreSQL.
 */
describe('distributed Portfolio', () => {
  const cluster = new PortfolioCluster({
    adminKey: ADMIN_KEY,
    runtimes: ['runtime-a', 'runtime-b'],
  });

  beforeAll(async () => {
    await cluster.start();
    await cluster.waitUntilHealthy(2);
  }, 120_000);

  afterAll(async () => {
    await cluster.stop();
  });

  it('reports both runtimes, each with its own node id', async () => {
    const status = await http<{
      runtimes: { node_id: string; capacity_bytes: number }[];
    }>(`${cluster.url}/v1/models/status`);
    expect(status.body.runtimes.map((r) => r.node_id)).toEqual([
      'runtime-a',
      'runtime-b',
    ]);
    expect(status.body.runtimes[0].capacity_bytes).toBe(1024 ** 3);
  });

  predictionFlow(() => ({ url: cluster.url, adminKey: ADMIN_KEY }), 'mlp');

  it('keeps serving when the runtime holding the model is killed', async () => {
    const before = await http<{
      models: { model_id: string; nodes: string[] }[];
    }>(`${cluster.url}/v1/models/status`);
    const holder = before.body.models.find((m) => m.model_id === 'mlp')
      ?.nodes[0];
    expect(holder === 'runtime-a' || holder === 'runtime-b').toBe(true);
    await cluster.service(holder as string).kill();

    // The next request finds the runtime gone, has the model loaded on the other one, and succeeds.
    const res = await http<{ outputs: { y: number[][] } }>(
      `${cluster.url}/v1/models/mlp/predict`,
      {
        json: { inputs: { x: [[5.1, 3.5, 1.4, 0.2]] } },
      },
    );
    expect(res.status).toBe(200);
    const after = await http<{
      models: { model_id: string; nodes: string[] }[];
    }>(`${cluster.url}/v1/models/status`);
    const survivor = holder === 'runtime-a' ? 'runtime-b' : 'runtime-a';
    expect(after.body.models.find((m) => m.model_id === 'mlp')?.nodes).toEqual([
      survivor,
    ]);
  });

  it('says the cluster is degraded once a runtime is gone, and recovers when it returns', async () => {
    const dead = [...cluster.services.values()].find(
      (s) => s.options.app === 'runtime' && !s.running,
    );
    expect(dead).toBeDefined();
    await cluster.service('model-registry'); // still up
    const deadline = Date.now() + 10_000;
    let alive = 2;
    while (Date.now() < deadline && alive !== 1) {
      const health = await http<{
        components: { runtimes: { alive: number } };
      }>(`${cluster.url}/v1/health`);
      alive = health.body.components.runtimes.alive;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(alive).toBe(1);
    await dead?.start();
    await cluster.waitUntilHealthy(2);
  });
});
