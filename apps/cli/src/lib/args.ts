import { parseArgs } from 'node:util';

import { EXIT_CODES_HELP, UsageError } from './errors';

type OptionType = 'string' | 'boolean';

interface OptionSpec {
  readonly type: OptionType;
  readonly multiple?: boolean;
  readonly short?: string;
  /** `--name <value>` in help. */
  readonly value?: string;
  readonly description: string;
}

export interface CommandSpec {
  /** `['models', 'list']`, `['load']`. */
  readonly path: readonly string[];
  /** Required positional arguments, in order. */
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly required?: readonly string[];
  readonly summary: string;
  readonly details?: string;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: {
    type: 'string',
    value: '<url>',
    description:
      'server URL (default: $PORTFOLIO_CLI_URL, else http://127.0.0.1:8080)',
  },
  key: {
    type: 'string',
    value: '<key>',
    description:
      'API key (default: $PORTFOLIO_CLI_KEY, else $PORTFOLIO_API_KEY)',
  },
  json: {
    type: 'boolean',
    description: "print the API's JSON answer (one document) on stdout",
  },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

const version: OptionSpec = {
  type: 'string',
  value: '<n>',
  description: 'version number',
};

export const COMMANDS: readonly CommandSpec[] = [
  {
    path: ['models', 'list'],
    args: [],
    options: {
      label: {
        type: 'string',
        multiple: true,
        value: '<key=value>',
        description: 'only models with this label (repeatable)',
      },
    },
    summary: 'list the registered models',
  },
  {
    path: ['models', 'get'],
    args: ['id'],
    options: {},
    summary: 'show a model and its versions',
  },
  {
    path: ['models', 'register'],
    args: ['id', 'path'],
    options: {
      format: {
        type: 'string',
        value: '<format>',
        description:
          'onnx, tensorflow, pytorch, sklearn, huggingface or custom (required)',
      },
      alias: {
        type: 'string',
        value: '<alias>',
        description: 'then point this alias (e.g. production) at the version',
      },
    },
    required: ['format'],
    summary: 'create the model if missing and upload a version',
    details:
      'Uploads <path>: a file as it is, a directory as a tar of its files.\n' +
      'A progress bar is drawn on stderr when it is a terminal.\n' +
      'With --json: {"created": bool, "version": <version record>, "alias": <alias answer> | null}.',
  },
  {
    path: ['versions', 'list'],
    args: ['id'],
    options: {},
    summary: "list a model's versions",
  },
  {
    path: ['versions', 'promote'],
    args: ['id', 'version'],
    options: {
      alias: {
        type: 'string',
        value: '<alias>',
        description: 'the alias to move (default: production)',
      },
    },
    summary: 'point an alias at a version',
  },
  {
    path: ['load'],
    args: ['id'],
    options: {
      version,
      copies: {
        type: 'string',
        value: '<n>',
        description: 'how many runtimes should hold it (default 1)',
      },
    },
    summary: 'load a model now (default: the version predict uses)',
  },
  {
    path: ['unload'],
    args: ['id'],
    options: { version },
    summary: 'unload a model (default: every version)',
  },
  {
    path: ['cache', 'status'],
    args: [],
    options: {},
    summary: 'runtimes and models as the cache-manager sees them',
  },
  {
    path: ['keys', 'create'],
    args: ['name'],
    options: {
      scopes: {
        type: 'string',
        value: '<list>',
        description: 'comma-separated: predict, read, admin (required)',
      },
    },
    required: ['scopes'],
    summary: 'create an API key (printed once)',
  },
  {
    path: ['keys', 'list'],
    args: [],
    options: {},
    summary: 'list API keys (prefixes, never keys)',
  },
  {
    path: ['keys', 'revoke'],
    args: ['id'],
    options: {},
    summary: 'revoke an API key',
  },
];

export type OptionValues = Record<
  string,
  string | boolean | string[] | undefined
>;

export interface ParsedCommand {
  readonly kind: 'command';
  readonly spec: CommandSpec;
  /** Positional arguments by name. */
  readonly args: Readonly<Record<string, string>>;
  readonly options: OptionValues;
}

export interface HelpRequest {
  readonly kind: 'help';
  readonly text: string;
}

const ALL_OPTIONS: Record<string, OptionSpec> = Object.assign(
  {},
  GLOBAL_OPTIONS,
  ...COMMANDS.map((c) => c.options),
);

/**
 * argv (without `node main.js`) -> the command to run, or the help asked for.
 * Throws UsageError, carrying the usage to print, for anything else.
 */
export function parseCommandLine(
  argv: readonly string[],
): ParsedCommand | HelpRequest {
  // A loose first pass finds the command words wherever the options are.
  const loose = parseArgs({
    args: [...argv],
    options: toParseArgsOptions(ALL_OPTIONS),
    strict: false,
    allowPositionals: true,
  });
  let words = loose.positionals;
  let help = loose.values['help'] === true;
  if (words[0] === 'help') {
    words = words.slice(1);
    help = true;
  }

  const spec = COMMANDS.find((c) =>
    c.path.every((word, i) => words[i] === word),
  );
  if (!spec) {
    const group = COMMANDS.filter((c) => c.path[0] === words[0]);
    const usage = group.length > 0 ? groupUsage(group) : mainUsage();
    if (help && (words.length <= 1 || group.length === 0))
      return { kind: 'help', text: usage };
    if (words.length === 0) throw new UsageError('no command given', usage);
    const what = group.length > 0 ? words.slice(0, 2).join(' ') : words[0];
    throw new UsageError(
      words.length === 1 && group.length > 0
        ? `${what}: which one?`
        : `unknown command: ${what}`,
      usage,
    );
  }

  const usage = commandUsage(spec);
  if (help) return { kind: 'help', text: usage };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: toParseArgsOptions({ ...GLOBAL_OPTIONS, ...spec.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), usage);
  }
  const positionals = parsed.positionals.slice(spec.path.length);
  if (positionals.length < spec.args.length)
    throw new UsageError(`missing <${spec.args[positionals.length]}>`, usage);
  if (positionals.length > spec.args.length)
    throw new UsageError(
      `unexpected argument: ${positionals[spec.args.length]}`,
      usage,
    );
  for (const name of spec.required ?? []) {
    if (parsed.values[name] === undefined || parsed.values[name] === '')
      throw new UsageError(`--${name} is required`, usage);
  }
  const args: Record<string, string> = {};
  spec.args.forEach((name, i) => (args[name] = positionals[i]));
  return {
    kind: 'command',
    spec,
    args,
    options: parsed.values as OptionValues,
  };
}

