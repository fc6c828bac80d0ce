import { eventually } from '@portfolio/testing';

import { GatewayWithPeers, predict, startInProcess } from '../gateway.testing';
import { AuthGuard } from '../auth/auth.guard';
import { JsonOffload } from '../http/json-offload';

/** The prediction path through the real gateway, to fake runtimes on an in-process bus. */
describe('predict routing', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1', 'r2'],
    });
  });
  afterEach(() => g.close());

  it('answers with the outputs of the runtime that holds the model', async () => {
    g.cacheManager.place('m', 1, ['r2']);

    const res = await eventually('a prediction served by r2', async () => {
      const r = await predict(g.app, 'm', [
        [1, 2, 3, 4],
        [0.5, 0.5, 0, 0],
      ]);
      return g.runtimes['r2'].received > 0 ? r : null;
    });

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      model_id: 'm',
      model_version: 1,
      outputs: { y: [[10], [1]] },
    });
    // In process, the tensors travel as objects: no frame is encoded either way.
    expect(g.runtimes['r2'].receivedAttached).toBe(g.runtimes['r2'].received);
  });

  it("is answered before Nest's pipeline runs (its guard is not called), other routes through it", async () => {
    g.cacheManager.place('m', 1, ['r1']);
    const guard = jest.spyOn(AuthGuard.prototype, 'canActivate');
    try {
      const res = await predict(g.app, 'm', [[1, 2, 3, 4]]);
      expect(res.statusCode).toBe(200);
      expect(res.json().outputs).toEqual({ y: [[10]] });
      expect(guard).not.toHaveBeenCalled();

      await g.app.inject({ method: 'GET', url: '/v1/models/m/metadata' });
      expect(guard).toHaveBeenCalled();
    } finally {
      guard.mockRestore();
    }
  });

  it('sends each request to the copy with the fewest requests in flight', async () => {
    const { r1, r2 } = g.runtimes;
    g.cacheManager.place('m', 1, ['r1', 'r2']);
    // Nothing known yet: the first request asks the cache-manager, which names r1.
    g.cacheManager.loadAt = 'r1';
    r1.hold();
    // Copies are taken in turn while they are equally busy: send until one waits on r1.
    const waiting = [];
    while (r1.received === 0) {
      waiting.push(predict(g.app, 'm', [[1, 1, 1, 1]]));
      await eventually('the request reaching a runtime', () =>
        r1.received + r2.received === waiting.length ? true : null,
      );
    }
    const servedByR2 = r2.received;

    for (let i = 0; i < 4; i++) {
      const res = await predict(g.app, 'm', [[1, 1, 1, 1]]);
      expect(res.statusCode).toBe(200);
    }

    expect(r2.received).toBe(servedByR2 + 4);
    expect(r1.received).toBe(1);
    r1.release();
    for (const res of await Promise.all(waiting)) {
      expect(res.statusCode).toBe(200);
      expect(res.json().outputs).toEqual({ y: [[4]] });
    }
  });

  it('retries once elsewhere when the routed runtime is gone (no responders), excluding it', async () => {
    g.cacheManager.place('m', 1, ['r1']);
    g.cacheManager.loadAt = 'r2';
    await eventually('the gateway routing to r1', async () => {
      await predict(g.app, 'm', [[1, 1, 1, 1]]);
      return g.runtimes['r1'].received > 0 ? true : null;
    });
    g.runtimes['r1'].die();

    const res = await predict(g.app, 'm', [[1, 2, 3, 4]]);

    expect(res.statusCode).toBe(200);
    expect(res.json().outputs).toEqual({ y: [[10]] });
    expect(g.runtimes['r2'].received).toBe(1);
    expect(g.cacheManager.ensures.at(-1)).toEqual({
      model_id: 'm',
      version: 1,
      exclude_nodes: ['r1'],
    });
  });

  describe('with at most two requests in flight per model', () => {
    let small: GatewayWithPeers;

    beforeEach(async () => {
      small = await startInProcess({
        models: { m: 1 },
        nodes: ['r1'],
        settings: { maxInFlightPerModel: 2 },
      });
      small.cacheManager.place('m', 1, ['r1']);
    });
    afterEach(() => small.close());

    it('answers a third request at once with 503 and Retry-After, and takes requests again once they finish', async () => {
      const r1 = small.runtimes['r1'];
      r1.hold();
      const waiting = [
        predict(small.app, 'm', [[1, 1, 1, 1]]),
        predict(small.app, 'm', [[1, 1, 1, 1]]),
      ];
      await eventually('both requests reaching the runtime', () =>
        r1.received === 2 ? true : null,
      );

      const third = await predict(small.app, 'm', [[1, 1, 1, 1]]);

      expect(third.statusCode).toBe(503);
      expect(third.headers['retry-after']).toBe('1');
      expect(third.json().error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        details: { in_flight: 2, limit: 2 },
      });
      expect(r1.received).toBe(2);
      r1.release();
      for (const res of await Promise.all(waiting))
        expect(res.statusCode).toBe(200);
      expect((await predict(small.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(
        200,
      );
    });
  });

  it('refuses more tensor elements as JSON than gateway.max_json_elements with 413, before converting them', async () => {
    const small = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { maxJsonElements: 8 },
    });
    try {
      small.cacheManager.place('m', 1, ['r1']);
      const ok = await predict(small.app, 'm', [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ]);
      const tooMany = await predict(small.app, 'm', [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10, 11, 12],
      ]);

      expect(ok.statusCode).toBe(200);
      expect(tooMany.statusCode).toBe(413);
      expect(tooMany.json().error).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        details: { input: 'x', elements: 12, limit: 8 },
      });
      expect(small.runtimes['r1'].received).toBe(1);
      // The same limit on the Open Inference Protocol's JSON data, in its error shape.
      const oip = await small.app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        payload: {
          inputs: [
            {
              name: 'x',
              shape: [3, 4],
              datatype: 'FP32',
              data: Array.from({ length: 12 }, (_, i) => i),
            },
          ],
        },
      });
      expect(oip.statusCode).toBe(413);
      expect(oip.json().error).toMatch(/gateway\.max_json_elements/);
    } finally {
      await small.close();
    }
  });

  it('parses a large JSON body and writes a large answer off the event loop, with the same results and errors as inline', async () => {
    const big = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { bodyLimitBytes: 8 * 1024 * 1024 },
    });
    try {
      big.cacheManager.place('m', 1, ['r1']);
      const offload = big.app.get(JsonOffload);
      const parsed = jest.spyOn(offload, 'parse');
      const written = jest.spyOn(offload, 'stringify');
      // 200,000 rows: 2.3 MB of JSON in, 200,000 numbers out (over both thresholds).
      const rows = Array.from({ length: 200_000 }, (_, i) => [i, 0.5, -1, 2]);

      const res = await predict(big.app, 'm', rows);
      const malformed = await big.app.inject({
        method: 'POST',
        url: '/v1/models/m/predict',
        headers: { 'content-type': 'application/json' },
        payload: `${JSON.stringify({ inputs: { x: rows } }).slice(0, -2)}]`,
      });
      const ragged = await predict(big.app, 'm', [...rows, [1, 2, 3]]);

      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(
        'application/json; charset=utf-8',
      );
      const body = res.json();
      expect(body.model_id).toBe('m');
      expect(body.outputs.y).toHaveLength(200_000);
      expect(body.outputs.y[0]).toEqual([1.5]);
      expect(body.outputs.y[199_999]).toEqual([199_999 + 1.5]);
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().error).toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringMatching(/^malformed request body: /),
      });
      expect(parsed).toHaveBeenCalledTimes(3);
      expect(written).toHaveBeenCalledTimes(1);
      expect(ragged.statusCode).toBe(400);
      expect(ragged.json().error.message).toMatch(
        /ragged array: row 200000 at dimension 1 has 3 elements, expected 4/,
      );
    } finally {
      await big.close();
    }
  });

  it('follows aliases: ?alias= names one, and the default follows production while it is set', async () => {
    await g.close();
    g = await startInProcess({ models: { m: 2 }, nodes: ['r1', 'r2'] });
    const predict = (q = '') =>
      g.app.inject({
        method: 'POST',
        url: `/v1/models/m/predict${q}`,
        payload: { inputs: { x: [[1, 2, 3, 4]] } },
      });
    const setAlias = (alias: string, version: number) =>
      g.app.inject({
        method: 'PUT',
        url: `/admin/models/m/aliases/${alias}`,
        payload: { version },
      });
    const versionOf = async (q = '') => (await predict(q)).json().model_version;

    const staging = await setAlias('staging', 1);
    expect(staging.statusCode).toBe(200);
    expect(staging.json()).toMatchObject({
      model_id: 'm',
      alias: 'staging',
      version: 1,
      previous_version: null,
    });
    expect(await versionOf('?alias=staging')).toBe(1);
    expect(await versionOf()).toBe(2);

    await setAlias('production', 1);
    expect(await versionOf()).toBe(1);
    expect(await versionOf('?version=2')).toBe(2);
    expect((await setAlias('production', 2)).json().previous_version).toBe(1);
    expect(await versionOf()).toBe(2);

    const deleted = await g.app.inject({
      method: 'DELETE',
      url: '/admin/models/m/aliases/staging',
    });
    expect(deleted.json()).toEqual({
      model_id: 'm',
      alias: 'staging',
      version: 1,
    });
    const gone = await predict('?alias=staging');
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error).toMatchObject({
      code: 'ALIAS_NOT_FOUND',
      message: 'model "m" has no alias "staging"',
    });
  });

  it('refuses ?alias= with ?version=, a malformed alias, and an alias of an unknown model', async () => {
    const send = (url: string) =>
      g.app.inject({
        method: 'POST',
        url,
        payload: { inputs: { x: [[1, 2, 3, 4]] } },
      });

    const both = await send('/v1/models/m/predict?alias=production&version=1');
    const bad = await send('/v1/models/m/predict?alias=Prod%20uction');
    const noModel = await send('/v1/models/nope/predict?alias=production');
    const badPut = await g.app.inject({
      method: 'PUT',
      url: '/admin/models/m/aliases/Prod%20uction',
      payload: { version: 1 },
    });
    const noBody = await g.app.inject({
      method: 'PUT',
      url: '/admin/models/m/aliases/production',
    });
    const noVersion = await g.app.inject({
      method: 'PUT',
      url: '/admin/models/m/aliases/production',
      payload: { version: 7 },
    });

    expect([both.statusCode, bad.statusCode]).toEqual([400, 400]);
    expect(noModel.json().error.code).toBe('MODEL_NOT_FOUND');
    expect(badPut.statusCode).toBe(400);
    expect(noBody.json().error).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(noBody.json().error.message).toMatch(/\{"version": N\}/);
    expect(noVersion.json().error.code).toBe('VERSION_NOT_FOUND');
    expect(g.runtimes['r1'].received + g.runtimes['r2'].received).toBe(0);
  });
});
