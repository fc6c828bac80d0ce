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

/** Node's codes for a VM context (jest's) that has no dynamic import. */
const NO_DYNAMIC_IMPORT = new Set([
  'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING',
  'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG',
]);

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
 * Loads a plugin module by absolute path. `.mjs` and `.js` are imported, so Node
 * decides ES module or CommonJS as it does for any package; `.cjs` and any other name
 * (a single uploaded file is stored as `model.custom`) are CommonJS. Each version is a
 * distinct path, so the module caches of `import` and `require` never serve a stale one.
 */
export async function loadPluginModule(
  path: string,
): Promise<Record<string, unknown>> {
  const extension = extname(path).toLowerCase();
  if (extension === '.mjs' || extension === '.js') {
    try {
      return await nativeImport(pathToFileURL(path).href);
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      // Where the host has no dynamic import (jest's VM without
      // --experimental-vm-modules), CommonJS still loads through require.
      if (!(extension === '.js' && NO_DYNAMIC_IMPORT.has(String(code))))
        throw e;
    }
  }
  return createRequire(path)(path) as Record<string, unknown>;
}
