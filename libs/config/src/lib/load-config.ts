import * as nodePath from 'node:path';
import { FILE_KEY, MODEL_ID_PATTERN } from './config.constants';
import { ConfigError, envSource } from './config.error';
import {
  configFileSchema,
  modelSchema,
  validate,
  type ModelSettings,
} from './config.schema';
import type {
  ConfigProblem,
  LoadConfigOptions,
  PortfolioConfig,
} from './config.types';
import { deepFreeze } from './deep-freeze.util';
import { describeValue } from './describe-value.util';
import { applyEnvOverrides, envText, type Env } from './env-overrides';
import { CONFIG_FILE_ENV } from './env-vars';
import { currentHost, resolveConfig, type HostFacts } from './resolve-config';
import { ValueOrigins } from './value-origins';
import {
  readConfigFile,
  type ConfigTree,
  type FileOrigin,
} from './yaml-file.reader';

interface FileChoice {
  readonly path: string;
  readonly origin: FileOrigin;
}

/** An explicit `file` wins over PORTFOLIO_CONFIG; `file: null` means "no file" even when it is set. */
function chooseFile(
  options: LoadConfigOptions,
  env: Env,
  cwd: string,
): FileChoice | null {
  if (options.file === null) return null;
  if (options.file !== undefined) {
    const path = nodePath.resolve(cwd, options.file);
    return { path, origin: { source: path, key: FILE_KEY } };
  }
  const fromEnv = envText(env, CONFIG_FILE_ENV);
  if (fromEnv === undefined) return null;
  return {
    path: nodePath.resolve(cwd, fromEnv),
    origin: { source: envSource(CONFIG_FILE_ENV), key: CONFIG_FILE_ENV },
  };
}

const MODEL_ID_RULE = `lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`;

function validateModels(
  raw: unknown,
  origins: ValueOrigins,
  problems: ConfigProblem[],
): Map<string, ModelSettings> {
  const models = new Map<string, ModelSettings>();
  if (raw === undefined || raw === null) return models;
  if (!(raw instanceof Map)) {
    problems.push(
      origins.problem(
        'models',
        `expected a mapping of model id to model settings, got ${describeValue(raw)}`,
      ),
    );
    return models;
  }
  for (const [id, value] of raw) {
    if (typeof id !== 'string' || !MODEL_ID_PATTERN.test(id)) {
      problems.push(
        origins.problem(
          `models.${String(id)}`,
          `invalid model id ${describeValue(id)} (${MODEL_ID_RULE})`,
        ),
      );
      continue;
    }
    const result = validate(modelSchema, value, ['models', id], (key) =>
      origins.locate(key),
    );
    if (result.ok) models.set(id, result.value);
    else problems.push(...result.problems);
  }
  return models;
}

/**
 * Loads Portfolio's configuration: the YAML file (if any), then PORTFOLIO_*
 * environment overrides, which win. Everything is validated before anything
 * is returned, and the result is deeply frozen.
 *
 * @throws ConfigError naming the file (or variable) and key of each problem.
 */
export function loadConfig(options: LoadConfigOptions = {}): PortfolioConfig {
  return loadConfigOn(options, currentHost());
}

/** loadConfig with the host facts that feed defaults (node id, workers) made explicit, for tests. */
export function loadConfigOn(
  options: LoadConfigOptions,
  host: HostFacts,
): PortfolioConfig {
  const env: Env = options.env ?? process.env;
  const cwd = nodePath.resolve(options.cwd ?? process.cwd());

  const file = chooseFile(options, env, cwd);
  const fileTree: ConfigTree = file
    ? readConfigFile(file.path, file.origin)
    : {};

  const overrides = applyEnvOverrides(fileTree, env);
  const origins = new ValueOrigins(file?.path ?? null, cwd, overrides.envByKey);
  const settings = validate(configFileSchema, overrides.tree, [], (key) =>
    origins.locate(key),
  );
  const modelProblems: ConfigProblem[] = [];
  const models = validateModels(
    overrides.tree['models'],
    origins,
    modelProblems,
  );
  const problems = [
    ...overrides.problems,
    ...(settings.ok ? [] : settings.problems),
    ...modelProblems,
  ];
  if (!settings.ok) throw ConfigError.of(problems);
  ConfigError.throwIfAny(problems);

  return deepFreeze(resolveConfig(settings.value, models, origins, host));
}
