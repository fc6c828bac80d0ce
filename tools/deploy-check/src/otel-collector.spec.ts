import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

import { loadCompose, serviceEnv } from './lib/compose';
import { PATHS } from './lib/repo';

type Section = Record<string, Record<string, unknown> | null>;

interface CollectorConfig {
  readonly receivers: Section;
  readonly processors?: Section;
  readonly exporters: Section;
  readonly extensions?: Section;
  readonly service: {
    readonly extensions?: readonly string[];
    readonly pipelines: Record<
      string,
      {
        readonly receivers: readonly string[];
        readonly processors?: readonly string[];
        readonly exporters: readonly string[];
      }
    >;
  };
}

const config = parse(
  readFileSync(PATHS.otelCollector, 'utf8'),
) as CollectorConfig;
const { file } = loadCompose(PATHS.compose, {
  PORTFOLIO_ADMIN_KEY: 'deploy-check-admin-key-0123456789',
});

describe('deploy/otel-collector/config.yaml', () => {
  it('receives OTLP over gRPC and HTTP from other containers', () => {
    expect(config.receivers['otlp']).toEqual({
      protocols: {
        grpc: { endpoint: '0.0.0.0:4317' },
        http: { endpoint: '0.0.0.0:4318' },
      },
    });
  });

  it('defines what its pipelines use, and uses what it defines', () => {
    const pipelines = Object.values(config.service.pipelines);
    const used = {
      receivers: pipelines.flatMap((p) => p.receivers),
      processors: pipelines.flatMap((p) => p.processors ?? []),
      exporters: pipelines.flatMap((p) => p.exporters),
      extensions: [...(config.service.extensions ?? [])],
    };
    for (const kind of Object.keys(used) as (keyof typeof used)[]) {
      const defined = Object.keys(config[kind] ?? {}).sort();
      expect([...new Set(used[kind])].sort()).toEqual(defined);
    }
    expect(Object.keys(config.service.pipelines)).toEqual(['traces']);
  });

  it('limits its memory first and batches last', () => {
    const processors = config.service.pipelines['traces'].processors ?? [];
    expect(processors[0]).toBe('memory_limiter');
    expect(processors[processors.length - 1]).toBe('batch');
  });

  it("sends traces to the compose stack's Jaeger, over OTLP", () => {
    const exporters = config.service.pipelines['traces'].exporters;
    expect(exporters).toHaveLength(1);
    const exporter = config.exporters[exporters[0]] as {
      endpoint: string;
      tls?: { insecure?: boolean };
    };
    expect(exporters[0]).toMatch(/^otlp(\/|$)/);
    const [host, port] = exporter.endpoint.split(':');
    expect(file.services[host]).toBeDefined();
    expect(port).toBe('4317');
    expect(serviceEnv(file.services[host])['COLLECTOR_OTLP_ENABLED']).toBe(
      'true',
    );
    expect(exporter.tls?.insecure).toBe(true);
  });

  it('answers health probes from outside its container', () => {
    expect(config.extensions?.['health_check']).toEqual({
      endpoint: '0.0.0.0:13133',
    });
  });
});
