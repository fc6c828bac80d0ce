import { createReadStream, promises as fs } from 'node:fs';

import { commandUsage, positiveInt, type ParsedCommand } from './args';
import { ApiClient } from './client';
import { ApiError, LocalError, UsageError } from './errors';
import { formatBytes, formatFields, formatLabels, formatTable } from './format';
import { ProgressBar, type ProgressOutput } from './progress';
import { listFiles, tarSize, tarStream } from './tar';

export interface Io {
  readonly stdout: { readonly isTTY?: boolean; write(text: string): unknown };
  readonly stderr: ProgressOutput;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Context {
  readonly client: ApiClient;
  readonly io: Io;
  readonly json: boolean;
  readonly color: boolean;
}

/* The API's records, as far as the CLI reads them (docs/api.md). */
interface ModelRecord {
  id: string;
  format: string;
  description?: string | null;
  labels?: Record<string, string>;
  preload?: boolean;
  pinned?: boolean;
  memory_estimate_bytes?: number | null;
  ttl_ms?: number | null;
  created_at?: string;
  updated_at?: string;
}
interface VersionRecord {
  model_id: string;
  version: number;
  format: string;
  sha256: string;
  size_bytes: number;
  status: string;
  created_at: string;
  created_by?: string | null;
  measured?: { memory_bytes: number; load_ms: number } | null;
}
interface KeyRecord {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  created_by?: string | null;
  revoked_at?: string | null;
  key?: string;
}
interface StatusAnswer {
  runtimes: {
    node_id: string;
    alive: boolean;
    capacity_bytes: number;
    used_bytes: number;
    models_loaded: number;
  }[];
  models: {
    model_id: string;
    version: number | null;
    state: string;
    nodes: string[];
    memory_bytes: number | null;
    hits: number;
    misses: number;
  }[];
  totals?: {
    runtimes_alive: number;
    capacity_bytes: number;
    used_bytes: number;
    models_loaded: number;
  };
}

const id = (value: string) => encodeURIComponent(value);

function print(ctx: Context, text: string): void {
  ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function printJson(ctx: Context, value: unknown): void {
  print(ctx, JSON.stringify(value, null, 2));
}

function table(
  ctx: Context,
  headers: string[],
  rows: unknown[][],
  right: number[] = [],
  empty = '(none)',
): void {
  print(
    ctx,
    rows.length === 0
      ? empty
      : formatTable(headers, rows, { right, color: ctx.color }),
  );
}

function time(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, 'Z') : '-';
}

async function modelsList(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const usage = commandUsage(cmd.spec);
  const labels = ((cmd.options['label'] as string[] | undefined) ?? []).map(
    (label) => {
      const eq = label.indexOf('=');
      if (eq <= 0)
        throw new UsageError(
          `--label: expected key=value, got ${JSON.stringify(label)}`,
          usage,
        );
      return ['label', `${label.slice(0, eq)}:${label.slice(eq + 1)}`] as [
        string,
        string,
      ];
    },
  );
  // Every page, merged into one answer of the same shape.
  const models: ModelRecord[] = [];
  let after: string | null = null;
  do {
    const query: [string, string][] = [['limit', '1000'], ...labels];
    if (after !== null) query.push(['after', after]);
    const { body } = await ctx.client.request<{
      models: ModelRecord[];
      next: string | null;
    }>('/admin/models', { query });
    models.push(...body.models);
    after = body.next;
  } while (after !== null);

  if (ctx.json) return printJson(ctx, { models, next: null });
  table(
    ctx,
    ['ID', 'FORMAT', 'LABELS', 'PRELOAD', 'PINNED', 'DESCRIPTION'],
    models.map((m) => [
      m.id,
      m.format,
      formatLabels(m.labels),
      m.preload ? 'yes' : 'no',
      m.pinned ? 'yes' : 'no',
      m.description,
    ]),
    [],
    '(no models)',
  );
}

function versionsTable(ctx: Context, versions: VersionRecord[]): void {
  table(
    ctx,
    ['VERSION', 'STATUS', 'SIZE', 'MEASURED', 'SHA256', 'CREATED', 'BY'],
    versions.map((v) => [
      v.version,
      v.status,
      formatBytes(v.size_bytes),
      v.measured ? formatBytes(v.measured.memory_bytes) : '-',
      v.sha256?.slice(0, 12),
      time(v.created_at),
      v.created_by,
    ]),
    [0, 2, 3],
    '(no versions)',
  );
}

async function modelsGet(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const { body } = await ctx.client.request<{
    model: ModelRecord;
    versions: VersionRecord[];
  }>(`/admin/models/${id(cmd.args['id'])}`);
  if (ctx.json) return printJson(ctx, body);
  const m = body.model;
  print(
    ctx,
    formatFields([
      ['id', m.id],
      ['format', m.format],
      ['description', m.description],
      ['labels', formatLabels(m.labels)],
      [
        'memory estimate',
        m.memory_estimate_bytes == null
          ? null
          : formatBytes(m.memory_estimate_bytes),
      ],
      ['preload', m.preload ? 'yes' : 'no'],
      ['pinned', m.pinned ? 'yes' : 'no'],
      ['ttl', m.ttl_ms == null ? null : `${m.ttl_ms / 1000}s`],
      ['created', time(m.created_at)],
    ]),
  );
  print(ctx, '');
  versionsTable(ctx, body.versions);
}

async function modelsRegister(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const modelId = cmd.args['id'];
  const path = cmd.args['path'];
  const format = cmd.options['format'] as string;
  const alias = cmd.options['alias'] as string | undefined;
  const stat = await fs.stat(path).catch(() => {
    throw new LocalError(`${path}: no such file or directory`);
  });
  if (!stat.isFile() && !stat.isDirectory())
    throw new LocalError(`${path} is neither a file nor a directory`);
  const files = stat.isDirectory() ? await listFiles(path) : null;

  let created = true;
  try {
    await ctx.client.request('/admin/models', {
      json: { id: modelId, format },
    });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'MODEL_EXISTS')) throw err;
    created = false;
  }

  const total = files ? tarSize(files) : stat.size;
  const bar = new ProgressBar(ctx.io.stderr, total);
  const source = files ? tarStream(files) : createReadStream(path);
  let version: VersionRecord;
  try {
    ({ body: version } = await ctx.client.request<VersionRecord>(
      `/admin/models/${id(modelId)}/versions`,
      {
        body: {
          stream: bar.enabled ? source.pipe(bar.counter()) : source,
          contentType: files ? 'application/x-tar' : 'application/octet-stream',
          length: files ? undefined : stat.size,
        },
      },
    ));
  } finally {
    source.destroy();
    bar.finish();
  }

  let aliasAnswer: unknown = null;
  if (alias) {
    ({ body: aliasAnswer } = await ctx.client.request(
      `/admin/models/${id(modelId)}/aliases/${id(alias)}`,
      { method: 'PUT', json: { version: version.version } },
    ));
  }
  if (ctx.json) return printJson(ctx, { created, version, alias: aliasAnswer });
  print(
    ctx,
    `${created ? 'created model' : 'model'} ${modelId}; registered version ${version.version}` +
      ` (${formatBytes(version.size_bytes)}, sha256 ${version.sha256.slice(0, 12)})` +
      (alias ? `; ${alias} -> ${version.version}` : ''),
  );
}

