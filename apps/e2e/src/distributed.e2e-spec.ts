import { PortfolioCluster } from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { formatsFlow } from './formats-flow.testing';
import { http, useKey } from './http.testing';
import { predictionFlow } from './prediction-flow.testing';

const ADMIN_KEY = 'e2e-admin-key-0123456789';

interface Health {
  status: 'ok' | 'degraded' | 'down';
  components: {
    runtimes: {
      status: string;
      alive: number;
      lost: string[];
      detail?: string;
    };
  };
}

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
    useKey(cluster.url, ADMIN_KEY);
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
  formatsFlow(() => ({ url: cluster.url, adminKey: ADMIN_KEY }));

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

  it('says the cluster is degraded, naming the runtime, while one is gone, and ok once it is back', async () => {
    const dead = [...cluster.services.values()].find(
      (s) => s.options.app === 'runtime' && !s.running,
    );
    if (!dead) throw new Error('the previous test left no runtime killed');
    const nodeId = dead.options.name;

    const healthSays = (status: Health['status']) =>
      eventually(`health saying ${status}`, async () => {
        const res = await http<Health>(`${cluster.url}/v1/health`);
        return res.body.status === status ? res : null;
      });

    const degraded = await healthSays('degraded');

    expect(degraded.status).toBe(200);
    expect(degraded.body.components.runtimes).toEqual({
      status: 'degraded',
      alive: 1,
      lost: [nodeId],
      detail: `stopped answering: ${nodeId}`,
    });
    const status = await http<{
      runtimes: { node_id: string; alive: boolean }[];
    }>(`${cluster.url}/v1/models/status`);
    expect(status.body.runtimes.map((r) => [r.node_id, r.alive])).toEqual(
      ['runtime-a', 'runtime-b'].map((id) => [id, id !== nodeId]),
    );

    await dead.start();

    const ok = await healthSays('ok');
    expect(ok.status).toBe(200);
    expect(ok.body.components.runtimes).toEqual({
      status: 'ok',
      alive: 2,
      lost: [],
    });
  });
});
