/**
 * Just enough of a Dockerfile's meaning for the deployment checks: its stages, what each
 * inherits, and the ENV, USER, EXPOSE, CMD and RUN instructions that end up in an image.
 */
export interface DockerStage {
  readonly name: string;
  /** The stage it is built FROM: another stage's name, or an image. */
  readonly from: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string | null;
  readonly expose: readonly string[];
  /** CMD as an exec-form array (null: not set in this stage). */
  readonly cmd: readonly string[] | null;
  readonly healthcheck: readonly string[] | null;
  readonly run: readonly string[];
}

export interface Dockerfile {
  readonly stages: ReadonlyMap<string, DockerStage>;
  /** The image a target builds: its stage and every stage it inherits from, merged. */
  image(target: string): DockerStage;
}

interface MutableStage {
  name: string;
  from: string;
  env: Record<string, string>;
  user: string | null;
  expose: string[];
  cmd: string[] | null;
  healthcheck: string[] | null;
  run: string[];
}

/** Instructions, one a line: continuation lines joined, comments dropped. */
function instructions(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') out.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

function unquote(value: string): string {
  return /^".*"$|^'.*'$/.test(value) ? value.slice(1, -1) : value;
}

/** `ENV A=1 B="two words"` (or the legacy `ENV A 1`). */
function envPairs(args: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [name, ...rest] = args.split(/\s+/);
    pairs[name] = rest.join(' ');
    return pairs;
  }
  const token = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  for (const m of args.matchAll(token)) pairs[m[1]] = unquote(m[2]);
  return pairs;
}

/** An exec-form (JSON array) argument; a shell-form one as ['/bin/sh', '-c', text]. */
function execForm(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'))
      return parsed;
    throw new Error(`not an array of strings: ${args}`);
  }
  return ['/bin/sh', '-c', args];
}

export function parseDockerfile(text: string): Dockerfile {
  const stages = new Map<string, MutableStage>();
  let stage: MutableStage | null = null;
  let unnamed = 0;
  for (const line of instructions(text)) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const op = keyword.toUpperCase();
    if (op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m) throw new Error(`cannot read "${line}"`);
      stage = {
        name: m[2] ?? `#${unnamed++}`,
        from: m[1],
        env: {},
        user: null,
        expose: [],
        cmd: null,
        healthcheck: null,
        run: [],
      };
      stages.set(stage.name, stage);
      continue;
    }
    if (!stage) continue; // ARG before the first FROM
    switch (op) {
      case 'ENV':
        Object.assign(stage.env, envPairs(args));
        break;
      case 'USER':
        stage.user = args;
        break;
      case 'EXPOSE':
        stage.expose.push(...args.split(/\s+/));
        break;
      case 'CMD':
        stage.cmd = execForm(args);
        break;
      case 'HEALTHCHECK': {
        const cmd = /\bCMD\s+(.*)$/.exec(args);
        stage.healthcheck = cmd ? execForm(cmd[1]) : null;
        break;
      }
      case 'RUN':
        stage.run.push(args.replace(/^(--\S+\s+)+/, ''));
        break;
    }
  }

  const image = (target: string): DockerStage => {
    const chain: MutableStage[] = [];
    for (let s = stages.get(target); s !== undefined; s = stages.get(s.from)) {
      if (chain.includes(s)) throw new Error(`stage ${s.name} inherits itself`);
      chain.unshift(s);
    }
    if (chain.length === 0) throw new Error(`no stage named ${target}`);
    return chain.reduce<DockerStage>(
      (merged, s) => ({
        name: target,
        from: merged.from,
        env: { ...merged.env, ...s.env },
        user: s.user ?? merged.user,
        expose: [...merged.expose, ...s.expose],
        cmd: s.cmd ?? merged.cmd,
        healthcheck: s.healthcheck ?? merged.healthcheck,
        run: [...merged.run, ...s.run],
      }),
      {
        name: target,
        from: chain[0].from,
        env: {},
        user: null,
        expose: [],
        cmd: null,
        healthcheck: null,
        run: [],
      },
    );
  };
  return { stages, image };
}

/** Whether a Dockerfile USER names an unprivileged user by number (uid and gid not 0). */
export function isNumericNonRoot(user: string | null): boolean {
  if (user === null) return false;
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  return (
    m !== null &&
    Number(m[1]) !== 0 &&
    (m[2] === undefined || Number(m[2]) !== 0)
  );
}
