/**
 * The distributed topology on this machine, as local processes: model-registry, storage,
 * cache-manager, N runtimes and the gateway, each `node dist/apps/<app>/main.js` with its
 * PORTFOLIO_* variables. It is the same definition the end-to-end tests start
 * (clusterTopology in @portfolio/testing) and the same services docker-compose.yml runs.
 *
 *   npm run cluster                              # builds the apps, then starts them
 *   npm run cluster -- --runtimes 3 --port 8090  # three runtimes, the gateway on 8090
 *   npm run cluster -- --quiet                   # no service logs, only the summary
 *
 * PostgreSQL and NATS: PORTFOLIO_DATABASE_URL (the registry's database, used as it is)
 * and PORTFOLIO_NATS_URL when set, otherwise throwaway servers (Debian's postgresql and
 * nats-server packages) that are deleted on exit. Every other PORTFOLIO_* variable of
 * this shell (and AWS_*, OTEL_*) reaches every service, so `PORTFOLIO_LOG_LEVEL=debug
 * npm run cluster` works; an unknown one stops the services with its name, as it would
 * stop a single app. Artifacts and data go under --data-dir (default data/cluster).
 * Ctrl-C stops everything (SIGTERM to each service, which drains; a second Ctrl-C does
 * not wait).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { prettyLogLine } from '@portfolio/telemetry';
import {
  PortfolioCluster,
  provisionServices,
  type ProvisionedServices,
} from '@portfolio/testing';

const USAGE = `usage: npm run cluster -- [options]

  --runtimes N             runtimes to start, node ids runtime-1..runtime-N (default 2)
  --host HOST              the gateway's address (default 127.0.0.1)
  --port PORT              the gateway's port (default 8080)
  --runtime-max-memory S   each runtime's memory for models (default 1GiB)
  --data-dir DIR           artifacts and data (default data/cluster)
  --quiet                  do not print the services' logs
  --help                   this text

Environment: PORTFOLIO_DATABASE_URL and PORTFOLIO_NATS_URL name servers to use (else
throwaway ones); PORTFOLIO_ADMIN_KEY the admin key (else a random one, printed); every
other PORTFOLIO_* variable goes to every service.`;

/** Variables of this shell the services get; the ones below are the tool's own. */
const FORWARDED = /^(PORTFOLIO_|AWS_|OTEL_)/;
const OWN = new Set([
  'PORTFOLIO_DATABASE_URL',
  'PORTFOLIO_NATS_URL',
  'PORTFOLIO_NATS_SUBJECT_PREFIX',
  'PORTFOLIO_ADMIN_KEY',
  'PORTFOLIO_DATA_DIR',
  'PORTFOLIO_STORAGE_LOCAL_ROOT',
  'PORTFOLIO_GATEWAY_HOST',
  'PORTFOLIO_GATEWAY_PORT',
  'PORTFOLIO_METRICS_PORT',
]);

