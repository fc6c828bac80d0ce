import { transformFileSync } from '@swc/core';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** The workspace root (libs/testing/src/lib/util -> five levels up). */
const WORKSPACE_ROOT = resolve(__dirname, '../../../../..');

/**
 * A TypeScript entry point and everything it imports from the workspace, compiled to
 * CommonJS with SWC once per change of the sources (under node_modules/.cache, so that
 * packages resolve from the workspace): what tests give a worker thread or a child
 * process to run where production runs a webpack-built script (the runtime's
 * inference worker, the trial load). Under @swc-node/register each thread took 1.5-2.5 s
 * to start (the loader reads tsconfig through TypeScript every time); this, about 0.1 s.
 * Returns the compiled entry's path.
 */
export function compileForNode(entry: string): string {
  const aliases = workspaceAliases();
  const sources = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (sources.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    sources.set(file, source);
    for (const spec of importsOf(source)) {
      const target = resolveSource(file, spec, aliases);
      if (target) pending.push(target);
    }
  }
  const hash = createHash('sha256');
  for (const [file, source] of [...sources].sort(([a], [b]) =>
    a.localeCompare(b),
  ))
    hash.update(file).update('\0').update(source).update('\0');
  const outDir = resolve(
    WORKSPACE_ROOT,
    'node_modules/.cache/portfolio-test-worker',
    hash.digest('hex').slice(0, 16),
  );
  const outFile = (file: string, dir = outDir) =>
    resolve(dir, relative(WORKSPACE_ROOT, file).replace(/\.ts$/, '.js'));
  if (!existsSync(outDir)) {
    // Written aside and renamed into place: jest's workers may compile at the same time.
    const building = `${outDir}.${process.pid}`;
    for (const file of sources.keys()) {
      let { code } = transformFileSync(file, {
        swcrc: false,
        configFile: false,
        sourceMaps: 'inline',
        module: { type: 'commonjs' },
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
      });
      // Path aliases become relative paths between the compiled files.
      code = code.replace(
        /require\("(@portfolio\/[^"]+)"\)/g,
        (whole, spec: string) => {
          const target = aliases.get(spec);
          if (!target) return whole;
          let rel = relative(dirname(outFile(file)), outFile(target));
          if (!rel.startsWith('.')) rel = `./${rel}`;
          return `require(${JSON.stringify(rel)})`;
        },
      );
      mkdirSync(dirname(outFile(file, building)), { recursive: true });
      writeFileSync(outFile(file, building), code);
    }
    try {
      renameSync(building, outDir);
    } catch {
      // Another process got there first with the same sources.
      rmSync(building, { recursive: true, force: true });
    }
  }
  return outFile(entry);
}

/** `@portfolio/*` -> source file, from tsconfig.base.json's paths. */
function workspaceAliases(): Map<string, string> {
  const tsconfig = JSON.parse(
    readFileSync(resolve(WORKSPACE_ROOT, 'tsconfig.base.json'), 'utf8'),
  ) as { compilerOptions: { paths: Record<string, string[]> } };
  return new Map(
    Object.entries(tsconfig.compilerOptions.paths).map(([alias, [target]]) => [
      alias,
      resolve(WORKSPACE_ROOT, target),
    ]),
  );
}

function importsOf(source: string): string[] {
  const specs: string[] = [];
  const pattern =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(pattern)) specs.push(m[1]);
  return specs;
}

/** The TypeScript source an import names, or null for packages. */
function resolveSource(
  from: string,
  spec: string,
  aliases: Map<string, string>,
): string | null {
  if (aliases.has(spec)) return aliases.get(spec) ?? null;
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')])
    if (existsSync(candidate)) return candidate;
  return null;
}
