import { freePort } from '../services/free-port';
import { makeTempDir } from '../services/temp-dir';
import { createTestDatabase, TestDatabase } from '../services/test-database';
import { testNatsUrl } from '../services/env';
import { uniqueSubjectPrefix } from '../services/unique-subject-prefix';
import { AppProcess } from './app-process';

/**
 * The apps of the distributed topology, in start order. docker-compose.yml and
 * deploy/k8s run the same ones (tools/deploy-check compares them).
 */
export const CLUSTER_APPS = [
  'model-registry',
  'storage',
  'cache-manager',
  'runtime',
  'gateway',
] as const;
export type ClusterApp = (typeof CLUSTER_APPS)[number];

/** One process of the topology: what clusterTopology returns and start() runs. */
export interface ClusterService {
  /** Unique in the cluster: the app's name, or a runtime's node id. */
  readonly name: string;
  readonly app: ClusterApp;
  /** The process's whole environment besides PATH and HOME (see AppProcess). */
  readonly env: Readonly<Record<string, string>>;
  /** Printed by the app once it serves (run-service.ts's announceReady). */
  readonly readyLine: string;
}

/** Where the services meet: everything clusterTopology needs, resolved. */
export interface TopologySettings {
  readonly natsUrl: string;
  readonly subjectPrefix: string;
  /** The registry's database. */
  readonly databaseUrl: string;
  /** The local storage driver's root, shared by storage and every runtime. */
  readonly artifactsDir: string;
  readonly dataDir: string;
  readonly gatewayHost: string;
  readonly gatewayPort: number;
  /** Node ids, one runtime each. */
  readonly runtimes: readonly string[];
  readonly runtimeMaxMemory: string;
  readonly adminKey?: string;
  /** Extra variables for every service; they win over the topology's common ones. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * metrics.port by service name, for the services that serve their metrics on a port
   * of their own (not the gateway: /metrics is on its HTTP port). Services on one host
   * need one each; a service without one gets AppProcess's default, any free port.
   */
  readonly metricsPorts?: Readonly<Record<string, number>>;
}

/**
 * The distributed topology as processes: model-registry, storage, cache-manager, one
 * runtime per node id and the gateway, each with the PORTFOLIO_* variables it runs
 * with. Pure: PortfolioCluster.start() (the end-to-end tests, the benchmarks) and
 * tools/cluster (`npm run cluster`) both start exactly this.
 */
export function clusterTopology(settings: TopologySettings): ClusterService[] {
  const common: Record<string, string> = {
    PORTFOLIO_NATS_URL: settings.natsUrl,
    PORTFOLIO_NATS_SUBJECT_PREFIX: settings.subjectPrefix,
    PORTFOLIO_DATABASE_URL: settings.databaseUrl,
    PORTFOLIO_STORAGE_LOCAL_ROOT: settings.artifactsDir,
    PORTFOLIO_DATA_DIR: settings.dataDir,
    // Failover within seconds rather than the defaults' 10 s.
    PORTFOLIO_CACHE_RUNTIME_TIMEOUT: '3s',
    PORTFOLIO_RUNTIME_HEARTBEAT_INTERVAL: '500ms',
    PORTFOLIO_LOG_LEVEL: 'info',
    ...(settings.env ?? {}),
  };
  const service = (
    name: string,
    app: ClusterApp,
    env: Record<string, string> = {},
  ): ClusterService => {
    const metricsPort = settings.metricsPorts?.[name];
    return {
      name,
      app,
      env: {
        ...common,
        ...(metricsPort !== undefined
          ? { PORTFOLIO_METRICS_PORT: String(metricsPort) }
          : {}),
        ...env,
      },
      readyLine: `${app} ready`,
    };
  };
  return [
    service('model-registry', 'model-registry'),
    service('storage', 'storage'),
    service('cache-manager', 'cache-manager'),
    ...settings.runtimes.map((nodeId) =>
      service(nodeId, 'runtime', {
        PORTFOLIO_RUNTIME_NODE_ID: nodeId,
        PORTFOLIO_RUNTIME_WORKERS: '1',
        PORTFOLIO_RUNTIME_MAX_MEMORY: settings.runtimeMaxMemory,
        MALLOC_MMAP_THRESHOLD_: '131072',
      }),
    ),
    service('gateway', 'gateway', {
      PORTFOLIO_GATEWAY_HOST: settings.gatewayHost,
      PORTFOLIO_GATEWAY_PORT: String(settings.gatewayPort),
      ...(settings.adminKey ? { PORTFOLIO_ADMIN_KEY: settings.adminKey } : {}),
    }),
  ];
}

