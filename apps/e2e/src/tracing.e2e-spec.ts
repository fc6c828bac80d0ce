import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  AppProcess,
  buildMlpModel,
  freePort,
  makeTempDir,
  PortfolioCluster,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { http, useKey } from './http.testing';
import {
  describeTrace,
  OtlpReceiver,
  ReceivedSpan,
} from './otlp-receiver.testing';

const ADMIN_KEY = 'tracing-admin-key-0123456789';
const RUNTIME = 'runtime-t';
const SERVER = 2;
const INTERNAL = 1;

/**
 * One trace across processes: the distributed topology exports its spans with the
 * standard OTEL_* variables to a collector this test runs (OTLP over HTTP, JSON), and
 * one prediction of a model that no runtime holds yet (a miss that loads) must come
 * back as one trace: the gateway's HTTP span, the cache-manager's placement, the
 * runtime's load and inference, each in the process that did it, parented as the
 * calls went.
 */
describe('tracing across the distributed topology', () => {
  const receiver = new OtlpReceiver();
  let cluster: PortfolioCluster;

  beforeAll(async () => {
    await receiver.start();
    cluster = new PortfolioCluster({
      adminKey: ADMIN_KEY,
      runtimes: [RUNTIME],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    await cluster.start();
    useKey(cluster.url, ADMIN_KEY);
    await cluster.waitUntilHealthy(1);
    const created = await http(`${cluster.url}/admin/models`, {
      json: { id: 'traced', format: 'onnx' },
    });
    expect(created.status).toBe(201);
    const version = await http(`${cluster.url}/admin/models/traced/versions`, {
      body: buildMlpModel({
        inputSize: 4,
        hidden: [8],
        outputSize: 3,
        seed: 3,
      }),
    });
    expect(version.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await receiver.stop();
  });

  /** The trace of the HTTP request with this X-Request-Id, once `complete` says it is. */
  async function traceOf(
    requestId: string,
    complete: (spans: ReceivedSpan[]) => boolean,
  ): Promise<ReceivedSpan[]> {
    return eventually(`the trace of request ${requestId}`, async () => {
      const root = receiver.spans.find(
        (s) => s.attributes['portfolio.request_id'] === requestId,
      );
      if (!root) return null;
      const spans = receiver.trace(root.traceId);
      return complete(spans) ? spans : null;
    });
  }

  const predict = (requestId: string) =>
    fetch(`${cluster.url}/v1/models/traced/predict`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${ADMIN_KEY}`,
        'Content-Type': 'application/json',
        'X-Request-Id': requestId,
      },
      body: JSON.stringify({ inputs: { x: [[1, 2, 3, 4]] } }),
    });

  it('follows a prediction that loads the model from the gateway through the cache-manager into the runtime', async () => {
    const res = await predict('trace-miss');
    expect(res.status).toBe(200);

    const spans = await traceOf('trace-miss', (s) =>
      ['model.infer', 'model.load', 'cache.place'].every((n) =>
        s.some((x) => x.name === n),
      ),
    );
    const tree = describeTrace(spans);
    const one = (service: string, name: string): ReceivedSpan => {
      const found = spans.filter(
        (s) => s.service === service && s.name === name,
      );
      if (found.length !== 1)
        throw new Error(
          `expected one ${service}: ${name} in the trace, found ${found.length}:\n${tree}`,
        );
      return found[0];
    };
    const parentOf = (span: ReceivedSpan) =>
      spans.find((s) => s.spanId === span.parentSpanId);

    const http = one('portfolio-gateway', 'POST /v1/models/:modelId/predict');
    const ensure = one('portfolio-cache-manager', 'cache.ensure.v1');
    const place = one('portfolio-cache-manager', 'cache.place');
    const loadCall = one('portfolio-runtime', 'runtime.<target>.load.v1');
    const load = one('portfolio-runtime', 'model.load');
    const inferCall = one('portfolio-runtime', 'runtime.<target>.infer.v1');
    const infer = one('portfolio-runtime', 'model.infer');

    // The gateway's server span is the root; the rest hangs off it as the calls went.
    expect(http.parentSpanId).toBe('');
    expect(http.kind).toBe(SERVER);
    expect(http.attributes).toMatchObject({
      'http.route': '/v1/models/:modelId/predict',
      'http.request.method': 'POST',
      'http.response.status_code': 200,
    });
    expect(parentOf(ensure)).toBe(http);
    expect(ensure.kind).toBe(SERVER);
    expect(parentOf(place)).toBe(ensure);
    // The placement asks the registry for the version's record (the gateway may too).
    expect(
      spans.filter(
        (s) =>
          s.service === 'portfolio-model-registry' &&
          s.name === 'registry.version.resolve.v1' &&
          parentOf(s) === place,
      ),
    ).toHaveLength(1);
    expect(parentOf(loadCall)).toBe(place);
    expect(parentOf(load)).toBe(loadCall);
    expect(parentOf(inferCall)).toBe(http);
    expect(parentOf(infer)).toBe(inferCall);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);

    expect(place.kind).toBe(INTERNAL);
    expect(place.attributes).toMatchObject({
      'portfolio.model.id': 'traced',
      'portfolio.model.version': 1,
      'portfolio.load.reason': 'miss',
      'portfolio.node.id': RUNTIME,
      'portfolio.load.loaded_now': true,
    });
    expect(load.attributes).toMatchObject({
      'portfolio.model.id': 'traced',
      'portfolio.model.version': 1,
      'portfolio.model.format': 'onnx',
      'portfolio.node.id': RUNTIME,
    });
    expect(load.attributes['portfolio.model.size_bytes']).toBeGreaterThan(0);
    expect(load.attributes['portfolio.model.memory_bytes']).toBeGreaterThan(0);
    expect(infer.attributes).toMatchObject({
      'portfolio.model.id': 'traced',
      'portfolio.model.version': 1,
      'portfolio.batch.size': 1,
    });
    expect(infer.events.map((e) => e.name)).toContain('run started');
    expect(spans.every((s) => s.statusCode !== 2)).toBe(true);

    // The runtime's log line for the load is in the same trace.
    const loadedLine = cluster
      .service(RUNTIME)
      .logRecords()
      .find((r) => String(r['message']).startsWith('loaded traced@1'));
    expect(loadedLine).toMatchObject({
      service: 'runtime',
      node_id: RUNTIME,
      trace_id: http.traceId,
    });
  });

  it('traces a prediction of a model already loaded as its own trace, without the cache-manager', async () => {
    const res = await predict('trace-hit');
    expect(res.status).toBe(200);

    const spans = await traceOf('trace-hit', (s) =>
      s.some((x) => x.name === 'model.infer'),
    );
    expect(spans.map((s) => `${s.service}: ${s.name}`).sort()).toEqual([
      'portfolio-gateway: POST /v1/models/:modelId/predict',
      'portfolio-runtime: model.infer',
      'portfolio-runtime: runtime.<target>.infer.v1',
    ]);
    const miss = receiver.spans.find(
      (s) => s.attributes['portfolio.request_id'] === 'trace-miss',
    );
    expect(spans[0].traceId).not.toBe(miss?.traceId);
  });

  it('records a refused request in its server span: the status the gateway answered', async () => {
    const res = await fetch(`${cluster.url}/v1/models/nowhere/predict`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${ADMIN_KEY}`,
        'Content-Type': 'application/json',
        'X-Request-Id': 'trace-404',
      },
      body: JSON.stringify({ inputs: { x: [[1, 2, 3, 4]] } }),
    });
    expect(res.status).toBe(404);
    const spans = await traceOf('trace-404', () => true);
    const root = spans.find((s) => s.parentSpanId === '');
    expect(root?.attributes['http.response.status_code']).toBe(404);
  });
});

