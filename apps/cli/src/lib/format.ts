/** Human-readable output: sizes and aligned tables. */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** 512 -> "512 B", 1536 -> "1.5 KiB", 3 * 2 ** 20 -> "3.0 MiB"; null -> "-". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes))
    return '-';
  if (Math.abs(bytes) < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

export interface TableOptions {
  /** Indexes of the columns aligned to the right (numbers). */
  readonly right?: readonly number[];
  /** Bold headers (only when writing to a terminal). */
  readonly color?: boolean;
}

/**
 * Columns aligned with two spaces between them, a header row, no trailing
 * spaces. Without `color` the text holds no escape sequences.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly unknown[])[],
  options: TableOptions = {},
): string {
  const cells = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((row) => row[i].length)),
  );
  const right = new Set(options.right ?? []);
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) =>
        right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]),
      )
      .join('  ')
      .trimEnd();
  const header = line(headers);
  return [
    options.color ? `\u001b[1m${header}\u001b[0m` : header,
    ...cells.map(line),
  ].join('\n');
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value))
    return value.length ? value.map(String).join(',') : '-';
  return String(value).replace(/\s+/g, ' ');
}

/** `key: value` lines with the keys aligned. */
export function formatFields(fields: readonly [string, unknown][]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields
    .map(([k, v]) => `${`${k}:`.padEnd(width)} ${cellText(v)}`)
    .join('\n');
}

export function formatLabels(
  labels: Record<string, string> | null | undefined,
): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}
