import { Logger } from '@nestjs/common';
import { z } from 'zod';

import { PortfolioError, serviceRpc, targetedRpc } from '@portfolio/contracts';
import { MetricsRegistry } from '@portfolio/telemetry';
import { parsePrometheusText } from '@portfolio/testing';

import { InProcessBus } from './in-process.bus';
import { Messaging } from './messaging';
import { MessagingMetrics } from './messaging.metrics';

const Echo = serviceRpc(
  'test.echo.v1',
  'test',
  z.object({ say: z.string() }),
  z.object({ said: z.string() }),
);
const Node = targetedRpc('test', 'node.v1', z.object({}), z.object({}));

/** Series of `name` as a scrape reads them: labels and value. */
async function series(registry: MetricsRegistry, name: string) {
  return parsePrometheusText(await registry.metrics())
    .samples.filter((s) => s.name === name)
    .map((s) => ({ labels: s.labels, value: s.value }));
}

describe('Messaging metrics', () => {
  let registry: MetricsRegistry;
  let m: Messaging;

  afterEach(() => jest.restoreAllMocks());

  beforeEach(() => {
    registry = new MetricsRegistry({ processMetrics: false });
    m = new Messaging(
      new InProcessBus(),
      'pf',
      1000,
      new MessagingMetrics(registry),
    );
  });

  it("counts failed requests by the contract's name, never the subject with its node id", async () => {
    await expect(m.call(Node, {}, { target: 'runtime-7' })).rejects.toThrow(
      PortfolioError,
    );
    m.serve(Echo, () => {
      throw new PortfolioError('MODEL_NOT_FOUND', 'no such model');
    });
    await expect(m.call(Echo, { say: 'hi' })).rejects.toThrow('no such model');

    expect(
      await series(registry, 'portfolio_bus_request_errors_total'),
    ).toEqual([
      {
        labels: {
          name: 'test.<target>.node.v1',
          kind: 'bus',
          code: 'no_responders',
        },
        value: 1,
      },
      {
        labels: {
          name: 'test.echo.v1',
          kind: 'reply',
          code: 'MODEL_NOT_FOUND',
        },
        value: 1,
      },
    ]);
  });

  it('names raw requests as their caller says, else "raw"', async () => {
    await expect(
      m.requestRaw('pf.x.node-1.y', new Uint8Array(0), {
        name: 'x.<target>.y',
      }),
    ).rejects.toThrow(PortfolioError);
    await expect(
      m.requestRaw('pf.x.node-2.y', new Uint8Array(0)),
    ).rejects.toThrow(PortfolioError);

    expect(
      (await series(registry, 'portfolio_bus_request_errors_total')).map(
        (s) => s.labels['name'],
      ),
    ).toEqual(['x.<target>.y', 'raw']);
  });

  it('times the requests it answers, by name and result code', async () => {
    // The bug's stack is logged; not here.
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    m.serve(Echo, ({ say }) => {
      if (say === 'no') throw new PortfolioError('INVALID_REQUEST', 'no');
      if (say === 'boom') throw new Error('a bug');
      return { said: say };
    });

    await m.call(Echo, { say: 'a' });
    await m.call(Echo, { say: 'b' });
    await expect(m.call(Echo, { say: 'no' })).rejects.toThrow();
    await expect(m.call(Echo, { say: 'boom' })).rejects.toThrow();

    expect(
      await series(registry, 'portfolio_bus_handler_duration_seconds_count'),
    ).toEqual([
      { labels: { name: 'test.echo.v1', code: 'OK' }, value: 2 },
      { labels: { name: 'test.echo.v1', code: 'INVALID_REQUEST' }, value: 1 },
      { labels: { name: 'test.echo.v1', code: 'INTERNAL' }, value: 1 },
    ]);
  });
});
