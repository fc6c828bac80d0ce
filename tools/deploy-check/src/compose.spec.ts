import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { resolve } from 'node:path';

import { parseDuration } from '@portfolio/config';
import { CLUSTER_APPS, clusterTopology } from '@portfolio/testing';

import { BUS_APPS, checkAppEnv, type AppName } from './lib/app-env';
import {
  dependencies,
  healthTest,
  loadCompose,
  mounts,
  publishedPorts,
  serviceEnv,
  type ComposeService,
} from './lib/compose';
import { isNumericNonRoot, parseDockerfile } from './lib/dockerfile';
import { PATHS, REPO } from './lib/repo';
import { parseDockerMemory } from './lib/sizes';

/** What `docker compose up` needs from the host: the one required variable. */
const HOST_ENV = { PORTFOLIO_ADMIN_KEY: 'deploy-check-admin-key-0123456789' };
const GIB = 1024 ** 3;

/** Long-running services without a healthcheck, and why (kept honest below). */
const NO_HEALTHCHECK: Readonly<Record<string, string>> = {
  'otel-collector':
    'the image holds the collector alone: no shell or HTTP client to run a check with',
};

/** The infrastructure the stack runs besides the apps. */
const INFRASTRUCTURE = [
  'nats',
  'postgres',
  'minio',
  'minio-init',
  'prometheus',
  'grafana',
  'otel-collector',
  'jaeger',
];

const { file, hostVariables, text } = loadCompose(PATHS.compose, HOST_ENV);
const services = file.services;
const dockerfile = parseDockerfile(readFileSync(PATHS.dockerfile, 'utf8'));
const healthcheckJs = readFileSync(PATHS.healthcheck, 'utf8');

interface AppService {
  readonly name: string;
  readonly service: ComposeService;
  readonly app: AppName;
  /** The container's whole environment: the image's ENV, then the service's. */
  readonly env: Readonly<Record<string, string>>;
}

/** The services built from the Dockerfile: Portfolio's apps. */
const apps: AppService[] = Object.entries(services)
  .filter(([, s]) => s.build)
  .map(([name, service]) => {
    const app = service.build?.target as AppName;
    const image = dockerfile.stages.has(app) ? dockerfile.image(app).env : {};
    return { name, service, app, env: { ...image, ...serviceEnv(service) } };
  });

/** Services others wait for until they complete: one-shot jobs. */
const oneShot = new Set(
  Object.values(services).flatMap((s) =>
    Object.entries(dependencies(s))
      .filter(([, condition]) => condition === 'service_completed_successfully')
      .map(([name]) => name),
  ),
);

function configOf(a: AppService) {
  const { config, problems } = checkAppEnv(a.app, a.env, a.name);
  if (!config) throw new Error(problems.join('\n'));
  return config;
}

/** host and port of a URL-valued setting. */
function endpoint(url: string): { host: string; port: string } {
  const u = new URL(url);
  const defaults: Record<string, string> = {
    'http:': '80',
    'nats:': '4222',
    'postgres:': '5432',
  };
  return { host: u.hostname, port: u.port || defaults[u.protocol] || '' };
}

