import type { LoggerService, LogLevel } from '@nestjs/common';
import { hostname } from 'node:os';
import { pino, Level, Logger as Pino } from 'pino';

import { activeTraceIds } from '../tracing/spans';
import { LogFormat } from './log-format';
import { formatLogRecord } from './pretty';

/** The configuration's levels (log.level), least to most verbose. */
export type PortfolioLogLevel = 'error' | 'warn' | 'info' | 'debug' | 'verbose';

export interface PortfolioLoggerOptions {
  /** The app: every line says which (`service`). */
  readonly service: string;
  readonly level: PortfolioLogLevel;
  readonly format: LogFormat;
  /** Fields every line carries besides the service (a runtime's `node_id`). */
  readonly fields?: Readonly<Record<string, string>>;
  /** Colours in the pretty format (a terminal, without NO_COLOR). */
  readonly color?: boolean;
  /** Where lines go; default stdout (synchronous on Linux for files, pipes and terminals). */
  readonly stream?: { write(line: string): unknown };
}

/** Nest's levels as pino's: `log` is info, `verbose` is trace. */
const PINO_LEVEL: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

const CONFIG_LEVEL: Record<PortfolioLogLevel, Level> = {
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** Most verbose first, as pino ranks them. */
const PINO_ORDER: Level[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
];

/** Fields a caller's object cannot override: they describe the line itself. */
const RESERVED = new Set([
  'level',
  'time',
  'service',
  'pid',
  'hostname',
  'message',
  'context',
]);

/**
 * Every app's logger, behind Nest's Logger (set with Logger.overrideLogger and as the
 * app's logger): one JSON object per line with `level`, `time` (ISO 8601), `service`,
 * `pid`, `hostname`, `context` (the Nest logger's name), `message`, and `trace_id` /
 * `span_id` when written inside a traced span; or, in the pretty format, one line a
 * person reads (see formatLogRecord).
 *
 * Nest's calling conventions hold: the last string argument is the context; for
 * errors, a string before it that looks like a stack trace is the stack (`stack`); an
 * Error anywhere gives its message and stack; a plain object adds its fields to the line
 * (`logger.error(message, { request_id })`).
 */
export class PortfolioLogger implements LoggerService {
  private readonly pino: Pino;

  constructor(private readonly options: PortfolioLoggerOptions) {
    const color = options.color ?? false;
    const out = options.stream ?? process.stdout;
    const destination =
      options.format === 'pretty'
        ? {
            write: (line: string) =>
              out.write(
                `${formatLogRecord(JSON.parse(line) as Record<string, unknown>, { color })}\n`,
              ),
          }
        : out;
    this.pino = pino(
      {
        level: CONFIG_LEVEL[options.level],
        messageKey: 'message',
        base: {
          service: options.service,
          pid: process.pid,
          hostname: hostname(),
          ...options.fields,
        },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        mixin: () => activeTraceIds() ?? {},
      },
      destination,
    );
  }

  get service(): string {
    return this.options.service;
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  /** Nest's `setLogLevels`: the most verbose level named is the threshold. */
  setLogLevels(levels: LogLevel[]): void {
    const wanted = levels.map((l) => PINO_LEVEL[l]).filter(Boolean);
    if (wanted.length === 0) {
      this.pino.level = 'silent';
      return;
    }
    this.pino.level = PINO_ORDER.find((l) => wanted.includes(l)) ?? 'info';
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.pino.isLevelEnabled(PINO_LEVEL[level]);
  }

  private write(
    level: Level,
    message: unknown,
    params: unknown[],
    mayHaveStack = false,
  ): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = [...params];
    const fields: Record<string, unknown> = {};
    const last = rest[rest.length - 1];
    fields['context'] =
      typeof last === 'string' && rest.length > 0
        ? (rest.pop() as string)
        : this.options.service;
    let text = '';
    const take = (value: unknown, first: boolean) => {
      if (value === undefined || value === null) return;
      if (value instanceof Error) {
        if (first || !text) text = value.message;
        fields['stack'] ??= value.stack;
        return;
      }
      if (typeof value === 'string') {
        if (!first && mayHaveStack && looksLikeStack(value)) {
          fields['stack'] ??= value;
          return;
        }
        text = text ? `${text} ${value}` : value;
        return;
      }
      if (typeof value === 'object') {
        const obj = value as Record<string, unknown>;
        if (first && typeof obj['message'] === 'string') text = obj['message'];
        for (const [k, v] of Object.entries(obj))
          if (!RESERVED.has(k)) fields[k] = v;
        return;
      }
      text = text ? `${text} ${String(value)}` : String(value);
    };
    take(message, true);
    for (const p of rest) take(p, false);
    this.pino[level](fields, text);
  }
}

function looksLikeStack(s: string): boolean {
  return /\n\s+at /.test(s);
}
