import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

import { HostEnv, interpolateTree } from './interpolate';

/** The parts of a Compose service these checks read. */
export interface ComposeService {
  readonly image?: string;
  readonly build?: {
    readonly context?: string;
    readonly dockerfile?: string;
    readonly target?: string;
    readonly args?: Readonly<Record<string, string>>;
  };
  readonly environment?:
    | Readonly<Record<string, string | number | boolean | null>>
    | readonly string[];
  readonly depends_on?:
    | Readonly<Record<string, { readonly condition?: string }>>
    | readonly string[];
  readonly healthcheck?: {
    readonly test?: readonly string[] | string;
    readonly disable?: boolean;
    readonly timeout?: string;
  };
  readonly ports?: readonly (string | Readonly<Record<string, unknown>>)[];
  readonly expose?: readonly (string | number)[];
  readonly volumes?: readonly (string | Readonly<Record<string, unknown>>)[];
  readonly cap_drop?: readonly string[];
  readonly security_opt?: readonly string[];
  readonly user?: string;
  readonly restart?: string;
  readonly command?: readonly string[] | string;
  readonly entrypoint?: readonly string[] | string;
  readonly deploy?: {
    readonly resources?: {
      readonly limits?: { readonly memory?: string | number };
    };
  };
}

export interface ComposeFile {
  readonly name?: string;
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes?: Readonly<Record<string, unknown>>;
  /** Secrets services mount at /run/secrets/<name>: from a host variable or a file. */
  readonly secrets?: Readonly<
    Record<string, { readonly environment?: string; readonly file?: string }>
  >;
}

export interface LoadedCompose {
  readonly file: ComposeFile;
  /** Host variables the file interpolates (`${VAR...}`). */
  readonly hostVariables: ReadonlySet<string>;
  readonly text: string;
}

/**
 * The Compose file as Compose sees it: YAML with anchors and merge keys (`<<:`)
 * resolved, then every value interpolated from `hostEnv`.
 */
export function loadCompose(path: string, hostEnv: HostEnv): LoadedCompose {
  const text = readFileSync(path, 'utf8');
  const raw: unknown = parse(text, { merge: true });
  const hostVariables = new Set<string>();
  const file = interpolateTree(raw, hostEnv, hostVariables) as ComposeFile;
  if (!file || typeof file.services !== 'object')
    throw new Error(`${path} has no services`);
  return { file, hostVariables, text };
}

/** A service's environment, from either of Compose's forms (`KEY: value`, `- KEY=value`). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env = service.environment;
  if (!env) return {};
  if (Array.isArray(env))
    return Object.fromEntries(
      (env as readonly string[]).map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  return Object.fromEntries(
    Object.entries(env as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
}

/** depends_on in its long form (the short form means condition service_started). */
export function dependencies(service: ComposeService): Record<string, string> {
  const deps = service.depends_on;
  if (!deps) return {};
  if (Array.isArray(deps))
    return Object.fromEntries(
      (deps as readonly string[]).map((d) => [d, 'service_started']),
    );
  return Object.fromEntries(
    Object.entries(
      deps as Readonly<Record<string, { readonly condition?: string }>>,
    ).map(([name, d]) => [name, d.condition ?? 'service_started']),
  );
}

export interface PublishedPort {
  /** The host address ('' for every interface). */
  readonly hostIp: string;
  readonly hostPort: string;
  readonly containerPort: string;
}

/** `"8080:8080"`, `"127.0.0.1:9001:9001"` (short syntax only: that is what the file uses). */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string')
      throw new Error(
        `long-syntax ports are not read here: ${JSON.stringify(p)}`,
      );
    const parts = p.replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length === 3)
      return { hostIp: parts[0], hostPort: parts[1], containerPort: parts[2] };
    if (parts.length === 2)
      return { hostIp: '', hostPort: parts[0], containerPort: parts[1] };
    return { hostIp: '', hostPort: '', containerPort: parts[0] };
  });
}

export interface Mount {
  /** A named volume, or a host path (starting with . or /). */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly named: boolean;
}

export function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string')
      throw new Error(
        `long-syntax volumes are not read here: ${JSON.stringify(v)}`,
      );
    const [source, target, mode = ''] = v.split(':');
    return {
      source,
      target,
      readOnly: mode.split(',').includes('ro'),
      named: !/^[./~]/.test(source),
    };
  });
}

/** A healthcheck's test as an argument list (CMD form), or null when there is none. */
export function healthTest(service: ComposeService): readonly string[] | null {
  const hc = service.healthcheck;
  if (!hc || hc.disable || hc.test === undefined) return null;
  return typeof hc.test === 'string' ? ['CMD-SHELL', hc.test] : hc.test;
}
