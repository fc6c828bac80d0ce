/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every
 * line must be a HELP or TYPE comment or a sample of a declared family, or it throws
 * naming the line.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const COMMENT = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`);
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)( -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePrometheusText(text: string): {
  types: Map<string, string>;
  samples: Sample[];
} {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, i) => {
    const fail = (why: string) => {
      throw new Error(`line ${i + 1} (${JSON.stringify(line)}): ${why}`);
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = COMMENT.exec(line);
      if (!m) return fail('not a HELP or TYPE comment');
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3])) fail(`unknown type ${m[3]}`);
        types.set(m[2], m[3]);
      }
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) return fail('not a sample');
    const [, name, , rawLabels = '', rawValue] = m;
    const family = [...types].find(([f, type]) =>
      (SUFFIXES[type] ?? ['']).some((s) => name === f + s),
    );
    if (!family) fail(`no TYPE declared for ${name}`);
    const value = parseValue(rawValue);
    if (value === null) fail(`bad value ${rawValue}`);
    const labels: Record<string, string> = {};
    let rest = rawLabels;
    while (rest.length) {
      const l = LABEL.exec(rest);
      if (!l) return fail(`bad labels ${rawLabels}`);
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      );
      rest = rest.slice(l[0].length);
    }
    samples.push({ name, labels, value: value as number });
  });
  return { types, samples };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case. */
function parseValue(raw: string): number | null {
  const lower = raw.toLowerCase();
  if (lower === 'nan') return NaN;
  if (/^[+]?inf(inity)?$/.test(lower)) return Infinity;
  if (/^-inf(inity)?$/.test(lower)) return -Infinity;
  const n = Number(raw);
  return raw.trim() !== '' && !Number.isNaN(n) ? n : null;
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1)
    throw new Error(
      `${found.length} samples of ${name} match ${JSON.stringify(labels)}`,
    );
  return found[0]?.value;
}

/** sampleValue of what `registry` serves now, as a scrape reads it. */
export async function scrapedValue(
  registry: { metrics(): Promise<string> },
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  return sampleValue(
    parsePrometheusText(await registry.metrics()).samples,
    name,
    labels,
  );
}