async function versionsList(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const { body } = await ctx.client.request<{ versions: VersionRecord[] }>(
    `/admin/models/${id(cmd.args['id'])}/versions`,
  );
  if (ctx.json) return printJson(ctx, body);
  versionsTable(ctx, body.versions);
}

async function versionsPromote(
  ctx: Context,
  cmd: ParsedCommand,
): Promise<void> {
  const usage = commandUsage(cmd.spec);
  const version = positiveInt(cmd.args['version'], '<version>', usage);
  const alias = (cmd.options['alias'] as string | undefined) ?? 'production';
  const { body } = await ctx.client.request<{
    alias: string;
    version: number;
    previous_version: number | null;
    rollout?: { nodes: string[]; previous: string };
  }>(`/admin/models/${id(cmd.args['id'])}/aliases/${id(alias)}`, {
    method: 'PUT',
    json: { version },
  });
  if (ctx.json) return printJson(ctx, body);
  print(
    ctx,
    `${cmd.args['id']}: ${body.alias} -> ${body.version}` +
      ` (was ${body.previous_version ?? 'unset'})` +
      (body.rollout?.nodes.length
        ? `; loaded on ${body.rollout.nodes.join(', ')}`
        : '') +
      (body.rollout ? `; previous version ${body.rollout.previous}` : ''),
  );
}

async function load(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const usage = commandUsage(cmd.spec);
  const json: Record<string, number> = {};
  const version = positiveInt(
    cmd.options['version'] as string | undefined,
    '--version',
    usage,
  );
  const copies = positiveInt(
    cmd.options['copies'] as string | undefined,
    '--copies',
    usage,
  );
  if (version !== undefined) json['version'] = version;
  if (copies !== undefined) json['copies'] = copies;
  const { body } = await ctx.client.request<{
    model_id: string;
    version: number;
    nodes: string[];
  }>(`/admin/models/${id(cmd.args['id'])}/load`, { json });
  if (ctx.json) return printJson(ctx, body);
  print(
    ctx,
    `${body.model_id} version ${body.version} loaded on ${body.nodes.join(', ') || '-'}`,
  );
}

