import { request } from 'node:http';
import { Counter } from 'prom-client';

import { MetricsRegistry } from './metrics-registry';
import { MetricsServer, serveMetrics } from './metrics-server';
import { SeriesCache } from './series-cache';

function get(
  url: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type']),
          body,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('MetricsRegistry', () => {
  it("names prom-client's process metrics portfolio_*", async () => {
    const text = await new MetricsRegistry().metrics();

    const families = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(families).toContain('portfolio_process_resident_memory_bytes');
    expect(families).toContain('portfolio_nodejs_eventloop_lag_seconds');
    expect(families.filter((f) => !f.startsWith('portfolio_'))).toEqual([]);
  });

  it('has none without process metrics', async () => {
    const text = await new MetricsRegistry({ processMetrics: false }).metrics();

    expect(text.trim()).toBe('');
  });

  it('refuses a name registered twice: two owners would count one series twice', () => {
    const registry = new MetricsRegistry({ processMetrics: false });
    const define = () =>
      new Counter({
        name: 'portfolio_things_total',
        help: 'things',
        registers: [registry],
      });
    define();

    expect(define).toThrow(/portfolio_things_total/);
  });
});

describe('serveMetrics', () => {
  const registry = new MetricsRegistry({ processMetrics: false });
  const counter = new Counter({
    name: 'portfolio_test_total',
    help: 'a test counter',
    registers: [registry],
  });
  let server: MetricsServer;

  beforeAll(async () => {
    server = await serveMetrics(registry, { port: 0 });
  });
  afterAll(() => server.close());

  it("answers GET /metrics with the registry's text, as it is at each scrape", async () => {
    counter.inc(3);

    const res = await get(server.url);

    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('\nportfolio_test_total 3\n');
  });

  it('answers HEAD without a body', async () => {
    const res = await get(server.url, 'HEAD');

    expect([res.status, res.body]).toEqual([200, '']);
  });

  it('refuses other paths (404) and other methods (405), saying where metrics are', async () => {
    const base = `http://127.0.0.1:${server.port}`;

    expect(await get(`${base}/`)).toMatchObject({
      status: 404,
      body: 'not found: metrics are at /metrics\n',
    });
    expect(await get(`${base}/metrics`, 'POST')).toMatchObject({
      status: 405,
      body: 'POST is not allowed on /metrics; use GET\n',
    });
  });

  it('answers 500 with the reason when a metric cannot be collected', async () => {
    const broken = new MetricsRegistry({ processMetrics: false });
    new Counter({
      name: 'portfolio_broken_total',
      help: 'fails to collect',
      registers: [broken],
      collect() {
        throw new Error('the source is gone');
      },
    });
    const other = await serveMetrics(broken, { port: 0 });
    try {
      const res = await get(other.url);

      expect([res.status, res.body]).toEqual([
        500,
        'the metrics could not be collected: the source is gone\n',
      ]);
    } finally {
      await other.close();
    }
  });

  it('refuses a port in use, naming it and the setting', async () => {
    await expect(serveMetrics(registry, { port: server.port })).rejects.toThrow(
      `cannot serve metrics on port ${server.port} (metrics.port, PORTFOLIO_METRICS_PORT): the port is in use; choose another, or 0 to turn the metrics port off`,
    );
  });
});

describe('SeriesCache', () => {
  it('keeps the series made for a key, and makes each once', () => {
    const cache = new SeriesCache<{ key: string }>();
    let made = 0;
    const find = (key: string) =>
      cache.get(key) ?? cache.add(key, { key: `${key}#${++made}` });

    expect([find('a'), find('b'), find('a')]).toEqual([
      { key: 'a#1' },
      { key: 'b#2' },
      { key: 'a#1' },
    ]);
    expect(cache.size).toBe(2);
  });
});
