/**
 * The metric names a PromQL expression reads, for tests that check dashboards and alert
 * rules against what a running cluster exports. A tokenizer, not a parser: it skips
 * strings, label matchers (`{...}`), ranges and subqueries (`[...]`), numbers and
 * durations, comments, Grafana variables (`$model`, `${model}`, `$__rate_interval`),
 * keywords and operators; an identifier followed by `(` (or by `by (` or `without (`)
 * is a function or an aggregation;
 * the label lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`
 * are skipped whole. Every other identifier is a metric name.
 */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'atan2',
]);
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
const IDENT_START = /[a-zA-Z_:]/;
const IDENT = /[a-zA-Z0-9_:]/;

export function promqlMetricNames(expr: string): string[] {
  const names = new Set<string>();
  let i = 0;
  const n = expr.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(expr[i])) i++;
  };
  const skipString = () => {
    const quote = expr[i++];
    while (i < n && expr[i] !== quote) i += expr[i] === '\\' ? 2 : 1;
    i++;
  };
  /** From an opening bracket to its match, strings inside included. */
  const skipBlock = (open: string, close: string) => {
    let depth = 0;
    while (i < n) {
      const c = expr[i];
      if (c === '"' || c === "'" || c === '`') {
        skipString();
        continue;
      }
      if (c === open) depth++;
      else if (c === close && --depth === 0) {
        i++;
        return;
      }
      i++;
    }
    throw new Error(`unbalanced ${open} in ${JSON.stringify(expr)}`);
  };
  const readIdent = () => {
    const start = i;
    while (i < n && IDENT.test(expr[i])) i++;
    return expr.slice(start, i);
  };

  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === '`') {
      skipString();
    } else if (c === '{') {
      skipBlock('{', '}');
    } else if (c === '[') {
      skipBlock('[', ']');
    } else if (c === '#') {
      while (i < n && expr[i] !== '\n') i++;
    } else if (c === '$') {
      i++;
      if (expr[i] === '{') skipBlock('{', '}');
      else readIdent();
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(expr[i + 1]))) {
      // Numbers (0.95, 1e3, 0x1f) and durations (5m, 1h30m).
      i++;
      while (
        i < n &&
        (/[0-9a-zA-Z_.]/.test(expr[i]) ||
          (/[+-]/.test(expr[i]) && /[eE]/.test(expr[i - 1])))
      )
        i++;
    } else if (IDENT_START.test(c)) {
      const word = readIdent();
      skipSpace();
      const lower = word.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(lower)) {
        if (expr[i] === '(') skipBlock('(', ')');
      } else if (
        expr[i] === '(' ||
        KEYWORDS.has(lower) ||
        /^(by|without)\s*\(/i.test(expr.slice(i, i + 12))
      ) {
        // A function or an aggregation (`sum by (x) (...)` too; its arguments are
        // read on), or a keyword.
      } else {
        names.add(word);
      }
    } else {
      i++;
    }
  }
  return [...names];
}

/**
 * The family a sample name belongs to among `families` (name -> type, as the TYPE lines
 * of a scrape give them): itself, or a histogram's (summary's) for its `_bucket`,
 * `_sum` and `_count` series. Undefined when no family has it.
 */
export function metricFamilyOf(
  name: string,
  families: ReadonlyMap<string, string>,
): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = families.get(base);
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket'))
      return base;
  }
  return undefined;
}
