import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';

import { runCli } from './cli';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Reply = (seen: Seen) => { status: number; body: unknown };

/** A stand-in for the gateway: answers by "METHOD /path" from a table. */
async function fakeServer(routes: Record<string, Reply>) {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      const route = routes[`${s.method} ${s.url.split('?')[0]}`];
      const { status, body } = route
        ? route(s)
        : {
            status: 404,
            body: { error: { code: 'NOT_FOUND', message: 'no route' } },
          };
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function io(env: Record<string, string> = {}, stderrTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { isTTY: false, write: (t: string) => out.push(t) },
      stderr: { isTTY: stderrTTY, write: (t: string) => err.push(t) },
      env,
    },
  };
}

const model = (id: string, labels = {}) => ({
  id,
  format: 'onnx',
  description: null,
  labels,
  preload: false,
  pinned: false,
});

const versionRecord = (size: number) => ({
  model_id: 'm',
  version: 3,
  format: 'onnx',
  sha256: 'ab'.repeat(32),
  size_bytes: size,
  status: 'ready',
  created_at: '2025-01-01T00:00:00.000Z',
  measured: null,
});

describe('runCli against a fake server', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-run-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lists models (every page) as a table and as JSON, with the key from the environment', async () => {
    const server = await fakeServer({
      'GET /admin/models': (s) =>
        s.url.includes('after=b')
          ? { status: 200, body: { models: [model('c')], next: null } }
          : {
              status: 200,
              body: {
                models: [model('a', { team: 'red' }), model('b')],
                next: 'b',
              },
            },
    });
    try {
      const t = io({ PORTFOLIO_CLI_URL: server.url, PORTFOLIO_CLI_KEY: 'k-1' });
      expect(
        await runCli(['models', 'list', '--label', 'team=red'], t.io),
      ).toBe(0);
      const lines = t.out.join('').trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID\s+FORMAT\s+LABELS\s+PRELOAD/);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(lines[1]).toContain('team=red');
      expect(t.err).toEqual([]);
      expect(server.seen[0].headers['authorization']).toBe('Bearer k-1');
      expect(server.seen[0].url).toBe(
        '/admin/models?limit=1000&label=team%3Ared',
      );

      const j = io({ PORTFOLIO_API_KEY: 'k-2' });
      expect(
        await runCli(['--url', server.url, 'models', 'list', '--json'], j.io),
      ).toBe(0);
      const doc = JSON.parse(j.out.join(''));
      expect(doc.models.map((m: { id: string }) => m.id)).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(server.seen.at(-1)?.headers['authorization']).toBe('Bearer k-2');
    } finally {
      await server.close();
    }
  });

  it('exits 1 with "error CODE: message" when refused, 3 on a 5xx or no server', async () => {
    const server = await fakeServer({
      'GET /admin/models/nope': () => ({
        status: 404,
        body: {
          error: {
            code: 'MODEL_NOT_FOUND',
            message: 'model "nope" not found',
            request_id: 'r',
          },
        },
      }),
      'GET /v1/models/status': () => ({
        status: 503,
        body: {
          error: {
            code: 'SERVICE_UNAVAILABLE',
            message: 'the cache-manager did not answer',
          },
        },
      }),
    });
    try {
      const refused = io();
      expect(
        await runCli(
          ['models', 'get', 'nope', '--url', server.url],
          refused.io,
        ),
      ).toBe(1);
      expect(refused.err.join('')).toBe(
        'error MODEL_NOT_FOUND: model "nope" not found\n',
      );
      expect(refused.out).toEqual([]);

      const down = io();
      expect(
        await runCli(['cache', 'status', '--url', server.url], down.io),
      ).toBe(3);
      expect(down.err.join('')).toContain('error SERVICE_UNAVAILABLE:');
    } finally {
      await server.close();
    }
    const dead = io();
    expect(await runCli(['keys', 'list', '--url', server.url], dead.io)).toBe(
      3,
    );
    expect(dead.err.join('')).toMatch(/ECONNREFUSED/);

    const usage = io();
    expect(await runCli(['load', 'm', '--copies', 'two'], usage.io)).toBe(2);
    expect(usage.err.join('')).toContain('Usage: portfolio load <id>');
    expect(await runCli(['models', 'list', '--url', 'nope'], io().io)).toBe(2);
  });

  it.each([true, false])(
    'registers a file (stderr a terminal: %s), creating the model only if missing, and moves the alias',
    async (tty) => {
      const file = join(dir, 'model.onnx');
      const bytes = Buffer.alloc(200_000, 3);
      writeFileSync(file, bytes);
      const server = await fakeServer({
        'POST /admin/models': () => ({
          status: 409,
          body: { error: { code: 'MODEL_EXISTS', message: 'taken' } },
        }),
        'POST /admin/models/m/versions': (s) => ({
          status: 201,
          body: versionRecord(s.body.length),
        }),
        'PUT /admin/models/m/aliases/production': () => ({
          status: 200,
          body: {
            model_id: 'm',
            alias: 'production',
            version: 3,
            previous_version: 2,
          },
        }),
      });
      try {
        const t = io({ PORTFOLIO_CLI_URL: server.url }, tty);
        const code = await runCli(
          [
            'models',
            'register',
            'm',
            file,
            '--format',
            'onnx',
            '--alias',
            'production',
            '--json',
          ],
          t.io,
        );
        expect(t.err.join('')).not.toContain('error');
        expect(code).toBe(0);
        const upload = server.seen[1];
        expect(upload.headers['content-type']).toBe('application/octet-stream');
        expect(upload.headers['content-length']).toBe('200000');
        expect(upload.body.equals(bytes)).toBe(true);
        expect(JSON.parse(server.seen[2].body.toString())).toEqual({
          version: 3,
        });
        expect(JSON.parse(t.out.join(''))).toMatchObject({
          created: false,
          version: { version: 3 },
          alias: { alias: 'production', version: 3 },
        });
        if (tty) expect(t.err.join('')).toContain('195.3 KiB / 195.3 KiB 100%');
        else expect(t.err).toEqual([]);
      } finally {
        await server.close();
      }
    },
  );

  it('registers a directory as a tar of its files', async () => {
    mkdirSync(join(dir, 'm', 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'm', 'config.json'), '{}');
    writeFileSync(join(dir, 'm', 'onnx', 'model.onnx'), 'graph');
    const server = await fakeServer({
      'POST /admin/models': () => ({ status: 201, body: model('m') }),
      'POST /admin/models/m/versions': (s) => ({
        status: 201,
        body: versionRecord(s.body.length),
      }),
    });
    try {
      const t = io({ PORTFOLIO_CLI_URL: server.url });
      expect(
        await runCli(
          [
            'models',
            'register',
            'm',
            join(dir, 'm'),
            '--format',
            'huggingface',
          ],
          t.io,
        ),
      ).toBe(0);
      expect(t.out.join('')).toMatch(/^created model m; registered version 3/);
      expect(JSON.parse(server.seen[0].body.toString())).toEqual({
        id: 'm',
        format: 'huggingface',
      });
      const upload = server.seen[1];
      expect(upload.headers['content-type']).toBe('application/x-tar');
      expect(upload.headers['transfer-encoding']).toBe('chunked');
      const names: Record<string, string> = {};
      const ex = extract();
      const done = (async () => {
        for await (const entry of ex) {
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          names[entry.header.name] = Buffer.concat(chunks).toString();
        }
      })();
      Readable.from([upload.body]).pipe(ex as unknown as NodeJS.WritableStream);
      await done;
      expect(names).toEqual({
        'config.json': '{}',
        'onnx/model.onnx': 'graph',
      });
    } finally {
      await server.close();
    }
  });

  it('refuses a path that does not exist before calling the server', async () => {
    const t = io({ PORTFOLIO_CLI_URL: 'http://127.0.0.1:1' });
    expect(
      await runCli(
        ['models', 'register', 'm', join(dir, 'missing'), '--format', 'onnx'],
        t.io,
      ),
    ).toBe(2);
    expect(t.err.join('')).toContain('no such file or directory');
  });
});
