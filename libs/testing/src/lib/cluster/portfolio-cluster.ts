import { freePort } from '../services/free-port';
import { makeTempDir } from '../services/temp-dir';
import { createTestDatabase, TestDatabase } from '../services/test-database';
import { testNatsUrl } from '../services/env';
import { uniqueSubjectPrefix } from '../services/unique-subject-prefix';
import { AppProcess } from './app-process';

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
}

/**
 * The distributed topology as separate processes: model-registry, storage,
 * cache-manager, N runtimes and the gateway, over the test run's NATS (own subject
 * prefix) and PostgreSQL (own database), with a shared artifact folder. This is
 * what docker-compose runs, minus the containers.
 */
export class PortfolioCluster {
  readonly services = new Map<string, AppProcess>();
  url = '';
  private database: TestDatabase | null = null;

  constructor(private readonly options: ClusterOptions = {}) {}

  get gatewayUrl(): string {
    return this.url;
  }

  service(name: string): AppProcess {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  async start(): Promise<void> {
    this.database = await createTestDatabase(
      'cluster',
      this.options.pgServerUrl,
    );
    const port = await freePort();
    const common: Record<string, string> = {
      PORTFOLIO_NATS_URL: this.options.natsUrl ?? testNatsUrl(),
      PORTFOLIO_NATS_SUBJECT_PREFIX: uniqueSubjectPrefix('cluster'),
      PORTFOLIO_DATABASE_URL: this.database.url,
      PORTFOLIO_STORAGE_LOCAL_ROOT: makeTempDir('cluster-artifacts'),
      PORTFOLIO_DATA_DIR: makeTempDir('cluster-data'),
      PORTFOLIO_CACHE_RUNTIME_TIMEOUT: '3s',
      PORTFOLIO_RUNTIME_HEARTBEAT_INTERVAL: '500ms',
      PORTFOLIO_LOG_LEVEL: 'info',
      ...(this.options.env ?? {}),
    };
    const define = (
      name: string,
      app: string,
      env: Record<string, string>,
      readyLine: string,
    ) =>
      this.services.set(
        name,
        new AppProcess({
          name,
          app,
          env: { ...common, ...env },
          nodeArgs: this.options.nodeArgs,
          readyLine,
        }),
      );

    define('model-registry', 'model-registry', {}, 'model-registry ready');
    define('storage', 'storage', {}, 'storage ready');
    define('cache-manager', 'cache-manager', {}, 'cache-manager ready');
    for (const nodeId of this.options.runtimes ?? ['runtime-a', 'runtime-b']) {
      define(
        nodeId,
        'runtime',
        {
          PORTFOLIO_RUNTIME_NODE_ID: nodeId,
          PORTFOLIO_RUNTIME_WORKERS: '1',
          PORTFOLIO_RUNTIME_MAX_MEMORY: this.options.runtimeMaxMemory ?? '1GiB',
          MALLOC_MMAP_THRESHOLD_: '131072',
        },
        'runtime ready',
      );
    }
    define(
      'gateway',
      'gateway',
      {
        PORTFOLIO_GATEWAY_HOST: '127.0.0.1',
        PORTFOLIO_GATEWAY_PORT: String(port),
        ...(this.options.adminKey
          ? { PORTFOLIO_ADMIN_KEY: this.options.adminKey }
          : {}),
      },
      'gateway ready',
    );

    try {
      await Promise.all([...this.services.values()].map((s) => s.start()));
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.url = `http://127.0.0.1:${port}`;
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
