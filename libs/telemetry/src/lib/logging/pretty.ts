/**
 * The human-readable rendering of a JSON log line: what a terminal shows, and what the
 * test harness shows of a service's output.
 *
 *   10:42:01.123 INFO  [cache-manager] CacheManager: loaded iris@1 on runtime-a ... trace_id=4bf9...
 *
 * Local time, level, service, context, message, then the line's other fields as
 * `key=value`; a stack trace follows on its own lines.
 */

/** Fields every line has, shown in the line's head rather than as key=value. */
const HEAD_FIELDS = new Set([
  'level',
  'time',
  'service',
  'context',
  'message',
  'pid',
  'hostname',
  'stack',
  // The trace id is enough to find the trace; its span id is for machines.
  'span_id',
]);

const COLORS: Record<string, string> = {
  FATAL: '\x1b[35m',
  ERROR: '\x1b[31m',
  WARN: '\x1b[33m',
  INFO: '\x1b[32m',
  DEBUG: '\x1b[34m',
  TRACE: '\x1b[90m',
};
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export interface PrettyOptions {
  readonly color?: boolean;
}

export function formatLogRecord(
  record: Readonly<Record<string, unknown>>,
  options: PrettyOptions = {},
): string {
  const color = options.color ?? false;
  const paint = (code: string | undefined, text: string) =>
    color && code ? `${code}${text}${RESET}` : text;
  const level = String(record['level'] ?? 'info').toUpperCase();
  const time = clock(record['time']);
  const service =
    typeof record['service'] === 'string' ? `[${record['service']}] ` : '';
  // A line logged under the service's own name says it once.
  const context =
    typeof record['context'] === 'string' &&
    record['context'] &&
    record['context'] !== record['service']
      ? `${paint(CYAN, String(record['context']))}: `
      : '';
  const message = String(record['message'] ?? '');
  const extras = Object.entries(record)
    .filter(([k, v]) => !HEAD_FIELDS.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const stack =
    typeof record['stack'] === 'string' && record['stack']
      ? `\n${indent(record['stack'], message)}`
      : '';
  return `${paint(DIM, time)} ${paint(COLORS[level], level.padEnd(5))} ${service}${context}${message}${extras ? `  ${paint(DIM, extras)}` : ''}${stack}`;
}

/**
 * One line of a service's output, rendered readable when it is a JSON log line, as it
 * is otherwise (a line printed raw, such as "gateway ready").
 */
export function prettyLogLine(
  line: string,
  options: PrettyOptions = {},
): string {
  if (!line.startsWith('{"level":')) return line;
  try {
    const record = JSON.parse(line) as unknown;
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      return line;
    return formatLogRecord(record as Record<string, unknown>, options);
  } catch {
    return line;
  }
}

/** Every line of `text` rendered by prettyLogLine. */
export function prettyLogText(
  text: string,
  options: PrettyOptions = {},
): string {
  return text
    .split('\n')
    .map((line) => prettyLogLine(line, options))
    .join('\n');
}

function clock(time: unknown): string {
  const date =
    typeof time === 'string' || typeof time === 'number'
      ? new Date(time)
      : new Date(NaN);
  if (Number.isNaN(date.getTime())) return '--:--:--.---';
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** The stack under the line, without its first line when the message says it already. */
function indent(stack: string, message: string): string {
  const lines = stack.split('\n');
  const head = lines[0] ?? '';
  const colon = head.indexOf(': ');
  const said = colon > 0 ? head.slice(colon + 2) : head;
  if (said && message.includes(said)) lines.shift();
  return lines.map((l) => `    ${l.trim()}`).join('\n');
}
