#!/usr/bin/env node
// Container health check for every Portfolio image (Dockerfile HEALTHCHECK and the
// compose healthchecks). Exit 0: healthy; exit 1: unhealthy, with the reason on stderr
// (`docker inspect --format '{{json .State.Health}}' <container>` shows it).
//
//   gateway, portfolio          GET /v1/health on the gateway port: 200 (ok or degraded)
//   model-registry, storage,    the service's ping RPC over NATS, the same call the
//   cache-manager, runtime      gateway's /v1/health makes (a runtime is pinged on its
//                               own node id, so each runtime container checks itself)
//
// Which app: the first argument, else the "name" of the package.json that the webpack
// build wrote beside main.js. Settings come from the same places the app reads them:
// PORTFOLIO_* variables over the YAML file named by PORTFOLIO_CONFIG over the defaults.
//
// The subjects below mirror libs/contracts (`<prefix>.registry.ping.v1`, ...). With
// several instances of a queue-group service (registry, storage, cache-manager) any one
// of them may answer, so the check says "the service answers", not "this container".
'use strict';

const { readFileSync } = require('node:fs');
const http = require('node:http');
const { join } = require('node:path');

const TIMEOUT_MS = 4000;

const PING_SUBJECTS = {
  'model-registry': (prefix) => `${prefix}.registry.ping.v1`,
  storage: (prefix) => `${prefix}.storage.ping.v1`,
  'cache-manager': (prefix) => `${prefix}.cache.ping.v1`,
  runtime: (prefix, nodeId) => `${prefix}.runtime.${nodeId}.ping.v1`,
};

function fail(message) {
  process.stderr.write(`unhealthy: ${message}\n`);
  process.exit(1);
}

function appName() {
  if (process.argv[2]) return process.argv[2];
  try {
    return JSON.parse(readFileSync(join(__dirname, 'package.json'), 'utf8')).name;
  } catch {
    return fail('no app named on the command line and no package.json beside this script');
  }
}

/** The YAML file's value at `path` (e.g. ['nats', 'url']), when PORTFOLIO_CONFIG names one. */
function fileSetting(path) {
  const file = process.env.PORTFOLIO_CONFIG;
  if (!file) return undefined;
  let value;
  try {
    value = require('yaml').parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return fail(`cannot read PORTFOLIO_CONFIG (${file}): ${e.message}`);
  }
  for (const key of path) value = value && typeof value === 'object' ? value[key] : undefined;
  return value ?? undefined;
}

function setting(envName, path, fallback) {
  const env = process.env[envName];
  if (env !== undefined && env !== '') return env;
  const fromFile = fileSetting(path);
  return fromFile !== undefined && fromFile !== null ? String(fromFile) : fallback;
}

/** NATS URLs may carry credentials; never echo them into `docker inspect`. */
function redact(url) {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function checkHttp() {
  const port = Number(setting('PORTFOLIO_GATEWAY_PORT', ['gateway', 'port'], '8080'));
  if (!Number.isInteger(port) || port <= 0) fail(`cannot probe gateway port "${port}" (port 0 means any free port)`);
  const host = setting('PORTFOLIO_GATEWAY_HOST', ['gateway', 'host'], '0.0.0.0');
  const target = ['0.0.0.0', '::', '[::]', ''].includes(host) ? '127.0.0.1' : host;
  const req = http.get({ host: target, port, path: '/v1/health', timeout: TIMEOUT_MS }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => {
      if (res.statusCode === 200) process.exit(0);
      fail(`GET /v1/health answered ${res.statusCode}: ${body.slice(0, 500)}`);
    });
  });
  req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
  req.on('error', (e) => fail(`GET http://${target}:${port}/v1/health: ${e.message}`));
}

async function checkBus(app) {
  const url = setting('PORTFOLIO_NATS_URL', ['nats', 'url'], 'nats://127.0.0.1:4222');
  const prefix = setting('PORTFOLIO_NATS_SUBJECT_PREFIX', ['nats', 'subject_prefix'], 'portfolio');
  let nodeId;
  if (app === 'runtime') {
    nodeId = setting('PORTFOLIO_RUNTIME_NODE_ID', ['runtime', 'node_id'], undefined);
    if (!nodeId) fail('set PORTFOLIO_RUNTIME_NODE_ID: the check pings the runtime by its node id');
  }
  const subject = PING_SUBJECTS[app](prefix, nodeId);

  const { connect } = require('nats');
  let nc;
  try {
    nc = await connect({ servers: url, name: `portfolio-healthcheck-${app}`, timeout: TIMEOUT_MS, reconnect: false });
  } catch (e) {
    return fail(`cannot connect to NATS at ${redact(url)}: ${e.message}`);
  }
  try {
    const reply = await nc.request(subject, Buffer.from('{}'), { timeout: TIMEOUT_MS });
    if (reply.headers && reply.headers.has('Portfolio-Error')) {
      fail(`${subject} answered with error ${reply.headers.get('Portfolio-Error')}`);
    }
    const body = JSON.parse(Buffer.from(reply.data).toString('utf8'));
    if (!body || typeof body.service !== 'string') fail(`${subject} answered without a service name`);
  } catch (e) {
    const why = e.code === '503' ? 'no responders (the service is not running or not subscribed yet)' : e.message;
    fail(`${subject}: ${why}`);
  } finally {
    await nc.close().catch(() => undefined);
  }
  process.exit(0);
}

const app = appName();
if (app === 'gateway' || app === 'portfolio') checkHttp();
else if (PING_SUBJECTS[app]) void checkBus(app);
else fail(`unknown app "${app}" (expected gateway, portfolio, ${Object.keys(PING_SUBJECTS).join(', ')})`);