function toParseArgsOptions(specs: Record<string, OptionSpec>) {
  const out: Record<
    string,
    { type: OptionType; multiple?: boolean; short?: string }
  > = {};
  for (const [name, s] of Object.entries(specs))
    out[name] = {
      type: s.type,
      ...(s.multiple && { multiple: true }),
      ...(s.short && { short: s.short }),
    };
  return out;
}

function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // "Unknown option '--x'. To specify a positional argument starting with a '-', ..."
  return message.split('. ')[0].replace(/\.$/, '');
}

/** A positive integer option or argument, or a UsageError. */
export function positiveInt(
  value: string | undefined,
  what: string,
  usage: string,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(value))
    throw new UsageError(
      `${what}: expected a positive integer, got ${JSON.stringify(value)}`,
      usage,
    );
  return Number(value);
}

function optionLines(specs: Record<string, OptionSpec>): string[] {
  const entries = Object.entries(specs).map(([name, s]) => [
    `${s.short ? `-${s.short}, ` : ''}--${name}${s.value ? ` ${s.value}` : ''}`,
    s.description,
  ]);
  const width = Math.max(...entries.map(([l]) => l.length));
  return entries.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`);
}

export function commandLine(spec: CommandSpec): string {
  const options = Object.entries(spec.options).map(([name, s]) => {
    const text = `--${name}${s.value ? ` ${s.value}` : ''}`;
    return spec.required?.includes(name) ? text : `[${text}]`;
  });
  return [
    'portfolio',
    ...spec.path,
    ...spec.args.map((a) => `<${a}>`),
    ...options,
  ].join(' ');
}

export function commandUsage(spec: CommandSpec): string {
  return [
    `Usage: ${commandLine(spec)} [--url <url>] [--key <key>] [--json]`,
    '',
    `${spec.summary[0].toUpperCase()}${spec.summary.slice(1)}.`,
    ...(spec.details ? ['', spec.details] : []),
    '',
    'Options:',
    ...optionLines({ ...spec.options, ...GLOBAL_OPTIONS }),
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

function commandList(specs: readonly CommandSpec[]): string[] {
  const lines = specs.map((s) => [commandLine(s), s.summary]);
  const width = Math.max(...lines.map(([l]) => l.length));
  return lines.map(([l, s]) => `  ${l.padEnd(width)}  ${s}`);
}

function groupUsage(specs: readonly CommandSpec[]): string {
  return [
    'Usage:',
    ...commandList(specs),
    '',
    `Run "portfolio ${specs[0].path[0]} <command> --help" for a command's options.`,
  ].join('\n');
}

export function mainUsage(): string {
  return [
    'Usage: portfolio <command> [options]',
    '',
    "Portfolio's admin CLI, over the HTTP admin API.",
    '',
    'Commands:',
    ...commandList(COMMANDS),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Environment:',
    '  PORTFOLIO_CLI_URL  server URL (--url)',
    '  PORTFOLIO_CLI_KEY  API key (--key); PORTFOLIO_API_KEY is used when it is unset',
    '',
    EXIT_CODES_HELP,
    '',
    'Run "portfolio <command> --help" for a command\'s options.',
  ].join('\n');
}
