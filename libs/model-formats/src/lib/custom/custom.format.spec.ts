import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';
import { makeTempDir, REPO_ROOT } from '@portfolio/testing';

import { customFormat } from './custom.format';

const EXAMPLE_DIR = join(REPO_ROOT, 'examples', 'custom-plugin');

async function refusal(promise: Promise<unknown>): Promise<PortfolioError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PortfolioError);
  expect((error as PortfolioError).code).toBe('INVALID_ARTIFACT');
  return error as PortfolioError;
}

describe('customFormat', () => {
  let root: string;

  beforeAll(() => {
    root = makeTempDir('custom-format');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function write(path: string, content: string | Uint8Array): string {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
    return path;
  }

  describe('entryPoint', () => {
    it('picks the plugin file, else package.json, outermost first', () => {
      expect(
        customFormat.entryPoint([
          'plugin.js',
          'weights.json',
          'portfolio.json',
        ]),
      ).toBe('plugin.js');
      expect(
        customFormat.entryPoint([
          'p/plugin.mjs',
          'p/node_modules/x/plugin.js',
          'p/package.json',
        ]),
      ).toBe('p/plugin.mjs');
      expect(
        customFormat.entryPoint([
          'package.json',
          'lib/index.js',
          'node_modules/x/package.json',
        ]),
      ).toBe('package.json');
    });

    it('names what is missing or ambiguous', () => {
      expect(() => customFormat.entryPoint(['index.js', 'w.json'])).toThrow(
        /no plugin\.js, plugin\.cjs, plugin\.mjs or package\.json/,
      );
      expect(() =>
        customFormat.entryPoint(['plugin.js', 'plugin.mjs']),
      ).toThrow(/2 plugin entry points/);
    });
  });

  describe('inspect', () => {
    it("takes the example plugin's signature from its portfolio.json, without running it", async () => {
      const inspection = await customFormat.inspect(
        join(EXAMPLE_DIR, 'plugin.js'),
        new Map([
          ['plugin.js', 1],
          ['weights.json', 1],
          ['portfolio.json', 1],
          ['README.md', 1],
        ]),
      );

      expect(inspection).toEqual({
        format: 'custom',
        signature: {
          inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
          outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
        },
        metadata: { entry: 'plugin.js' },
      });
    });

    it('gives an empty signature without portfolio.json, and never executes the module', async () => {
      const dir = join(root, 'no-manifest');
      const path = write(
        join(dir, 'plugin.js'),
        `require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'ran'))}, 'x');
module.exports = {};`,
      );

      const inspection = await customFormat.inspect(
        path,
        new Map([['plugin.js', 1]]),
      );

      expect(inspection.signature).toEqual({ inputs: [], outputs: [] });
      expect(require('node:fs').existsSync(join(dir, 'ran'))).toBe(false);
    });

    it('refuses a binary file', async () => {
      const path = write(
        join(root, 'binary', 'model.custom'),
        new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]),
      );

      const error = await refusal(customFormat.inspect(path));

      expect(error.message).toMatch(/binary file, not JavaScript/);
    });

    it.each([
      ['empty', '', /is empty/],
      ['not UTF-8', Buffer.from([0x6d, 0xff, 0xfe, 0x20]), /not UTF-8 text/],
      ['not JavaScript', 'module.exports = {', /not valid JavaScript/],
      [
        'an ES module',
        'export const predict = () => ({});',
        /single-file plugin must be CommonJS/,
      ],
    ])('refuses a single file that is %s', async (what, content, message) => {
      const path = write(
        join(root, `single-${what.replace(/\W+/g, '-')}`, 'model.custom'),
        content,
      );

      const error = await refusal(customFormat.inspect(path));

      expect(error.message).toMatch(message);
    });

    it('accepts ES modules in archives', async () => {
      const path = write(
        join(root, 'esm', 'plugin.mjs'),
        `export const signature = { inputs: [], outputs: [] };\nexport function predict() {}`,
      );

      await expect(
        customFormat.inspect(path, new Map([['plugin.mjs', 1]])),
      ).resolves.toMatchObject({ format: 'custom' });
    });

    it("resolves package.json's main and refuses one that is not uploaded", async () => {
      const dir = join(root, 'package');
      const pkg = write(
        join(dir, 'package.json'),
        JSON.stringify({ main: 'lib/index.js' }),
      );
      write(join(dir, 'lib', 'index.js'), 'module.exports = {};');

      await expect(
        customFormat.inspect(
          pkg,
          new Map([
            ['package.json', 1],
            ['lib/index.js', 1],
          ]),
        ),
      ).resolves.toMatchObject({ metadata: { entry: 'lib/index.js' } });
      const error = await refusal(
        customFormat.inspect(pkg, new Map([['package.json', 1]])),
      );
      expect(error.message).toMatch(
        /names lib\/index\.js, which is not in the upload/,
      );
    });

    it('refuses a portfolio.json whose signature is invalid', async () => {
      const dir = join(root, 'bad-manifest');
      const path = write(join(dir, 'plugin.js'), 'module.exports = {};');
      write(
        join(dir, 'portfolio.json'),
        JSON.stringify({ signature: { inputs: [{ name: 'x' }], outputs: [] } }),
      );

      const error = await refusal(
        customFormat.inspect(
          path,
          new Map([
            ['plugin.js', 1],
            ['portfolio.json', 1],
          ]),
        ),
      );

      expect(error.message).toMatch(/signature\.inputs\.0\.datatype/);
    });
  });
});
