/**
 * The root jest config, for `npm test` and `npx jest <path>`.
 *
 * jest loads it through ts-node; type-checking it there cost seconds on every
 * run, so it is only transpiled (npm run typecheck checks it). With CommonJS,
 * which jest asks for, TypeScript 6 implies the deprecated node10 module
 * resolution and reports that as an error unless told to ignore it.
 * @jest-config-loader-options {"transpileOnly": true, "compilerOptions": {"ignoreDeprecations": "6.0"}}
 */
import type { Config } from 'jest';
import { getJestProjectsAsync } from '@nx/jest';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * Every jest config that an Nx target runs: each project's jest.config.cts (unit tests, target `test`), its
 * jest.integration.config.cts where it has integration tests (target
 * `test-integration`), and apps/e2e's.
 *
 * nx.json's targetDefaults name jest.config.cts in the `test` command on
 * purpose: getJestProjectsAsync lists a bare `jest` command as the project's
 * directory, then drops that directory when a config file of the same
 * directory is listed too, which would silently lose the unit tests of every
 * project that has integration tests.
 */
export default async (): Promise<Config> => {
  const projects = await getJestProjectsAsync();
  refuseUnrunIntegrationTests(projects);
  // jest 30 takes testTimeout from the global config only: the presets' value
  // applies when a project's config is run alone, and this one to a run of
  // several (without it, jest's default of 5 s).
  return { projects, testTimeout: 30_000 };
};

const INTEGRATION_CONFIG = 'jest.integration.config.cts';

/**
 * The unit preset does not match *.integration-spec.ts, so such a file in a
 * project without an integration config would never run: say so instead.
 */
function refuseUnrunIntegrationTests(projects: string[]): void {
  const configs = projects.map((p) => p.replace('<rootDir>', __dirname));
  const unrun: string[] = [];
  for (const root of new Set(configs.map((c) => dirname(c)))) {
    const src = join(root, 'src');
    if (configs.includes(join(root, INTEGRATION_CONFIG)) || !existsSync(src))
      continue;
    for (const file of readdirSync(src, { recursive: true }).map(String)) {
      if (file.endsWith('.integration-spec.ts'))
        unrun.push(relative(__dirname, join(src, file)));
    }
  }
  if (unrun.length > 0) {
    throw new Error(
      `These integration tests belong to no jest project, so they would never run: ${unrun.join(', ')}. ` +
        `Give their project a ${INTEGRATION_CONFIG} and a test-integration target (see libs/messaging).`,
    );
  }
}
