import { writeFileSync } from 'node:fs';

import { makeTempDir } from '@portfolio/testing';

import { ADMIN_KEY } from '../auth/fake-keys.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { CONSOLE_CSP } from './console-pages';

describe('the web console (GET /ui)', () => {
  let g: GatewayWithPeers;

  afterEach(() => g.close());

  const get = (url: string) => g.app.inject({ method: 'GET', url });

  describe('built', () => {
    let dir: string;

    beforeEach(async () => {
      dir = makeTempDir('console-ui');
      writeFileSync(`${dir}/index.html`, '<!DOCTYPE html><title>t</title>');
      writeFileSync(`${dir}/console.js`, 'console.log(1);');
      writeFileSync(`${dir}/console.css`, 'body{}');
      g = await startInProcess({
        models: { m: 1 },
        nodes: ['r1'],
        // Auth on: the page loads without a key, and asks for one.
        settings: {
          authEnabled: true,
          adminKey: ADMIN_KEY,
          consoleDir: dir,
        },
      });
    });

    it.each([
      ['/ui', 'text/html; charset=utf-8', '<!DOCTYPE html><title>t</title>'],
      ['/ui/', 'text/html; charset=utf-8', '<!DOCTYPE html><title>t</title>'],
      [
        '/ui/console.js',
        'application/javascript; charset=utf-8',
        'console.log(1);',
      ],
      ['/ui/console.css', 'text/css; charset=utf-8', 'body{}'],
    ])('serves %s as %s, without a key', async (url, type, body) => {
      const res = await get(url);

      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.body).toBe(body);
      expect(res.headers['x-request-id']).toBeDefined();
    });

    it('forbids every other origin, inline code and framing (Content-Security-Policy)', async () => {
      const res = await get('/ui');
      const csp = String(res.headers['content-security-policy']);

      expect(csp).toBe(CONSOLE_CSP);
      const directives = new Map(
        csp.split('; ').map((d) => {
          const [name, ...values] = d.split(' ');
          return [name, values] as const;
        }),
      );
      expect(directives.get('default-src')).toEqual(["'none'"]);
      for (const kind of ['script-src', 'style-src', 'connect-src'])
        expect(directives.get(kind)).toEqual(["'self'"]);
      expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
    });

    it('serves no other file from its folder', async () => {
      writeFileSync(`${dir}/secret.txt`, 'no');

      for (const url of [
        '/ui/secret.txt',
        '/ui/../package.json',
        '/ui/%2e%2e/x',
      ])
        expect((await get(url)).statusCode).toBe(404);
    });
  });

  it('answers 404 saying so where the build has no console (the source tree)', async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { consoleDir: makeTempDir('console-none') },
    });

    const res = await get('/ui');

    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('not part of this build'),
      request_id: res.headers['x-request-id'],
    });
  });
});
