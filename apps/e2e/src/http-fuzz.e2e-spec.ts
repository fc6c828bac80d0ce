import fc from 'fast-check';
import { connect, Socket } from 'node:net';

import {
  AppProcess,
  buildMlpModel,
  contractViolations,
  describeRequest,
  FuzzAccess,
  FuzzRequest,
  FuzzResponse,
  fuzzParameters,
  fuzzRequest,
  FuzzTally,
  freePort,
  makeTempDir,
} from '@portfolio/testing';

import { http, useKey } from './http.testing';

const ADMIN_KEY = 'fuzz-e2e-admin-key-0123456789';
const MODEL = 'm';

/**
 * One HTTP/1.1 connection over a raw socket: the fuzz's requests are sent byte for byte
 * (fetch would refuse or rewrite many of them) and the connection is kept for the next
 * one, as a keep-alive client would, unless the answer said `Connection: close`.
 */
class Connection {
  private data = Buffer.alloc(0);
  private ended = false;
  private wake: () => void = () => undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    // A reset shows as the end of the stream: the exchange then fails with what it got.
    socket.on('error', end);
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        resolve(new Connection(socket)),
      );
      socket.once('error', reject);
    });
  }

  /** Closed by the server (or reset) while no request was in flight. */
  get closed(): boolean {
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }

  async exchange(req: FuzzRequest): Promise<FuzzResponse> {
    const lines = [`${req.method} ${req.url} HTTP/1.1`, 'Host: 127.0.0.1'];
    for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
    if (req.body !== undefined)
      lines.push(`Content-Length: ${req.body.length}`);
    this.socket.write(
      Buffer.concat([
        Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'),
        req.body ?? Buffer.alloc(0),
      ]),
    );
    for (;;) {
      const res = this.parse(req.method === 'HEAD');
      if (res) return res;
      if (this.ended)
        throw new Error(
          `the connection ended without a complete answer (${this.data.length} bytes read)`,
        );
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** One complete response from the bytes read so far (consumed), or null. */
  private parse(head: boolean): FuzzResponse | null {
    const end = this.data.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = this.data
      .subarray(0, end)
      .toString('latin1')
      .split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const at = line.indexOf(':');
      headers[line.slice(0, at).trim().toLowerCase()] = line
        .slice(at + 1)
        .trim();
    }
    let rest = this.data.subarray(end + 4);
    let body: Buffer;
    if (head) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.includes('chunked')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const eol = rest.indexOf('\r\n');
        if (eol < 0) return null;
        const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
        if (rest.length < eol + 2 + size + 2) return null;
        chunks.push(rest.subarray(eol + 2, eol + 2 + size));
        rest = rest.subarray(eol + 2 + size + 2);
        if (size === 0) break;
      }
      body = Buffer.concat(chunks);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return null;
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    this.data = rest;
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }
}

/** `METHOD /path/:param` -> scope, for every operation of the app's OpenAPI document. */
async function documentedRoutes(
  url: string,
): Promise<Record<string, FuzzAccess>> {
  const doc = await http<{
    paths: Record<string, Record<string, { 'x-required-scope'?: FuzzAccess }>>;
  }>(`${url}/docs/json`);
  const routes: Record<string, FuzzAccess> = {};
  for (const [path, ops] of Object.entries(doc.body.paths))
    for (const [method, op] of Object.entries(ops))
      routes[`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`] =
        op['x-required-scope'] ?? 'public';
  return routes;
}

/**
 * The fuzz of http-fuzz.spec.ts (gateway), smaller, over real HTTP against the
 * standalone app: the same oracle on every answer, and the process must stay up and
 * healthy, never reset a keep-alive connection without saying `Connection: close`, and
 * register nothing it was sent.
 */
describe('HTTP fuzzing (standalone app, real sockets)', () => {
  const dataDir = makeTempDir('http-fuzz');
  let app: AppProcess;
  let url = '';
  let port = 0;
  let routes: Record<string, FuzzAccess> = {};
  let modelsBefore: unknown;
  const tally = new FuzzTally();

  beforeAll(async () => {
    port = await freePort();
    app = new AppProcess({
      name: 'portfolio-fuzz',
      app: 'portfolio',
      env: {
        PORTFOLIO_DATA_DIR: dataDir,
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_GATEWAY_BODY_LIMIT: String(1024 * 1024),
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
    // The one registration made on purpose: x FP32 [-1, 4] -> y, as the fuzz expects.
    expect(
      (
        await http(`${url}/admin/models`, {
          json: { id: MODEL, format: 'onnx' },
        })
      ).status,
    ).toBe(201);
    const model = buildMlpModel({
      inputSize: 4,
      hidden: [],
      outputSize: 1,
      seed: 1,
    });
    expect(
      (await http(`${url}/admin/models/${MODEL}/versions`, { body: model }))
        .status,
    ).toBe(201);
    routes = await documentedRoutes(url);
    modelsBefore = (await http(`${url}/admin/models`)).body;
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    if (fuzzParameters(0).long) console.log(`fuzzed cases: ${tally}`);
  });

  it('fuzzes every route the app documents', () => {
    expect(Object.keys(routes)).toEqual(
      expect.arrayContaining([
        'POST /v1/models/:modelId/predict',
        'POST /v2/models/:name/versions/:version/infer',
        'POST /admin/models/:modelId/versions',
        'DELETE /admin/keys/:id',
        'GET /metrics',
        'GET /v1/health',
      ]),
    );
  });

  it(
    'answers every fuzzed request within the contract, on kept-alive connections',
    async () => {
      let connection = await Connection.open(port);
      try {
        await fc.assert(
          fc.asyncProperty(
            fuzzRequest({
              adminKey: ADMIN_KEY,
              model: MODEL,
              wire: true,
              routes,
            }),
            async (req) => {
              tally.add(req);
              if (connection.closed)
                throw new Error(
                  'the server closed a keep-alive connection after an answer without Connection: close',
                );
              const res = await connection.exchange(req);
              const problems = contractViolations(req, res);
              if (res.headers['connection'] === 'close') {
                connection.close();
                connection = await Connection.open(port);
              }
              if (problems.length)
                throw new Error(
                  `${problems.join('; ')}\n  request: ${describeRequest(req)}\n  answer: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`,
                );
            },
          ),
          fuzzParameters(500),
        );
      } finally {
        connection.close();
      }
    },
    fuzzParameters(0).long ? 2 ** 31 - 1 : 600_000,
  );

  it('is up and healthy after the fuzz, with nothing registered by it', async () => {
    expect(app.running).toBe(true);
    const health = await http<{ status: string }>(`${url}/v1/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect((await http(`${url}/admin/models`)).body).toEqual(modelsBefore);
    const versions = await http<{ versions: unknown[] }>(
      `${url}/admin/models/${MODEL}/versions`,
    );
    expect(versions.body.versions).toHaveLength(1);
  });
});
