import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The file names a plugin's entry point may have, in an upload of several files. */
export const PLUGIN_FILE_NAMES = ['plugin.js', 'plugin.cjs', 'plugin.mjs'];

/**
 * `import()` that the build leaves alone: TypeScript's CommonJS output turns a literal
 * `import()` into `require()`, which cannot load ES modules, and webpack would try to
 * bundle it.
 */
const nativeImport = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<Record<string, unknown>>;

/**
 * The file a plugin's entry point names: itself, or, for a package.json, its `main`
 * (default `index.js`), which must stay inside the package's directory.
 */
export function pluginModulePath(entryPoint: string): string {
  if (posix.basename(entryPoint.split('\\').join('/')) !== 'package.json')
    return entryPoint;
  let main: unknown;
  try {
    main =
      (JSON.parse(readFileSync(entryPoint, 'utf8')) as { main?: unknown })
        .main ?? 'index.js';
  } catch (e) {
    throw new Error(`package.json is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof main !== 'string' || !main)
    throw new Error('package.json: "main" must name the plugin file');
  const normalized = posix.normalize(main.split('\\').join('/'));
  if (normalized.startsWith('../') || posix.isAbsolute(normalized))
    throw new Error(
      `package.json: "main" (${main}) must name a file inside the package`,
    );
  return join(dirname(entryPoint), normalized);
}

/**
 * Loads a plugin module by absolute path, as Node would decide its kind: `.mjs`, and
 * `.js` under a package.json saying `"type": "module"`, are ES modules (imported);
 * `.cjs`, other `.js` and any other name (a single uploaded file is stored as
 * `model.custom`) are CommonJS (required). Each version is a distinct path, so the
 * module caches of `import` and `require` never serve a stale one.
 */
export async function loadPluginModule(
  path: string,
): Promise<Record<string, unknown>> {
  const extension = extname(path).toLowerCase();
  if (extension === '.mjs' || (extension === '.js' && inModulePackage(path)))
    return nativeImport(pathToFileURL(path).href);
  return createRequire(path)(path) as Record<string, unknown>;
}

/** Whether the nearest package.json above `path` says `"type": "module"`. */
function inModulePackage(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    let text: string | null = null;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      // None here: look further up.
    }
    if (text !== null) {
      try {
        return (JSON.parse(text) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}