export interface ClusterOptions {
  /** Node ids of the runtimes to start (default: two). */
  readonly runtimes?: readonly string[];
  readonly adminKey?: string;
  readonly runtimeMaxMemory?: string;
  /** Extra PORTFOLIO_* variables for every service. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node's own options for every service (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** Servers of the cluster's own (fault tests restart them); default: the test run's. */
  readonly natsUrl?: string;
  readonly pgServerUrl?: string;
  /**
   * The registry's database, used as it is (never created or dropped). Default: a new
   * database on pgServerUrl (else the test run's server), dropped by stop().
   */
  readonly databaseUrl?: string;
  /** Default: a fresh prefix, so clusters sharing one NATS server never meet. */
  readonly subjectPrefix?: string;
  /** Default 127.0.0.1. */
  readonly gatewayHost?: string;
  /** Default: a free port. */
  readonly gatewayPort?: number;
  /** Defaults: fresh temporary folders. */
  readonly artifactsDir?: string;
  readonly dataDir?: string;
  /** Each chunk a service prints, as it comes (the services' output is kept either way). */
  readonly onOutput?: (service: string, text: string) => void;
}

/**
 * The distributed topology (clusterTopology) as separate processes, over the test
 * run's NATS (own subject prefix) and PostgreSQL (own database), with a shared
 * artifact folder. This is what docker-compose runs, minus the containers.
 */
export class PortfolioCluster {
  readonly services = new Map<string, AppProcess>();
  url = '';
  private database: Pick<TestDatabase, 'url' | 'drop'> | null = null;
  /** metrics.port of every service but the gateway, each a free port of its own. */
  private readonly metricsPorts: Record<string, number> = {};

  constructor(private readonly options: ClusterOptions = {}) {}

  get gatewayUrl(): string {
    return this.url;
  }

  service(name: string): AppProcess {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  /**
   * Where a service's Prometheus metrics are (after start): the gateway's `/metrics`,
   * or the metrics port each other service was given.
   */
  metricsUrl(name: string): string {
    if (name === 'gateway') return `${this.url}/metrics`;
    const port = this.metricsPorts[name];
    if (port === undefined) throw new Error(`no service ${name}`);
    return `http://127.0.0.1:${port}/metrics`;
  }

  async start(): Promise<void> {
    const o = this.options;
    this.database = o.databaseUrl
      ? { url: o.databaseUrl, drop: async () => undefined }
      : await createTestDatabase('cluster', o.pgServerUrl);
    const gatewayHost = o.gatewayHost ?? '127.0.0.1';
    const gatewayPort = o.gatewayPort ?? (await freePort());
    const runtimes = o.runtimes ?? ['runtime-a', 'runtime-b'];
    for (const name of [
      'model-registry',
      'storage',
      'cache-manager',
      ...runtimes,
    ])
      this.metricsPorts[name] = await freePort();
    const topology = clusterTopology({
      natsUrl: o.natsUrl ?? testNatsUrl(),
      subjectPrefix: o.subjectPrefix ?? uniqueSubjectPrefix('cluster'),
      databaseUrl: this.database.url,
      artifactsDir: o.artifactsDir ?? makeTempDir('cluster-artifacts'),
      dataDir: o.dataDir ?? makeTempDir('cluster-data'),
      gatewayHost,
      gatewayPort,
      runtimes,
      metricsPorts: this.metricsPorts,
      runtimeMaxMemory: o.runtimeMaxMemory ?? '1GiB',
      ...(o.adminKey ? { adminKey: o.adminKey } : {}),
      ...(o.env ? { env: o.env } : {}),
    });
    for (const { name, app, env, readyLine } of topology) {
      const onOutput = o.onOutput;
      this.services.set(
        name,
        new AppProcess({
          name,
          app,
          env,
          nodeArgs: o.nodeArgs,
          readyLine,
          ...(onOutput
            ? { onOutput: (text: string) => onOutput(name, text) }
            : {}),
        }),
      );
    }

    try {
      await Promise.all([...this.services.values()].map((s) => s.start()));
    } catch (e) {
      await this.stop();
      throw e;
    }
    const reachable = ['0.0.0.0', '::', ''].includes(gatewayHost)
      ? '127.0.0.1'
      : gatewayHost;
    this.url = `http://${reachable}:${gatewayPort}`;
  }

  /** Resolves once /v1/health says ok (every component up, every runtime reporting). */
  async waitUntilHealthy(runtimes: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/v1/health`);
        const body = (await res.json()) as {
          status: string;
          components: { runtimes: { alive: number } };
        };
        last = JSON.stringify(body);
        if (body.status === 'ok' && body.components.runtimes.alive >= runtimes)
          return;
      } catch (e) {
        last = String(e);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `the cluster did not become healthy: ${last}\n${this.logs()}`,
    );
  }

  logs(): string {
    return [...this.services.values()].map((s) => s.tail(30)).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.services.values()].map((s) => s.stop().catch(() => undefined)),
    );
    await this.database?.drop().catch(() => undefined);
    this.database = null;
  }
}
