import {
  ConfigError,
  ENV_VARS,
  loadConfig,
  type PortfolioConfig,
} from '@portfolio/config';
import { tracingSettingsFromEnv } from '@portfolio/telemetry';

/** The apps of the distributed topology (their Dockerfile targets and image names). */
export type AppName =
  | 'gateway'
  | 'model-registry'
  | 'storage'
  | 'cache-manager'
  | 'runtime';

/** The apps without HTTP: a NATS ping is their health check, metrics.port their metrics. */
export const BUS_APPS: readonly AppName[] = [
  'model-registry',
  'storage',
  'cache-manager',
  'runtime',
];

const ALL = 'every app';

/**
 * Variables an app's container may hold besides PORTFOLIO_* ones, who reads each, and
 * which apps: anything else in a container's environment is a mistake (a typo, or a
 * setting no one reads).
 */
export const FOREIGN_ENV: Readonly<
  Record<
    string,
    { readonly apps: readonly AppName[] | typeof ALL; readonly reader: string }
  >
> = {
  NODE_ENV: { apps: ALL, reader: 'Node libraries (the image sets production)' },
  MALLOC_MMAP_THRESHOLD_: {
    apps: ['runtime', 'storage'],
    reader: 'glibc: freed model memory goes back to the OS',
  },
  AWS_ACCESS_KEY_ID: {
    apps: ['storage', 'runtime'],
    reader: 'the AWS SDK (S3 driver)',
  },
  AWS_SECRET_ACCESS_KEY: {
    apps: ['storage', 'runtime'],
    reader: 'the AWS SDK (S3 driver)',
  },
  AWS_REGION: {
    apps: ['storage', 'runtime'],
    reader: 'the AWS SDK (S3 driver)',
  },
  OTEL_SERVICE_NAME: { apps: ALL, reader: 'tracing (@portfolio/telemetry)' },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    apps: ALL,
    reader: 'tracing (@portfolio/telemetry)',
  },
  OTEL_RESOURCE_ATTRIBUTES: {
    apps: ALL,
    reader: 'tracing (@portfolio/telemetry)',
  },
};

const KNOWN_PORTFOLIO = new Set(ENV_VARS.map((v) => v.name));
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface AppCheck {
  /** The configuration the app would start with; null when it would refuse to start. */
  readonly config: PortfolioConfig | null;
  readonly problems: readonly string[];
}

/**
 * What `app` would make of `env` (its whole environment: the image's ENV and the
 * deployment's variables): each variable is one it reads, its configuration loads as it
 * would at start (the apps read PORTFOLIO_* with loadConfig, refusing unknown names and
 * bad values), and what it needs beyond the defaults is there.
 */
export function checkAppEnv(
  app: AppName,
  env: Readonly<Record<string, string>>,
  where: string,
): AppCheck {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${where}: ${what}`);

  for (const name of Object.keys(env)) {
    if (name.startsWith('PORTFOLIO_')) {
      if (!KNOWN_PORTFOLIO.has(name))
        say(`${name} is not a variable the apps read (libs/config ENV_VARS)`);
      continue;
    }
    const foreign = FOREIGN_ENV[name];
    if (!foreign) say(`${name} is read by no Portfolio app`);
    else if (foreign.apps !== ALL && !foreign.apps.includes(app))
      say(`${name} (${foreign.reader}) is not for the ${app}`);
  }

  let config: PortfolioConfig | null = null;
  try {
    config = loadConfig({ file: null, env, cwd: '/app' });
  } catch (e) {
    say(
      e instanceof ConfigError
        ? `the ${app} would refuse to start: ${e.message}`
        : `loading the configuration failed: ${String(e)}`,
    );
  }

  if (env['OTEL_SERVICE_NAME'] !== app)
    say(`OTEL_SERVICE_NAME is "${env['OTEL_SERVICE_NAME']}", not "${app}"`);
  if (env['OTEL_EXPORTER_OTLP_ENDPOINT'] !== undefined) {
    const tracing = tracingSettingsFromEnv(env);
    if (tracing.exporter !== 'otlp' || tracing.warning)
      say(
        `OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing would not export over OTLP (${tracing.warning ?? tracing.exporter})`,
      );
  }
  if (!config) return { config, problems };

  if (app === 'model-registry' && !config.database.url)
    say('the model-registry needs PORTFOLIO_DATABASE_URL');
  if (app === 'storage' || app === 'runtime') {
    const s = config.storage;
    if (s.driver === 's3') {
      if (!s.s3.bucket) say('the S3 driver needs PORTFOLIO_STORAGE_S3_BUCKET');
      if (!s.s3.region && !env['AWS_REGION'])
        say(
          'the S3 driver needs a region (PORTFOLIO_STORAGE_S3_REGION or AWS_REGION)',
        );
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
        if (!env[key]) say(`the S3 driver's credentials need ${key}`);
    }
  }
  if (app === 'runtime') {
    // Without it the node id comes from the host name, which a container gets anew.
    const nodeId = env['PORTFOLIO_RUNTIME_NODE_ID'];
    if (!nodeId || !NODE_ID.test(nodeId))
      say(
        `PORTFOLIO_RUNTIME_NODE_ID must be set to a node id (got "${nodeId}")`,
      );
    if (!env['MALLOC_MMAP_THRESHOLD_'])
      say(
        'MALLOC_MMAP_THRESHOLD_ is not set: the runtime warns and measures high',
      );
  }
  if (app === 'gateway') {
    if (config.auth.enabled && !config.gateway.adminKey)
      say('auth is on but PORTFOLIO_ADMIN_KEY is not set');
    if (config.gateway.port === 0)
      say('the gateway must listen on a fixed port');
  }
  if (BUS_APPS.includes(app) && config.metrics.port === 0)
    say(`metrics.port is 0: the ${app} would serve no metrics`);
  return { config, problems };
}
