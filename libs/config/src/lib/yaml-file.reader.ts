import * as fs from 'node:fs';
import { parseDocument } from 'yaml';
import { FILE_KEY } from './config.constants';
import { ConfigError } from './config.error';
import type { ConfigProblem } from './config.types';
import { describeValue } from './describe-value.util';

/**
 * The file as plain data: mappings become plain objects, except `models`,
 * which stays a Map so model order survives (a plain object would move
 * integer-like ids such as "42" to the front).
 */
export type ConfigTree = Record<string, unknown>;

/** Where the file's path came from: an option (key "(file)") or PORTFOLIO_CONFIG. */
export type FileOrigin = Pick<ConfigProblem, 'source' | 'key'>;

const ORDERED_MAPPINGS = new Set(['models']);

function fileError(absPath: string, detail: string): ConfigError {
  return new ConfigError({ source: absPath, key: FILE_KEY, detail });
}

function readText(absPath: string, origin: FileOrigin): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absPath);
  } catch {
    throw new ConfigError({
      ...origin,
      detail: `configuration file not found: ${absPath}`,
    });
  }
  if (stat.isDirectory())
    throw new ConfigError({
      ...origin,
      detail: `configuration file is a directory: ${absPath}`,
    });
  try {
    return fs.readFileSync(absPath, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError({
      ...origin,
      detail: `cannot read configuration file ${absPath}: ${reason}`,
    });
  }
}

function toKey(key: unknown, absPath: string, path: readonly string[]): string {
  if (typeof key === 'string') return key;
  if (
    key === null ||
    typeof key === 'number' ||
    typeof key === 'boolean' ||
    typeof key === 'bigint'
  )
    return String(key);
  throw new ConfigError({
    source: absPath,
    key: path.length > 0 ? path.join('.') : FILE_KEY,
    detail: `mapping keys must be plain names, got ${describeValue(key)} as a key`,
  });
}

function plainEntries(
  map: Map<unknown, unknown>,
  absPath: string,
  path: readonly string[],
): [string, unknown][] {
  return [...map.entries()].map(([rawKey, child]): [string, unknown] => {
    const key = toKey(rawKey, absPath, path);
    return [key, toPlain(child, absPath, [...path, key])];
  });
}

function toPlain(
  value: unknown,
  absPath: string,
  path: readonly string[],
): unknown {
  if (Array.isArray(value))
    return value.map((item, index) =>
      toPlain(item, absPath, [...path, String(index)]),
    );
  if (!(value instanceof Map)) return value;
  const entries = plainEntries(value, absPath, path);
  return path.length === 1 && ORDERED_MAPPINGS.has(path[0])
    ? new Map(entries)
    : Object.fromEntries(entries);
}

/**
 * Reads and parses the YAML file. An empty file (or one holding only comments)
 * is an empty configuration.
 *
 * @throws ConfigError when the file is missing or unreadable (located at
 *   `origin`), or is not YAML, or its top level is not a mapping (key "(file)").
 */
export function readConfigFile(
  absPath: string,
  origin: FileOrigin,
): ConfigTree {
  const text = readText(absPath, origin);

  const document = parseDocument(text, {
    prettyErrors: true,
    uniqueKeys: true,
  });
  const [firstError] = document.errors;
  if (firstError) {
    if (firstError.code === 'MULTIPLE_DOCS') {
      const line = firstError.linePos?.[0].line;
      throw fileError(
        absPath,
        `the file must hold a single YAML document, found a second one${line ? ` at line ${line}` : ''}`,
      );
    }
    // The first line carries the reason and "at line L, column C"; the rest is a code excerpt.
    const summary = firstError.message.split('\n')[0].replace(/:$/, '');
    throw fileError(absPath, `YAML syntax error: ${summary}`);
  }

  let data: unknown;
  try {
    data = document.toJS({ mapAsMap: true });
  } catch (error) {
    // Unresolved aliases and alias-expansion limits surface here, not in document.errors.
    throw fileError(
      absPath,
      `YAML error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  if (data === null || data === undefined) return {};
  if (!(data instanceof Map)) {
    throw fileError(
      absPath,
      `the top level must be a mapping of settings (data_dir, models, cache, ...), got ${describeValue(data)}`,
    );
  }
  return Object.fromEntries(plainEntries(data, absPath, []));
}