interface Options {
  readonly runtimes: number;
  readonly host: string;
  readonly port: number;
  readonly runtimeMaxMemory: string;
  readonly dataDir: string;
  readonly quiet: boolean;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function options(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        runtimes: { type: 'string', default: '2' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        'runtime-max-memory': { type: 'string', default: '1GiB' },
        'data-dir': { type: 'string', default: 'data/cluster' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const runtimes = Number(v.runtimes);
  if (!Number.isInteger(runtimes) || runtimes < 1 || runtimes > 32)
    fail(
      `--runtimes must be a whole number from 1 to 32 (got "${v.runtimes}")`,
    );
  const port = Number(v.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`--port must be a port number, 1 to 65535 (got "${v.port}")`);
  return {
    runtimes,
    host: v.host,
    port,
    runtimeMaxMemory: v['runtime-max-memory'],
    dataDir: resolve(v['data-dir']),
    quiet: v.quiet,
  };
}

/** The password of a URL replaced, for what is printed. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

/** Prefixes every complete line of a service's output with its name. */
function lineWriter(width: number): (service: string, text: string) => void {
  const partial = new Map<string, string>();
  return (service, text) => {
    const lines = ((partial.get(service) ?? '') + text).split('\n');
    partial.set(service, lines.pop() ?? '');
    for (const line of lines)
      process.stdout.write(
        `${service.padEnd(width)} | ${prettyLogLine(line)}\n`,
      );
  };
}

function summary(
  cluster: PortfolioCluster,
  servers: ProvisionedServices,
  adminKey: string,
  generatedKey: boolean,
  dataDir: string,
): string {
  const rows = [...cluster.services.entries()].map(([name, p]) => {
    const where =
      p.options.app === 'gateway'
        ? `${cluster.url}  (metrics: ${cluster.metricsUrl(name)})`
        : `metrics: ${cluster.metricsUrl(name)}`;
    return `  ${name.padEnd(16)} pid ${String(p.pid ?? '-').padEnd(8)} ${where}`;
  });
  return [
    '',
    'Portfolio is running (distributed topology, local processes):',
    ...rows,
    `  NATS        ${redact(servers.natsUrl)}${servers.started.nats ? ' (throwaway)' : ''}`,
    `  PostgreSQL  ${redact(servers.pgUrl)}${servers.started.postgres ? ' (throwaway)' : ''}`,
    `  data        ${dataDir}`,
    `  admin key   ${generatedKey ? adminKey : '(PORTFOLIO_ADMIN_KEY)'}`,
    '',
    `  curl -s ${cluster.url}/v1/health`,
    `  curl -s -H "Authorization: Bearer <admin key>" ${cluster.url}/v1/models/status`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const given = process.env['PORTFOLIO_ADMIN_KEY'];
  const adminKey = given || randomBytes(24).toString('hex');
  const forwarded = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        FORWARDED.test(e[0]) && !OWN.has(e[0]) && e[1] !== undefined,
    ),
  );
  const artifactsDir = join(opts.dataDir, 'artifacts');
  mkdirSync(artifactsDir, { recursive: true });

  process.stdout.write(
    'Starting PostgreSQL and NATS (or checking the ones named by PORTFOLIO_DATABASE_URL / PORTFOLIO_NATS_URL)...\n',
  );
  const servers = await provisionServices(process.env);
  const runtimes = Array.from(
    { length: opts.runtimes },
    (_, i) => `runtime-${i + 1}`,
  );
  const width = Math.max(
    ...['model-registry', ...runtimes].map((n) => n.length),
  );
  const cluster = new PortfolioCluster({
    runtimes,
    adminKey,
    runtimeMaxMemory: opts.runtimeMaxMemory,
    natsUrl: servers.natsUrl,
    // A server named by PORTFOLIO_DATABASE_URL is the registry's database; a throwaway
    // server's own database serves as well, since it goes when the tool stops.
    databaseUrl: servers.pgUrl,
    subjectPrefix: process.env['PORTFOLIO_NATS_SUBJECT_PREFIX'] || 'portfolio',
    gatewayHost: opts.host,
    gatewayPort: opts.port,
    artifactsDir,
    dataDir: opts.dataDir,
    env: forwarded,
    ...(opts.quiet ? {} : { onOutput: lineWriter(width) }),
  });

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) {
      process.stdout.write('\nNot waiting: exiting now.\n');
      process.exit(130);
    }
    stopping = true;
    process.stdout.write('\nStopping the services...\n');
    await cluster.stop();
    await servers.stop().catch((e: unknown) => {
      process.stderr.write(`stopping PostgreSQL / NATS: ${String(e)}\n`);
    });
    process.stdout.write('Stopped.\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await cluster.start();
  } catch (e) {
    process.stderr.write(
      `the cluster did not start: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    await servers.stop().catch(() => undefined);
    process.exit(1);
  }
  try {
    await cluster.waitUntilHealthy(opts.runtimes, 60_000);
  } catch {
    process.stderr.write(
      'warning: /v1/health has not said ok within 60 s; the services keep running\n',
    );
  }
  process.stdout.write(
    summary(cluster, servers, adminKey, !given, opts.dataDir),
  );

  // A service that exits on its own is said once, with its last lines; the rest run on.
  const reported = new Set<string>();
  setInterval(() => {
    if (stopping) return;
    for (const [name, p] of cluster.services) {
      if (p.running || reported.has(name)) continue;
      reported.add(name);
      process.stderr.write(
        `\n${name} exited; its last lines:\n${p.tail(20)}\n`,
      );
    }
  }, 1000);
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
