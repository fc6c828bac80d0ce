import {
  isAliasName,
  Processing,
  ProcessingSchema,
} from '@portfolio/contracts';

import { STORAGE_PREFIX_SEGMENT_PATTERN } from './config.constants';
import { describeValue } from './describe-value.util';
import { parseDuration } from './duration.util';
import { parseSize } from './size.util';

/**
 * Parsers for single YAML scalars. Each takes whatever the YAML (or an
 * environment override) produced and either returns the typed value or throws
 * an Error whose message is the user-facing detail, without the location,
 * which the caller adds. `undefined` means the key is absent; callers only
 * pass it for required keys.
 */

/** The soft limit as written: an absolute size or a share of max memory. */
export type SoftLimit =
  | { readonly kind: 'bytes'; readonly bytes: number }
  | { readonly kind: 'percent'; readonly percent: number };

function fail(detail: string): never {
  throw new Error(detail);
}

export function parseSizeValue(
  value: unknown,
  { min = 0 }: { min?: number } = {},
): number {
  if (typeof value !== 'string' && typeof value !== 'number') {
    fail(`expected a size such as 512MiB or 2GB, got ${describeValue(value)}`);
  }
  const bytes = parseSize(value);
  if (bytes < min)
    fail(`must be at least ${min} bytes, got ${describeValue(value)}`);
  return bytes;
}

export function parseDurationValue(
  value: unknown,
  { positive = true }: { positive?: boolean } = {},
): number {
  if (typeof value !== 'string' && typeof value !== 'number') {
    fail(
      `expected a duration such as 500ms, 90s, 15m or 1h, got ${describeValue(value)}`,
    );
  }
  const ms = parseDuration(value);
  if (positive && ms <= 0)
    fail(`must be longer than 0, got ${describeValue(value)}`);
  return ms;
}

const PERCENT_PATTERN = /^(\d+(?:\.\d+)?) ?%$/;

export function parseSoftLimitValue(value: unknown): SoftLimit {
  if (typeof value === 'string') {
    const match = PERCENT_PATTERN.exec(value.trim());
    if (match) {
      const percent = Number(match[1]);
      if (percent <= 0 || percent > 100)
        fail(
          `a percentage soft limit must be above 0% and at most 100%, got ${describeValue(value)}`,
        );
      return { kind: 'percent', percent };
    }
  }
  if (typeof value !== 'string' && typeof value !== 'number') {
    fail(
      `expected a size such as 1536MiB or a percentage of max_memory such as 85%, got ${describeValue(value)}`,
    );
  }
  return { kind: 'bytes', bytes: parseSize(value) };
}

export function parseIntegerValue(
  value: unknown,
  min: number,
  max: number,
): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > max
  ) {
    fail(
      `expected an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

export function parsePositiveNumberValue(value: unknown, max: number): number {
  if (typeof value !== 'number' || !(value > 0) || value > max)
    fail(
      `expected a number above 0 and at most ${max}, got ${describeValue(value)}`,
    );
  return value;
}

export function parseBooleanValue(value: unknown): boolean {
  if (typeof value !== 'boolean')
    fail(`expected true or false, got ${describeValue(value)}`);
  return value;
}

export function parseStringValue(value: unknown, what = 'a string'): string {
  if (typeof value !== 'string' || value.trim() === '')
    fail(`expected ${what}, got ${describeValue(value)}`);
  return value;
}

export function parsePatternValue(
  value: unknown,
  pattern: RegExp,
  rule: string,
): string {
  const text = parseStringValue(value);
  if (!pattern.test(text))
    fail(`invalid value ${describeValue(text)} (${rule})`);
  return text;
}

export function parseChoiceValue<T extends string>(
  value: unknown,
  choices: readonly T[],
  what: string,
): T {
  const allowed = `expected one of: ${choices.join(', ')}`;
  if (typeof value !== 'string')
    fail(`${allowed}; got ${describeValue(value)}`);
  const choice = choices.find((c) => c === value);
  if (choice === undefined)
    fail(`unknown ${what} ${describeValue(value)} (${allowed})`);
  return choice;
}

/** `null` (an empty value or `~` in YAML) is accepted and kept, meaning "not set". */
export function nullable<T>(
  parse: (value: unknown) => T,
): (value: unknown) => T | null {
  return (value) => (value === null ? null : parse(value));
}

/** For keys that may not be left out; the message says what the key is for. */
export function required<T>(
  parse: (value: unknown) => T,
  purpose: string,
): (value: unknown) => T {
  return (value) => {
    if (value === undefined) fail(`required: ${purpose}`);
    return parse(value);
  };
}

/** Hides the user-info part of a URL so passwords never reach a log. */
function redactUrl(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//***@');
}

function describeUrl(value: unknown): string {
  return typeof value === 'string'
    ? describeValue(redactUrl(value))
    : describeValue(value);
}

function hasHost(text: string): boolean {
  try {
    return new URL(text).hostname !== '';
  } catch {
    return false;
  }
}

const NATS_SCHEMES = ['nats://', 'tls://', 'ws://', 'wss://'];

export function parseNatsUrlValue(value: unknown): string {
  const ok =
    typeof value === 'string' &&
    NATS_SCHEMES.some((s) => value.startsWith(s)) &&
    hasHost(value);
  if (!ok)
    fail(
      `expected a NATS URL such as nats://127.0.0.1:4222 (schemes: ${NATS_SCHEMES.join(', ')}), got ${describeUrl(value)}`,
    );
  return value;
}