/**
 * The standalone app: every service in one process over the in-process bus, whose
 * messages carry the trace context in their headers as NATS messages do. The same
 * prediction gives the same trace, every span from the one process.
 */
describe('tracing in the standalone app', () => {
  const receiver = new OtlpReceiver();
  let app: AppProcess;
  let url = '';

  beforeAll(async () => {
    await receiver.start();
    const dir = makeTempDir('tracing-standalone');
    const port = await freePort();
    const configFile = join(dir, 'portfolio.yaml');
    writeFileSync(
      configFile,
      [
        `data_dir: ${join(dir, 'data')}`,
        'gateway:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        `  admin_key: ${ADMIN_KEY}`,
        '',
      ].join('\n'),
    );
    app = new AppProcess({
      name: 'portfolio',
      app: 'portfolio',
      args: ['--config', configFile],
      env: {
        MALLOC_MMAP_THRESHOLD_: '131072',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: 'portfolio-standalone',
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
    expect(
      (
        await http(`${url}/admin/models`, {
          json: { id: 'solo', format: 'onnx' },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await http(`${url}/admin/models/solo/versions`, {
          body: buildMlpModel({
            inputSize: 2,
            hidden: [4],
            outputSize: 2,
            seed: 5,
          }),
        })
      ).status,
    ).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await receiver.stop();
  });

  it('gives one trace for a prediction that loads, named by OTEL_SERVICE_NAME', async () => {
    const res = await fetch(`${url}/v1/models/solo/predict`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${ADMIN_KEY}`,
        'Content-Type': 'application/json',
        'X-Request-Id': 'solo-miss',
      },
      body: JSON.stringify({ inputs: { x: [[1, 2]] } }),
    });
    expect(res.status).toBe(200);

    const spans = await eventually('the standalone trace', async () => {
      const root = receiver.spans.find(
        (s) => s.attributes['portfolio.request_id'] === 'solo-miss',
      );
      const trace = root ? receiver.trace(root.traceId) : [];
      return trace.some((s) => s.name === 'model.infer') &&
        trace.some((s) => s.name === 'model.load')
        ? trace
        : null;
    });
    const tree = describeTrace(spans);
    expect(new Set(spans.map((s) => s.service))).toEqual(
      new Set(['portfolio-standalone']),
    );
    const byName = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      if (found.length !== 1)
        throw new Error(
          `expected one ${name}, found ${found.length}:\n${tree}`,
        );
      return found[0];
    };
    const parentName = (name: string) =>
      spans.find((s) => s.spanId === byName(name).parentSpanId)?.name;
    expect(byName('POST /v1/models/:modelId/predict').parentSpanId).toBe('');
    expect(parentName('cache.ensure.v1')).toBe(
      'POST /v1/models/:modelId/predict',
    );
    expect(parentName('cache.place')).toBe('cache.ensure.v1');
    expect(parentName('runtime.<target>.load.v1')).toBe('cache.place');
    expect(parentName('model.load')).toBe('runtime.<target>.load.v1');
    expect(parentName('runtime.<target>.infer.v1')).toBe(
      'POST /v1/models/:modelId/predict',
    );
    expect(parentName('model.infer')).toBe('runtime.<target>.infer.v1');
  });
});
