import { closestNames } from './closest-name.util';
import { envSource } from './config.error';
import type { ConfigProblem } from './config.types';
import {
  ENV_PREFIX,
  ENV_VAR_SPECS,
  CLIENT_ENV_PREFIX,
  envValue,
  isForeignEnvVar,
  TEST_ENV_PREFIX,
} from './env-vars';
import { FILE_KEY } from './config.constants';
import type { ConfigTree } from './yaml-file.reader';

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvOverrides {
  /** The file's tree with environment values laid over it; the input is not modified. */
  readonly tree: ConfigTree;
  /** Dotted YAML key -> name of the variable that set it. */
  readonly envByKey: ReadonlyMap<string, string>;
  /** Unknown PORTFOLIO_* variables. */
  readonly problems: readonly ConfigProblem[];
}

/** Empty values count as unset, so `PORTFOLIO_X= cmd` can blank out an inherited variable. */
export function envText(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Map)
  );
}

function unknownVariableDetail(name: string): string {
  const known = ENV_VAR_SPECS.map((s) => s.name);
  const suggestions = closestNames(name, known, ENV_PREFIX);
  if (suggestions.length > 0)
    return `unknown variable; did you mean ${suggestions.join(' or ')}?`;
  return `unknown variable (supported: ${known.join(', ')}; names starting with ${TEST_ENV_PREFIX} or ${CLIENT_ENV_PREFIX}, and PORTFOLIO_API_KEY, are ignored)`;
}

/**
 * Refuses unknown PORTFOLIO_* variables (a typo would otherwise be silently
 * ignored) and lays the known ones over the file's values. Variables of test tooling
 * (PORTFOLIO_TEST_*) and of clients (PORTFOLIO_CLI_*, PORTFOLIO_API_KEY) are skipped.
 *
 * Where the file has a non-mapping in the way (`gateway: 5`), the override is
 * not applied: the schema reports the file's mistake instead.
 */
export function applyEnvOverrides(
  fileTree: ConfigTree,
  env: Env,
): EnvOverrides {
  const knownNames = new Set(ENV_VAR_SPECS.map((s) => s.name));
  const problems: ConfigProblem[] = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !isForeignEnvVar(name))
    .filter((name) => !knownNames.has(name) && envText(env, name) !== undefined)
    .sort()
    .map((name) => ({
      source: envSource(name),
      key: name,
      detail: unknownVariableDetail(name),
    }));

  // Copy-on-write along each overridden path, so the file's tree stays untouched.
  const tree: ConfigTree = { ...fileTree };
  const envByKey = new Map<string, string>();
  for (const { name, key, kind } of ENV_VAR_SPECS) {
    const text = envText(env, name);
    if (text === undefined || key === FILE_KEY) continue;

    const segments = key.split('.');
    const leafKey = segments.pop();
    if (leafKey === undefined) continue;
    let node: Record<string, unknown> | undefined = tree;
    for (const segment of segments) {
      const child: unknown = node[segment];
      if (child === undefined || child === null) {
        node = node[segment] = {};
      } else if (isMapping(child)) {
        node = node[segment] = { ...child };
      } else {
        node = undefined;
        break;
      }
    }
    if (!node) continue;
    node[leafKey] = envValue(kind, text);
    envByKey.set(key, name);
  }
  return { tree, envByKey, problems };
}