export function parsePostgresUrlValue(value: unknown): string {
  const ok =
    typeof value === 'string' &&
    /^postgres(ql)?:\/\//.test(value) &&
    hasHost(value);
  if (!ok)
    fail(
      `expected a URL starting with postgres:// or postgresql://, got ${describeUrl(value)}`,
    );
  return value;
}

/** The key itself is never echoed: this message ends up in logs. */
export function parseSecretValue(value: unknown, minLength: number): string {
  if (typeof value !== 'string') {
    const kind =
      value === null
        ? 'an empty value'
        : `a ${Array.isArray(value) ? 'list' : typeof value} (quote it)`;
    fail(`expected a string of at least ${minLength} characters, got ${kind}`);
  }
  if (value.length < minLength)
    fail(`must be at least ${minLength} characters long, got ${value.length}`);
  return value;
}

/**
 * A folder inside a bucket, e.g. `portfolio/artifacts`: leading and trailing slashes
 * are dropped, and '' (or only slashes) is the whole bucket.
 */
export function parseStoragePrefixValue(value: unknown): string {
  if (typeof value !== 'string')
    fail(
      `expected a folder inside the bucket such as portfolio/artifacts, got ${describeValue(value)}`,
    );
  const prefix = value.replace(/^\/+|\/+$/g, '');
  if (
    prefix !== '' &&
    !prefix
      .split('/')
      .every((segment) => STORAGE_PREFIX_SEGMENT_PATTERN.test(segment))
  )
    fail(
      `invalid prefix ${describeValue(value)} (/-separated folders of letters, digits, ".", "_" and "-")`,
    );
  return prefix;
}

/**
 * An http(s) URL with a host. The query string may hold a secret (an Azure SAS
 * token), so messages show the URL without it, and without user info.
 */
export function parseHttpUrlValue(value: unknown): string {
  let ok = false;
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      ok =
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        url.hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    const shown =
      typeof value === 'string'
        ? describeValue(redactUrl(value).replace(/[?#].*$/, ''))
        : describeValue(value);
    fail(
      `expected an http:// or https:// URL such as https://s3.example.com, got ${shown}`,
    );
  }
  return value as string;
}

/** A list of alias names (`[production]`), each as the registry takes it. */
export function parseAliasListValue(value: unknown): string[] {
  if (!Array.isArray(value))
    fail(
      `expected a list of alias names such as [production], got ${describeValue(value)}`,
    );
  for (const name of value)
    if (!isAliasName(name))
      fail(
        `alias names are 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit; got ${describeValue(name)}`,
      );
  return [...new Set(value as string[])];
}

/**
 * Where versions may be registered from by URI: a list (or, from the environment, a
 * comma-separated string) of `file:///<absolute dir>`, `s3://<bucket>[/<folder>]`,
 * `gs://...` or `az://<container>[/<folder>]`, without `..` and without a query.
 */
export function parseImportSourcesValue(value: unknown): string[] {
  const list =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : value;
  if (!Array.isArray(list))
    fail(
      `expected a list of URIs such as [file:///srv/models, s3://incoming], got ${describeValue(value)}`,
    );
  const out: string[] = [];
  for (const uri of list) {
    if (
      typeof uri !== 'string' ||
      !/^(file:\/\/\/[^?#]*|(s3|gs|az):\/\/[a-z0-9][a-z0-9._-]{1,220}(\/[^?#]*)?)$/.test(
        uri,
      ) ||
      uri.split('/').some((p) => p === '..' || p === '.')
    )
      fail(
        `import sources are file:///<absolute directory>, s3://<bucket>[/<folder>], gs://<bucket>[/<folder>] or az://<container>[/<folder>]; got ${describeValue(uri)}`,
      );
    out.push((uri as string).replace(/\/+$/, '') || (uri as string));
  }
  return [...new Set(out)];
}

/**
 * A model's pre- and post-processing (see the contracts' ProcessingSchema): input
 * normalization (`offset`, `scale`) and output class `labels`, by tensor name.
 */
export function parseProcessingValue(value: unknown): Processing {
  const parsed = ProcessingSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  fail(
    `expected {inputs: {<name>: {offset, scale}}, outputs: {<name>: {labels: [...]}}}; ${where}${issue.message}`,
  );
}
