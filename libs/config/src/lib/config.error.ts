import { FILE_KEY } from './config.constants';
import type { ConfigProblem } from './config.types';

const ENV_SOURCE_PREFIX = 'environment variable ';

/** The `source` of a problem caused by an environment variable. */
export function envSource(name: string): string {
  return `${ENV_SOURCE_PREFIX}${name}`;
}

/**
 * One line per problem. The key is left out where the source already names it
 * (an environment variable) or where the problem concerns the file as a whole.
 */
export function formatProblem({ source, key, detail }: ConfigProblem): string {
  const keyIsImplied = key === FILE_KEY || source === envSource(key);
  return keyIsImplied
    ? `Invalid configuration in ${source}: ${detail}`
    : `Invalid configuration in ${source} at ${key}: ${detail}`;
}

/**
 * Thrown by loadConfig for anything wrong with the file or the environment.
 * `key` and `source` are those of the first problem; the message has one line
 * per problem, each naming its own source and key, so a start-up log shows
 * everything that needs fixing at once.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Dotted YAML path (models.iris.memory_estimate), an env var name, or "(file)". */
  readonly key: string;
  /** Absolute file path, or "environment variable PORTFOLIO_X". */
  readonly source: string;
  /** Every problem found, the first being the one `key` and `source` describe. */
  readonly problems: readonly ConfigProblem[];

  constructor(problem: ConfigProblem, ...more: readonly ConfigProblem[]) {
    const problems = Object.freeze(
      [problem, ...more].map((p) => Object.freeze({ ...p })),
    );
    super(problems.map(formatProblem).join('\n'));
    this.key = problem.key;
    this.source = problem.source;
    this.problems = problems;
  }

  /** @throws TypeError for an empty list, which would be a bug in the caller. */
  static of(problems: readonly ConfigProblem[]): ConfigError {
    const [first, ...more] = problems;
    if (!first)
      throw new TypeError('ConfigError.of needs at least one problem');
    return new ConfigError(first, ...more);
  }

  /** Throws when there is anything in the list; a no-op otherwise. */
  static throwIfAny(problems: readonly ConfigProblem[]): void {
    if (problems.length > 0) throw ConfigError.of(problems);
  }
}
