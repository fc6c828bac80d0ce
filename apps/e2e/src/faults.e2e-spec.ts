import {
  buildMlpModel,
  PortfolioCluster,
  startThrowawayNats,
  startThrowawayPostgres,
  ThrowawayNats,
  ThrowawayPostgres,
} from '@portfolio/testing';

import { http } from './http.testing';

const ADMIN_KEY = 'faults-admin-key-0123456789';
const ROW = { inputs: { x: [[0.1, 0.2, 0.3]] } };

async function eventually<T>(
  what: string,
  probe: () => Promise<T | null>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} did not happen within ${timeoutMs} ms (${String(last)})`,
  );
}

/**
 * The distributed topology on a NATS server and a PostgreSQL of its own, which the
 * tests restart under it: services reconnect and serve again, none of them exits.
 */
describe('recovery from infrastructure faults', () => {
  let nats: ThrowawayNats;
  let pg: ThrowawayPostgres;
  let cluster: PortfolioCluster;

  const predicts = async () => {
    const res = await http(`${cluster.url}/v1/models/faulty/predict`, {
      json: ROW,
    });
    return res.status === 200 ? res : null;
  };

  beforeAll(async () => {
    [nats, pg] = await Promise.all([
      startThrowawayNats(),
      startThrowawayPostgres(),
    ]);
    cluster = new PortfolioCluster({
      adminKey: ADMIN_KEY,
      runtimes: ['runtime-f'],
      natsUrl: nats.url,
      pgServerUrl: pg.url,
      env: {
        PORTFOLIO_NATS_REQUEST_TIMEOUT: '3s',
        PORTFOLIO_GATEWAY_REQUEST_TIMEOUT: '3s',
      },
    });
    await cluster.start();
    await cluster.waitUntilHealthy(1);
    expect(
      (
        await http(`${cluster.url}/admin/models`, {
          json: { id: 'faulty', format: 'onnx' },
          key: ADMIN_KEY,
        })
      ).status,
    ).toBe(201);
    const model = buildMlpModel({
      inputSize: 3,
      hidden: [4],
      outputSize: 2,
      seed: 5,
    });
    expect(
      (
        await http(`${cluster.url}/admin/models/faulty/versions`, {
          body: model,
          key: ADMIN_KEY,
        })
      ).status,
    ).toBe(201);
    expect(await predicts()).not.toBeNull();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await Promise.all([nats?.stop(), pg?.stop()]);
  });

  it('serves again after NATS restarts, with every service still running', async () => {
    await nats.restart();
    await eventually('a prediction after the NATS restart', predicts);
    await cluster.waitUntilHealthy(1);
    for (const service of cluster.services.values())
      expect(service.running).toBe(true);
  });

  it('registers again after PostgreSQL restarts, answering 503 (never 500) meanwhile', async () => {
    await pg.restart();
    // The pool's connections were cut by the restart; the registry replaces them.
    const statuses: number[] = [];
    const created = await eventually(
      'a registration after the PostgreSQL restart',
      async () => {
        const res = await http(`${cluster.url}/admin/models`, {
          json: { id: 'after-restart', format: 'onnx' },
          key: ADMIN_KEY,
        });
        statuses.push(res.status);
        return res.status === 201 ? res : null;
      },
    );
    expect(created.status).toBe(201);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    expect(await predicts()).not.toBeNull();
    for (const service of cluster.services.values())
      expect(service.running).toBe(true);
  });
});
