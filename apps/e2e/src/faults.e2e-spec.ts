import {
  buildMlpModel,
  PortfolioCluster,
  startThrowawayNats,
  startThrowawayPostgres,
  ThrowawayNats,
  ThrowawayPostgres,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { ErrorBody, http, useKey } from './http.testing';

const ADMIN_KEY = 'faults-admin-key-0123456789';
const ROW = { inputs: { x: [[0.1, 0.2, 0.3]] } };

/**
 * The distributed topology on a NATS server and a PostgreSQL of its own, which the
 * tests restart or stop under it: services reconnect and serve again, none of them exits.
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
    useKey(cluster.url, ADMIN_KEY);
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

  it('answers 503 with Retry-After (never 500) while PostgreSQL is down, and registers again once it is back', async () => {
    await pg.halt();

    // The registry's pooled connections were cut, and new ones are refused while it lasts.
    const duringOutage: number[] = [];
    const refused = await eventually(
      'a 503 while PostgreSQL is down',
      async () => {
        const res = await http<ErrorBody>(`${cluster.url}/admin/models`, {
          json: { id: 'during-outage', format: 'onnx' },
          key: ADMIN_KEY,
        });
        duringOutage.push(res.status);
        return res.status === 503 ? res : null;
      },
    );
    expect(duringOutage.filter((s) => s !== 503)).toEqual([]);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      message: expect.stringMatching(/\S/),
      request_id: refused.headers.get('x-request-id'),
    });

    await pg.resume();

    // The pool replaces its broken connections by itself.
    const recovering: number[] = [];
    const created = await eventually(
      'a registration after PostgreSQL is back',
      async () => {
        const res = await http(`${cluster.url}/admin/models`, {
          json: { id: 'after-outage', format: 'onnx' },
          key: ADMIN_KEY,
        });
        recovering.push(res.status);
        return res.status === 201 ? res : null;
      },
    );
    expect(created.status).toBe(201);
    expect(recovering.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    // What was refused during the outage was not half-registered.
    const refusedModel = await http<ErrorBody>(
      `${cluster.url}/v1/models/during-outage/metadata`,
    );
    expect(refusedModel.status).toBe(404);
    expect(refusedModel.body.error.code).toBe('MODEL_NOT_FOUND');
    expect(await predicts()).not.toBeNull();
    for (const service of cluster.services.values())
      expect(service.running).toBe(true);
  });
});
