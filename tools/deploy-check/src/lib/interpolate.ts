/**
 * Docker Compose's variable interpolation, as the Compose specification defines it for
 * values: `$$` is a literal `$`; `$VAR` and `${VAR}` the variable (empty when unset);
 * `${VAR:-default}` / `${VAR-default}` a default when unset or empty / unset;
 * `${VAR:?message}` / `${VAR?message}` an error when unset or empty / unset;
 * `${VAR:+replacement}` / `${VAR+replacement}` the replacement when set (and not empty /
 * at all). Defaults are taken as written (no nested interpolation: this project's files
 * use none).
 */
export type HostEnv = Readonly<Record<string, string | undefined>>;

export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const BRACED = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}/;

/** `text` with its variables replaced; every name read is added to `used`. */
export function interpolate(
  text: string,
  env: HostEnv,
  used: Set<string> = new Set(),
): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const rest = text.slice(dollar);
    if (rest.startsWith('$$')) {
      out += '$';
      i = dollar + 2;
      continue;
    }
    const braced = BRACED.exec(rest);
    if (braced) {
      const [whole, name, op, arg = ''] = braced;
      used.add(name);
      out += substitute(name, op, arg, env);
      i = dollar + whole.length;
      continue;
    }
    if (rest.startsWith('${'))
      throw new InterpolationError(
        `invalid interpolation "${rest.slice(0, rest.indexOf('}') + 1 || undefined)}"`,
      );
    const bare = NAME.exec(rest.slice(1));
    if (bare) {
      used.add(bare[0]);
      out += env[bare[0]] ?? '';
      i = dollar + 1 + bare[0].length;
      continue;
    }
    out += '$';
    i = dollar + 1;
  }
  return out;
}

function substitute(
  name: string,
  op: string | undefined,
  arg: string,
  env: HostEnv,
): string {
  const value = env[name];
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (op) {
    case undefined:
      return value ?? '';
    case ':-':
      return empty ? arg : value;
    case '-':
      return value ?? arg;
    case ':?':
    case '?':
      if (op === ':?' ? empty : unset)
        throw new InterpolationError(arg || `${name} is required`);
      return value ?? '';
    case ':+':
      return empty ? '' : arg;
    case '+':
      return unset ? '' : arg;
    default:
      throw new InterpolationError(`unknown operator ${op} in \${${name}}`);
  }
}

/** Every string of a parsed YAML tree interpolated; a new tree, the input untouched. */
export function interpolateTree(
  value: unknown,
  env: HostEnv,
  used: Set<string> = new Set(),
): unknown {
  if (typeof value === 'string') return interpolate(value, env, used);
  if (Array.isArray(value))
    return value.map((v) => interpolateTree(v, env, used));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateTree(v, env, used)]),
    );
  return value;
}
