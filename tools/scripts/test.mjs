#!/usr/bin/env node
// `npm test`: every test of the repository, in the order that keeps two cores usable.
//   1. build the apps (the end-to-end tests start them as real processes),
//   2. every project's unit tests (jest.config.cts) and integration tests
//      (jest.integration.config.cts), in one jest run with two workers,
//   3. end-to-end tests (apps/e2e, one file at a time: each starts a whole cluster).
// jest.config.ts collects the configs of stage 2 from the Nx targets `test` and `test-integration`.
// Unit tests need no server. For the others, PostgreSQL and NATS are the ones named by
// PORTFOLIO_DATABASE_URL and PORTFOLIO_NATS_URL, else throwaway servers started for the
// run by jest.servers.preset.js's global setup (libs/testing/src/jest/global-setup.ts).
// Extra arguments go to jest, e.g. `npm test -- --testPathPatterns registry`.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const extra = process.argv.slice(2);
const env = {
  ...process.env,
  NX_NO_CLOUD: 'true',
  NX_DAEMON: process.env.NX_DAEMON ?? 'false',
  // PGlite loads parts of itself with import(), which jest only allows with this flag.
  NODE_OPTIONS: [
    process.env.NODE_OPTIONS,
    '--experimental-vm-modules',
    '--no-warnings=ExperimentalWarning',
  ]
    .filter(Boolean)
    .join(' '),
};
const started = Date.now();

function run(label, command, args) {
  const t0 = Date.now();
  process.stdout.write(`\n== ${label}\n`);
  const result = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (result.status !== 0) {
    process.stdout.write(`\n== ${label}: FAILED after ${seconds} s\n`);
    process.exit(result.status ?? 1);
  }
  process.stdout.write(`== ${label}: passed in ${seconds} s\n`);
}

const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
run('build the apps', 'npx', [
  'nx',
  'run-many',
  '-t',
  'build',
  '--projects=tag:type:app',
  '--output-style=static',
]);
run('unit and integration tests', process.execPath, [
  jest,
  '-c',
  'jest.config.ts',
  '--ignoreProjects',
  'e2e',
  '--maxWorkers=2',
  ...extra,
]);
// Its own config rather than the root one: jest takes testTimeout from the config
// it is given, not from the projects of a multi-project config.
run('end-to-end tests', process.execPath, [
  jest,
  '-c',
  'apps/e2e/jest.config.cts',
  '--runInBand',
  ...extra,
]);
process.stdout.write(
  `\nall tests passed in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
);
