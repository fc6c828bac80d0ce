import { readFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { compileFunction } from 'node:vm';

import {
  PortfolioError,
  Signature,
  SignatureSchema,
} from '@portfolio/contracts';

import type { FormatModule } from '../format-module';
import { describePaths } from '../format-paths';
import { CustomBackend } from './custom.backend';
import { PLUGIN_FILE_NAMES, pluginModulePath } from './plugin-module';

function invalid(sentence: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', sentence);
}

const depth = (p: string) => p.split('/').length;

/**
 * The plugin's entry point: the one plugin.js / plugin.cjs / plugin.mjs, else the one
 * package.json (whose `main` names the module; read at inspect and load, since this
 * sees names only). Where several are at different depths, the outermost wins: a
 * plugin may ship its dependencies' package.json files beside it.
 */
function entryPoint(paths: readonly string[]): string {
  for (const names of [PLUGIN_FILE_NAMES, ['package.json']]) {
    const found = paths.filter((p) => names.includes(p.split('/').pop() ?? ''));
    if (found.length === 0) continue;
    const top = Math.min(...found.map(depth));
    const outermost = found.filter((p) => depth(p) === top);
    if (outermost.length === 1) return outermost[0];
    throw invalid(
      `the upload holds ${outermost.length} plugin entry points (${describePaths(outermost)}); a version is one plugin`,
    );
  }
  throw invalid(
    `the upload holds no plugin.js, plugin.cjs, plugin.mjs or package.json (${describePaths(paths)})`,
  );
}

/**
 * The plugin's source, checked to be JavaScript text without running it: UTF-8, no NUL
 * bytes, and, for a CommonJS module, compilable (V8 reports syntax errors at compile
 * time; nothing executes).
 */
function checkSource(path: string, name: string, single: boolean): void {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw invalid(`the plugin module ${name} is missing from the upload`);
  }
  if (bytes.length === 0) throw invalid(`the plugin module ${name} is empty`);
  if (bytes.includes(0))
    throw invalid(
      `the plugin module ${name} is a binary file, not JavaScript source text`,
    );
  let source: string;
  try {
    source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(
      `the plugin module ${name} is not UTF-8 text, so not JavaScript source`,
    );
  }
  if (extname(path).toLowerCase() === '.mjs') return;
  try {
    compileFunction(source, [
      'exports',
      'require',
      'module',
      '__filename',
      '__dirname',
    ]);
  } catch (e) {
    const message = (e as Error).message;
    const esm = /\b(import|export)\b|import\.meta|await is only valid/.test(
      message,
    );
    // An ES module in a .js file is fine where its package says "type": "module".
    if (esm && !single) return;
    throw invalid(
      esm
        ? `the plugin ${name} is an ES module: a single-file plugin must be CommonJS (module.exports); upload an ES module as plugin.mjs in a tar or zip`
        : `the plugin module ${name} is not valid JavaScript: ${message}`,
    );
  }
}

function manifestSignature(dir: string): Signature {
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'portfolio.json'), 'utf8'));
  } catch (e) {
    throw invalid(`portfolio.json is not valid JSON: ${(e as Error).message}`);
  }
  const declared = (manifest as { signature?: unknown } | null)?.signature;
  if (declared === undefined) return { inputs: [], outputs: [] };
  const parsed = SignatureSchema.safeParse(declared);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      `portfolio.json: "signature" is invalid at ${['signature', ...issue.path].join('.')}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/**
 * Custom models: a JavaScript plugin (see plugin-contract.ts) and the files it reads.
 * Ingest checks the module is JavaScript text and never executes it: plugins run only
 * in runtimes, and only admin API keys register them. The signature at ingest is the
 * one portfolio.json declares beside the plugin, else empty (load tells it).
 */
export const customFormat: FormatModule = {
  format: 'custom',
  entryPoint,
  inspect: async (path, beside) => {
    const dir = dirname(path);
    let module = path;
    if (beside && basename(path) === 'package.json') {
      try {
        module = pluginModulePath(path);
      } catch (e) {
        throw invalid((e as Error).message);
      }
      const name = relative(dir, module).split('\\').join('/');
      if (!beside.has(name))
        throw invalid(
          `package.json's "main" names ${name}, which is not in the upload`,
        );
    }
    checkSource(module, beside ? relative(dir, module) : 'file', !beside);
    return {
      format: 'custom',
      signature: beside?.has('portfolio.json')
        ? manifestSignature(dir)
        : { inputs: [], outputs: [] },
      metadata: (beside ? { entry: relative(dir, module) } : {}) as Record<
        string,
        string
      >,
    };
  },
  createBackend: () => new CustomBackend(),
};
