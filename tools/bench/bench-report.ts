/**
 * What every benchmark in tools/bench shares: its options (`--write` records the
 * section in docs/benchmarks.md, `--json FILE` writes the figures for others to
 * check), and the markdown it records. A section lies between
 * `<!-- bench:<name>:begin -->` and `<!-- bench:<name>:end -->`; writing replaces it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const REPO_ROOT = join(__dirname, '..', '..');

export interface BenchOptions {
  readonly write: boolean;
  readonly json: string | null;
  /** `--name value` options other than the two above. */
  readonly values: ReadonlyMap<string, string>;
  readonly flags: ReadonlySet<string>;
}

export function benchOptions(argv = process.argv.slice(2)): BenchOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      values.set(arg.slice(2), next);
      i++;
    } else flags.add(arg.slice(2));
  }
  const json = values.get('json') ?? null;
  values.delete('json');
  const write = flags.delete('write');
  return { write, json, values, flags };
}

export function machineLine(): string {
  const cores = cpus();
  return `Machine: ${cores.length} x ${cores[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}.`;
}

export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned = header.map((_, i) => i > 0),
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(header),
    line(header.map((_, i) => (rightAligned[i] ? '---:' : '---'))),
    ...rows.map(line),
  ].join('\n');
}

export function recordSection(
  name: string,
  command: string,
  body: string,
): string {
  const file = join(REPO_ROOT, 'docs', 'benchmarks.md');
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const current = readFileSync(file, 'utf8');
  const section = `${begin}\n_Recorded ${new Date().toISOString().slice(0, 10)} by \`${command}\`._\n\n${body}\n${end}`;
  const next = current.includes(begin)
    ? current.replace(new RegExp(`${begin}[\\s\\S]*${end}`), () => section)
    : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
  return file;
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Prints nothing: writes `json` to `--json FILE` and records `body` with `--write`, as asked. */
export function report(
  options: BenchOptions,
  name: string,
  command: string,
  body: string,
  json: unknown,
): void {
  if (options.json) writeJson(options.json, json);
  if (options.write) {
    const file = recordSection(name, command, body);
    process.stdout.write(`recorded in ${file}\n`);
  }
}

export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
