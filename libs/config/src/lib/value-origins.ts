import * as nodePath from 'node:path';
import { DEFAULTS_SOURCE } from './config.constants';
import { envSource } from './config.error';
import type { ConfigProblem } from './config.types';

/**
 * Where each value came from: the environment, the file, or the defaults.
 * Problems are reported against that origin, and relative paths resolve
 * against it (the file's directory for file values, cwd otherwise).
 */
export class ValueOrigins {
  constructor(
    /** Absolute path of the loaded file, or null. */
    readonly file: string | null,
    readonly cwd: string,
    private readonly envByKey: ReadonlyMap<string, string>,
  ) {}

  /** The source and key a problem about this dotted YAML key is reported under. */
  locate(key: string): Pick<ConfigProblem, 'source' | 'key'> {
    const envName = this.envByKey.get(key);
    if (envName !== undefined)
      return { source: envSource(envName), key: envName };
    return { source: this.file ?? DEFAULTS_SOURCE, key };
  }

  problem(key: string, detail: string): ConfigProblem {
    return { ...this.locate(key), detail };
  }

  /** How to name a setting inside another setting's message, e.g. "cache.max_memory (default)". */
  describe(key: string, isSet: boolean): string {
    const envName = this.envByKey.get(key);
    if (envName !== undefined) return `${key} (from ${envName})`;
    return isSet ? key : `${key} (default)`;
  }

  /**
   * Absolute form of a path setting. `isSet` is false for a default value, which,
   * like an environment value, is relative to cwd.
   */
  resolvePath(key: string, value: string, isSet: boolean): string {
    const base =
      isSet && this.file !== null && !this.envByKey.has(key)
        ? nodePath.dirname(this.file)
        : this.cwd;
    return nodePath.resolve(base, value);
  }
}