describe('docker-compose.yml', () => {
  it('refuses to start without PORTFOLIO_ADMIN_KEY, saying so', () => {
    expect(() => loadCompose(PATHS.compose, {})).toThrow(
      'set PORTFOLIO_ADMIN_KEY (16+ characters)',
    );
  });

  it('documents every host variable it reads in its header', () => {
    const header = text.slice(0, text.search(/^[^#\s]/m));
    const undocumented = [...hostVariables].filter(
      (v) => !new RegExp(`^#\\s+${v}\\s`, 'm').test(header),
    );
    expect(undocumented).toEqual([]);
    expect(hostVariables.size).toBeGreaterThan(0);
  });

  it('runs the apps of the end-to-end topology, and the infrastructure', () => {
    const topology = clusterTopology({
      natsUrl: 'nats://127.0.0.1:4222',
      subjectPrefix: 'p',
      databaseUrl: 'postgres://127.0.0.1/p',
      artifactsDir: '/tmp/a',
      dataDir: '/tmp/d',
      gatewayHost: '127.0.0.1',
      gatewayPort: 8080,
      runtimes: ['r1', 'r2'],
      runtimeMaxMemory: '1GiB',
    });
    const composeApps = [...new Set(apps.map((a) => a.app))].sort();
    expect(composeApps).toEqual(
      [...new Set(topology.map((s) => s.app))].sort(),
    );
    expect(composeApps).toEqual([...CLUSTER_APPS].sort());
    expect(apps.filter((a) => a.app === 'runtime').length).toBeGreaterThan(1);
    expect(Object.keys(services).sort()).toEqual(
      [...apps.map((a) => a.name), ...INFRASTRUCTURE].sort(),
    );
  });

  it('gives no service capabilities or a way to gain privileges', () => {
    const loose = Object.entries(services)
      .filter(
        ([, s]) =>
          JSON.stringify(s.cap_drop) !== '["ALL"]' ||
          !(s.security_opt ?? []).includes('no-new-privileges:true') ||
          ['root', '0', '0:0'].includes(String(s.user)),
      )
      .map(([name]) => name);
    expect(loose).toEqual([]);
  });

  it('pins every image it pulls to a version, and names the images it builds after their target', () => {
    const problems = Object.entries(services).flatMap(([name, s]) => {
      if (s.build)
        return s.image === `portfolio-${s.build.target}:local`
          ? []
          : [`${name}: built image is ${s.image}`];
      const tag = /:([^:/]+)$/.exec(s.image ?? '')?.[1] ?? '';
      return /^(v?\d+\.\d+|RELEASE\.\d{4}-)/.test(tag)
        ? []
        : [`${name}: ${s.image} is not pinned to a version`];
    });
    expect(problems).toEqual([]);
  });

  it('checks the health of every long-running service; one-shot jobs run once', () => {
    const problems = Object.entries(services).flatMap(([name, s]) => {
      const hasCheck = healthTest(s) !== null;
      if (oneShot.has(name))
        return s.restart === 'no' ? [] : [`${name}: a one-shot job restarts`];
      if (name in NO_HEALTHCHECK)
        return hasCheck
          ? [`${name} has a healthcheck now: drop it from NO_HEALTHCHECK`]
          : [];
      return hasCheck ? [] : [`${name} has no healthcheck`];
    });
    expect(problems).toEqual([]);
    expect([...oneShot]).toEqual(['minio-init']);
  });

  it('starts each service once what it depends on is healthy (or, for a job, done)', () => {
    const problems = Object.entries(services).flatMap(([name, s]) =>
      Object.entries(dependencies(s)).flatMap(([dep, condition]) => {
        const target = services[dep];
        if (!target) return [`${name} depends on ${dep}, which is no service`];
        const expected = oneShot.has(dep)
          ? 'service_completed_successfully'
          : 'service_healthy';
        if (!oneShot.has(dep) && healthTest(target) === null)
          return [`${name} depends on ${dep}, which has no healthcheck`];
        return condition === expected
          ? []
          : [`${name} waits for ${dep} with ${condition}, not ${expected}`];
      }),
    );
    expect(problems).toEqual([]);

    // No cycles: every service can be started after its dependencies.
    const started = new Set<string>();
    let progress = true;
    while (progress) {
      progress = false;
      for (const [name, s] of Object.entries(services))
        if (
          !started.has(name) &&
          Object.keys(dependencies(s)).every((d) => started.has(d))
        ) {
          started.add(name);
          progress = true;
        }
    }
    expect(Object.keys(services).filter((n) => !started.has(n))).toEqual([]);
  });

  describe('the apps', () => {
    it('build the Dockerfile target of their app, which runs as a non-root user', () => {
      const problems = apps.flatMap(({ name, service, app }) => {
        const b = service.build ?? {};
        const out: string[] = [];
        if (b.context !== '.' || b.dockerfile !== 'deploy/docker/Dockerfile')
          out.push(`${name}: builds ${b.context}/${b.dockerfile}`);
        if (!dockerfile.stages.has(app))
          return [...out, `${name}: no Dockerfile stage ${app}`];
        if (b.args?.['APP'] !== app)
          out.push(`${name}: APP=${b.args?.['APP']} for target ${app}`);
        if (!existsSync(resolve(PATHS.apps, app, 'project.json')))
          out.push(`${name}: there is no app apps/${app}`);
        const image = dockerfile.image(app);
        if (!isNumericNonRoot(image.user))
          out.push(`${name}: the image runs as ${image.user}`);
        if (service.user !== undefined)
          out.push(`${name}: overrides the image's user with ${service.user}`);
        // The image's own command: node main.js under tini.
        if (service.command !== undefined || service.entrypoint !== undefined)
          out.push(`${name}: overrides the image's command`);
        if (JSON.stringify(image.cmd) !== '["node","main.js"]')
          out.push(`${name}: the image's CMD is ${JSON.stringify(image.cmd)}`);
        return out;
      });
      expect(problems).toEqual([]);
    });

    it('set only variables the apps read, and everything each app needs to start', () => {
      expect(
        apps.flatMap((a) => checkAppEnv(a.app, a.env, a.name).problems),
      ).toEqual([]);
    });

    it('give every runtime its own node id', () => {
      const ids = apps
        .filter((a) => a.app === 'runtime')
        .map((a) => a.env['PORTFOLIO_RUNTIME_NODE_ID']);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('wait for the servers their settings name', () => {
      const problems = apps.flatMap((a) => {
        const deps = dependencies(a.service);
        return [
          'PORTFOLIO_NATS_URL',
          'PORTFOLIO_DATABASE_URL',
          'PORTFOLIO_STORAGE_S3_ENDPOINT',
        ]
          .filter((v) => a.env[v])
          .flatMap((v) => {
            const { host } = endpoint(a.env[v]);
            if (!services[host])
              return [`${a.name}: ${v} names ${host}, no service`];
            return deps[host]
              ? []
              : [`${a.name} does not wait for ${host} (${v})`];
          });
      });
      expect(problems).toEqual([]);
      // And what makes the bucket.
      for (const a of apps.filter(
        (x) => x.app === 'storage' || x.app === 'runtime',
      ))
        expect(dependencies(a.service)['minio-init']).toBe(
          'service_completed_successfully',
        );
    });

    it("check their health with the image's healthcheck.js, within its time", () => {
      const scriptMs = Number(
        /const TIMEOUT_MS = (\d+)/.exec(healthcheckJs)?.[1],
      );
      expect(scriptMs).toBeGreaterThan(0);
      expect(readFileSync(PATHS.dockerfile, 'utf8')).toMatch(
        /^COPY deploy\/docker\/healthcheck\.js \.\/healthcheck\.js$/m,
      );
      const problems = apps.flatMap(({ name, service, app }) => {
        const test = healthTest(service);
        const expected = BUS_APPS.includes(app)
          ? ['CMD', 'node', '/app/healthcheck.js']
          : ['CMD', 'node', '/app/healthcheck.js', app];
        const out: string[] = [];
        if (JSON.stringify(test) !== JSON.stringify(expected))
          out.push(`${name}: healthcheck ${JSON.stringify(test)}`);
        // healthcheck.js pings the app it finds in package.json (the webpack build names it).
        if (
          BUS_APPS.includes(app) &&
          !new RegExp(`^\\s*'?${app}'?: \\(prefix`, 'm').test(healthcheckJs)
        )
          out.push(`${name}: healthcheck.js has no ping for ${app}`);
        const timeout = parseDuration(service.healthcheck?.timeout ?? '30s');
        if (timeout <= scriptMs)
          out.push(
            `${name}: healthcheck timeout ${timeout} ms <= the script's ${scriptMs} ms`,
          );
        return out;
      });
      expect(problems).toEqual([]);
    });

    it('publish only the gateway, on the port it listens on; the consoles on 127.0.0.1', () => {
      const gateway = apps.find((a) => a.app === 'gateway');
      if (!gateway) throw new Error('no gateway');
      expect(publishedPorts(gateway.service)).toEqual([
        {
          hostIp: '',
          hostPort: String(configOf(gateway).gateway.port),
          containerPort: String(configOf(gateway).gateway.port),
        },
      ]);
      const open = Object.entries(services)
        .filter(([name]) => name !== gateway.name)
        .flatMap(([name, s]) =>
          publishedPorts(s)
            .filter((p) => p.hostIp !== '127.0.0.1')
            .map((p) => `${name}: ${p.hostPort}`),
        );
      expect(open).toEqual([]);
    });

    it("declare each bus service's metrics port", () => {
      const problems = apps
        .filter((a) => BUS_APPS.includes(a.app))
        .flatMap((a) => {
          const port = String(configOf(a).metrics.port);
          return (a.service.expose ?? []).map(String).includes(port)
            ? []
            : [`${a.name} does not expose its metrics port ${port}`];
        });
      expect(problems).toEqual([]);
    });

    it('give runtimes and storage a memory limit of their model budget plus 1 GiB or more', () => {
      const problems = apps
        .filter((a) => a.app === 'runtime' || a.app === 'storage')
        .flatMap((a) => {
          const config = configOf(a);
          const budget =
            a.app === 'runtime'
              ? config.runtime.maxMemoryBytes
              : config.storage.trialLoad.maxMemoryBytes;
          const limit = a.service.deploy?.resources?.limits?.memory;
          if (limit === undefined) return [`${a.name} has no memory limit`];
          const bytes = parseDockerMemory(limit);
          return bytes - budget >= GIB
            ? []
            : [
                `${a.name}: limit ${limit} leaves ${(bytes - budget) / GIB} GiB over its ${budget / GIB} GiB budget`,
              ];
        });
      expect(problems).toEqual([]);
    });

    it('have storage and every runtime use one store: the bucket MinIO serves', () => {
      const stores = apps
        .filter((a) => a.app === 'storage' || a.app === 'runtime')
        .map((a) => ({
          storage: configOf(a).storage,
          keys: [a.env['AWS_ACCESS_KEY_ID'], a.env['AWS_SECRET_ACCESS_KEY']],
        }));
      for (const s of stores) {
        expect(s.storage.driver).toBe(stores[0].storage.driver);
        expect(s.storage.s3).toEqual(stores[0].storage.s3);
        expect(s.keys).toEqual(stores[0].keys);
      }
      const { s3 } = stores[0].storage;
      expect(stores[0].storage.driver).toBe('s3');
      expect(s3.forcePathStyle).toBe(true);
      expect(endpoint(s3.endpoint ?? '')).toEqual({
        host: 'minio',
        port: '9000',
      });
      const minio = serviceEnv(services['minio']);
      expect(stores[0].keys).toEqual([
        minio['MINIO_ROOT_USER'],
        minio['MINIO_ROOT_PASSWORD'],
      ]);
      // MinIO's API listens on its default, 9000, and the job makes that bucket.
      expect(services['minio'].command).toEqual([
        'server',
        '/data',
        '--console-address',
        ':9001',
      ]);
      expect(serviceEnv(services['minio-init'])['BUCKET']).toBe(s3.bucket);
      expect(String(services['minio-init'].command)).toMatch(
        /mc alias set stack http:\/\/minio:9000 .*&& mc mb --ignore-existing "stack\/\$BUCKET"/,
      );
    });

    it("have the registry use the postgres service's database and credentials", () => {
      const registry = apps.find((a) => a.app === 'model-registry');
      if (!registry) throw new Error('no model-registry');
      const url = new URL(configOf(registry).database.url ?? '');
      const pg = serviceEnv(services['postgres']);
      expect({
        host: url.hostname,
        port: url.port,
        user: url.username,
        password: decodeURIComponent(url.password),
        db: url.pathname.slice(1),
      }).toEqual({
        host: 'postgres',
        port: '5432',
        user: pg['POSTGRES_USER'],
        password: pg['POSTGRES_PASSWORD'],
        db: pg['POSTGRES_DB'],
      });
    });

    it('reach NATS with JetStream (the gateways share rate limits in its key-value store)', () => {
      for (const a of apps)
        expect(endpoint(configOf(a).nats.url)).toEqual({
          host: 'nats',
          port: '4222',
        });
      expect(services['nats'].command).toContain('--jetstream');
    });

    it('send traces to the collector, which receives OTLP over HTTP there', () => {
      const collector = services['otel-collector'];
      const config = mounts(collector).find(
        (m) => m.target === '/etc/otelcol/config.yaml',
      );
      expect(collector.command).toEqual(['--config=/etc/otelcol/config.yaml']);
      expect(resolve(REPO, config?.source ?? '')).toBe(PATHS.otelCollector);
      const httpReceiver = /http:\s*\n\s*endpoint: 0\.0\.0\.0:(\d+)/.exec(
        readFileSync(PATHS.otelCollector, 'utf8'),
      )?.[1];
      for (const a of apps)
        expect(endpoint(a.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '')).toEqual({
          host: 'otel-collector',
          port: httpReceiver,
        });
    });
  });

  describe('the observability services', () => {
    const prometheusDir = mounts(services['prometheus']).find(
      (m) => m.target === '/etc/prometheus',
    );
    const prometheusYml = parseYaml(
      readFileSync(
        resolve(REPO, prometheusDir?.source ?? '', 'prometheus.yml'),
        'utf8',
      ),
    ) as {
      rule_files?: string[];
      scrape_configs: { static_configs?: { targets: string[] }[] }[];
    };

    it('have Prometheus scrape every app on its metrics port, and only services of the stack', () => {
      expect(services['prometheus'].command).toContain(
        '--config.file=/etc/prometheus/prometheus.yml',
      );
      const targets = prometheusYml.scrape_configs.flatMap((j) =>
        (j.static_configs ?? []).flatMap((c) => c.targets),
      );
      const expected = apps.map((a) => {
        const config = configOf(a);
        const port =
          a.app === 'gateway' ? config.gateway.port : config.metrics.port;
        return `${a.name}:${port}`;
      });
      expect(expected.filter((t) => !targets.includes(t))).toEqual([]);
      expect(targets.filter((t) => !services[t.split(':')[0]])).toEqual([]);
    });

    it("give Prometheus the gateway's metrics key where its scrape config reads it", () => {
      const files = (
        prometheusYml.scrape_configs as {
          authorization?: { credentials_file?: string };
        }[]
      )
        .map((j) => j.authorization?.credentials_file)
        .filter((f): f is string => f !== undefined);
      expect(files.length).toBeGreaterThan(0);
      const declared = file.secrets ?? {};
      const mounted = (
        (services['prometheus'] as { secrets?: string[] }).secrets ?? []
      ).map((name) => `/run/secrets/${name}`);
      for (const f of files) {
        expect(mounted).toContain(f);
        const source = declared[f.slice('/run/secrets/'.length)];
        expect(source?.environment ?? source?.file).toBeDefined();
      }
    });

    it('have Prometheus load rule files that are there', () => {
      const missing = (prometheusYml.rule_files ?? []).filter(
        (f) => !existsSync(resolve(REPO, prometheusDir?.source ?? '', f)),
      );
      expect(missing).toEqual([]);
    });

    it("have Grafana read the stack's Prometheus and the mounted dashboards", () => {
      const mounted = Object.fromEntries(
        mounts(services['grafana']).map((m) => [
          m.target,
          resolve(REPO, m.source),
        ]),
      );
      const provisioning = mounted['/etc/grafana/provisioning'];
      const read = (dir: string) =>
        readdirSync(resolve(provisioning, dir))
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) =>
            parseYaml(readFileSync(resolve(provisioning, dir, f), 'utf8')),
          );
      const urls = read('datasources').flatMap((d) =>
        (d as { datasources: { url: string }[] }).datasources.map((x) => x.url),
      );
      expect(urls.length).toBeGreaterThan(0);
      for (const url of urls) {
        const { host, port } = endpoint(url);
        expect(
          publishedPorts(services[host] ?? {}).map((p) => p.containerPort),
        ).toContain(port);
      }
      const paths = read('dashboards').flatMap((d) =>
        (d as { providers: { options: { path: string } }[] }).providers.map(
          (x) => x.options.path,
        ),
      );
      expect(paths.length).toBeGreaterThan(0);
      for (const path of paths)
        expect(mounted[path]).toBe(resolve(REPO, 'deploy/grafana/dashboards'));
    });
  });

  describe('volumes', () => {
    it('declares exactly the named volumes the services mount', () => {
      const used = new Set(
        Object.values(services).flatMap((s) =>
          mounts(s)
            .filter((m) => m.named)
            .map((m) => m.source),
        ),
      );
      expect([...used].sort()).toEqual(Object.keys(file.volumes ?? {}).sort());
    });

    it("mounts app volumes only where the image has a folder of the app's user", () => {
      const problems = apps.flatMap(({ name, app, service }) => {
        const prepared = dockerfile
          .image(app)
          .run.filter((r) => /chown -R node:node \/data\b/.test(r))
          .flatMap(
            (r) =>
              /mkdir -p ((?:\/data\S*\s*)+)/.exec(r)?.[1].trim().split(/\s+/) ??
              [],
          );
        return mounts(service)
          .filter((m) => m.named && !prepared.includes(m.target))
          .map(
            (m) =>
              `${name}: ${m.source} at ${m.target}, which the image does not prepare`,
          );
      });
      expect(problems).toEqual([]);
    });

    it('mounts files of the repository that exist, read-only', () => {
      const problems = Object.entries(services).flatMap(([name, s]) =>
        mounts(s)
          .filter((m) => !m.named)
          .flatMap((m) => [
            ...(existsSync(resolve(REPO, m.source))
              ? []
              : [`${name}: ${m.source} does not exist`]),
            ...(m.readOnly ? [] : [`${name}: ${m.source} is writable`]),
          ]),
      );
      expect(problems).toEqual([]);
    });

    it('gives each runtime an artifact cache of its own, where the runtime keeps it', () => {
      const runtimes = apps.filter((a) => a.app === 'runtime');
      const caches = runtimes.map((a) => {
        const dir = configOf(a).runtime.artifactCache.dir;
        return mounts(a.service).find((m) => m.named && m.target === dir)
          ?.source;
      });
      expect(caches.every((c) => c !== undefined)).toBe(true);
      expect(new Set(caches).size).toBe(runtimes.length);
    });
  });
});