async function unload(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const version = positiveInt(
    cmd.options['version'] as string | undefined,
    '--version',
    commandUsage(cmd.spec),
  );
  const { body } = await ctx.client.request<{
    model_id: string;
    unloaded: { node_id: string; version: number; freed_bytes: number }[];
  }>(`/admin/models/${id(cmd.args['id'])}/unload`, {
    json: version === undefined ? {} : { version },
  });
  if (ctx.json) return printJson(ctx, body);
  if (body.unloaded.length === 0)
    return print(ctx, `${body.model_id}: nothing was loaded`);
  table(
    ctx,
    ['NODE', 'VERSION', 'FREED'],
    body.unloaded.map((u) => [
      u.node_id,
      u.version,
      formatBytes(u.freed_bytes),
    ]),
    [1, 2],
  );
}

async function cacheStatus(ctx: Context): Promise<void> {
  const { body } = await ctx.client.request<StatusAnswer>('/v1/models/status');
  if (ctx.json) return printJson(ctx, body);
  print(ctx, 'Runtimes');
  table(
    ctx,
    ['NODE', 'ALIVE', 'USED / CAPACITY', 'USED%', 'MODELS'],
    body.runtimes.map((r) => [
      r.node_id,
      r.alive ? 'yes' : 'no',
      `${formatBytes(r.used_bytes)} / ${formatBytes(r.capacity_bytes)}`,
      r.capacity_bytes > 0
        ? `${((100 * r.used_bytes) / r.capacity_bytes).toFixed(1)}%`
        : '-',
      r.models_loaded,
    ]),
    [2, 3, 4],
    '(no runtimes)',
  );
  print(ctx, '');
  print(ctx, 'Models');
  table(
    ctx,
    ['MODEL', 'VERSION', 'STATE', 'NODES', 'MEMORY', 'HITS/MISSES'],
    body.models.map((m) => [
      m.model_id,
      m.version,
      m.state,
      m.nodes,
      m.memory_bytes ? formatBytes(m.memory_bytes) : '-',
      `${m.hits}/${m.misses}`,
    ]),
    [1, 4, 5],
    '(no models)',
  );
}

async function keysCreate(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const scopes = (cmd.options['scopes'] as string)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0)
    throw new UsageError(
      '--scopes: name at least one scope',
      commandUsage(cmd.spec),
    );
  const { body } = await ctx.client.request<KeyRecord>('/admin/keys', {
    json: { name: cmd.args['name'], scopes },
  });
  if (ctx.json) return printJson(ctx, body);
  print(
    ctx,
    [
      formatFields([
        ['id', body.id],
        ['name', body.name],
        ['scopes', body.scopes],
        ['key', body.key],
      ]),
      '',
      'The key is shown this once only: store it now.',
    ].join('\n'),
  );
}

async function keysList(ctx: Context): Promise<void> {
  const { body } = await ctx.client.request<{ keys: KeyRecord[] }>(
    '/admin/keys',
  );
  if (ctx.json) return printJson(ctx, body);
  table(
    ctx,
    ['ID', 'NAME', 'PREFIX', 'SCOPES', 'CREATED', 'BY', 'REVOKED'],
    body.keys.map((k) => [
      k.id,
      k.name,
      k.prefix,
      k.scopes,
      time(k.created_at),
      k.created_by,
      time(k.revoked_at),
    ]),
    [],
    '(no keys)',
  );
}

async function keysRevoke(ctx: Context, cmd: ParsedCommand): Promise<void> {
  const { body } = await ctx.client.request<KeyRecord>(
    `/admin/keys/${id(cmd.args['id'])}`,
    { method: 'DELETE' },
  );
  if (ctx.json) return printJson(ctx, body);
  print(ctx, `revoked key ${body.id} (${body.name}, ${body.prefix}...)`);
}

type Handler = (ctx: Context, cmd: ParsedCommand) => Promise<void>;

export const HANDLERS: Readonly<Record<string, Handler>> = {
  'models list': modelsList,
  'models get': modelsGet,
  'models register': modelsRegister,
  'versions list': versionsList,
  'versions promote': versionsPromote,
  load,
  unload,
  'cache status': cacheStatus,
  'keys create': keysCreate,
  'keys list': keysList,
  'keys revoke': keysRevoke,
};
