import { Logger } from '@nestjs/common';

import { PortfolioError } from '@portfolio/contracts';
import { MetricsRegistry } from '@portfolio/telemetry';
import { parsePrometheusText } from '@portfolio/testing';

import { RegistryMetrics } from '../registry.metrics';
import { DbGate } from './db-gate';

async function counts(registry: MetricsRegistry) {
  return parsePrometheusText(await registry.metrics())
    .samples.filter(
      (s) => s.name === 'portfolio_registry_db_duration_seconds_count',
    )
    .map((s) => ({ labels: s.labels, value: s.value }));
}

describe('DbGate', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([true, false])(
    'times each operation by its name and result (serialized: %p)',
    async (serialize) => {
      const registry = new MetricsRegistry({ processMetrics: false });
      const gate = new DbGate(serialize, new RegistryMetrics(registry));

      await gate.run('get_model', async () => 1);
      await gate.run('get_model', async () => 2);
      await expect(
        gate.run('create_model', () => Promise.reject(new Error('duplicate'))),
      ).rejects.toThrow('duplicate');

      expect(await counts(registry)).toEqual([
        { labels: { operation: 'get_model', result: 'ok' }, value: 2 },
        { labels: { operation: 'create_model', result: 'error' }, value: 1 },
      ]);
    },
  );

  it('still answers 503 for a database that cannot be reached, and counts it as an error', async () => {
    // The gate logs the driver's message; not here.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const registry = new MetricsRegistry({ processMetrics: false });
    const gate = new DbGate(false, new RegistryMetrics(registry));
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {
      code: 'ECONNREFUSED',
    });

    const e = await gate
      .run('ping', () => Promise.reject(refused))
      .catch((x: unknown) => x);

    expect(e).toBeInstanceOf(PortfolioError);
    expect((e as PortfolioError).code).toBe('SERVICE_UNAVAILABLE');
    expect(await counts(registry)).toEqual([
      { labels: { operation: 'ping', result: 'error' }, value: 1 },
    ]);
  });
});
