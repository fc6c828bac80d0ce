import fc from 'fast-check';

/**
 * Property-based fuzzing of the gateway's HTTP surface (docs/api.md is the oracle):
 * requests built from the route inventory with malformed and hostile parts, and a check
 * of each answer against the contract. Shared by the in-process spec (app.inject) and
 * the end-to-end run against the standalone app (raw sockets).
 */

/** Who may call a route (as the gateway's `@Access`). */
export type FuzzAccess = 'public' | 'read' | 'predict' | 'admin';

/** How the error bodies of a path are shaped, and how the report groups the cases. */
export type RouteFamily = 'v1' | 'v2' | 'admin' | 'metrics' | 'health' | 'docs';

export function familyOf(path: string): RouteFamily {
  if (/^\/(v1\/health|v2\/health\/)/.test(path)) return 'health';
  if (path === '/v2' || /^\/v2[/?]/.test(path)) return 'v2';
  if (path.startsWith('/admin')) return 'admin';
  if (path.startsWith('/metrics')) return 'metrics';
  if (path.startsWith('/docs')) return 'docs';
  return 'v1';
}

/** `/v2` and below answer errors as `{ "error": "message" }` (health included). */
export function isOpenInferencePath(url: string): boolean {
  return url === '/v2' || /^\/v2[/?]/.test(url);
}

export interface FuzzRequest {
  /** The inventory line this request was built from (`POST /v1/models/:modelId/predict`). */
  readonly route: string;
  /** Who may call that route. */
  readonly access: FuzzAccess;
  readonly method: string;
  /** The request target as sent: path and query, percent-encoded or not. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** The key sent: the bootstrap admin key, a key that is not valid, or none. */
  readonly auth: 'admin' | 'garbage' | 'none';
  /**
   * A request that is well formed apart from its key: its status is then the guard's
   * (401 on keyed routes with a bad or no key), since nothing else could refuse it first.
   */
  readonly cleanApartFromKey: boolean;
}

export interface FuzzResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<
    Record<string, string | string[] | number | undefined>
  >;
  readonly body: Buffer;
}

export interface FuzzOptions {
  readonly adminKey: string;
  /** A registered model, with versions 1.., taking `x` FP32 [-1, 4] and answering `y`. */
  readonly model: string;
  /**
   * Whether the requests go over a real socket: then only what an HTTP/1.1 request line
   * and header may carry (visible ASCII and latin-1 text) is generated for them.
   */
  readonly wire: boolean;
  /**
   * The routes to fuzz (`METHOD /path/:param`) and their scopes: the gateway's route
   * inventory in process, the OpenAPI document's routes against a running app.
   */
  readonly routes: Readonly<Record<string, FuzzAccess>>;
}

// ---------------------------------------------------------------------------------
// Parts: path parameters, query strings, values, bodies, headers.

const oneOfWeighted = <T>(...arbs: [number, fc.Arbitrary<T>][]) =>
  fc.oneof(...arbs.map(([weight, arbitrary]) => ({ weight, arbitrary })));

/** Strings of any code points, lone surrogates included, and some troublemakers. */
const oddText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\u202e',
    '\u200b',
    '\ufeff',
    'é',
    'e\u0301',
    '\ud800',
    '😀',
    '..',
    '.',
    '/',
    '\\',
    '%',
    '?',
    '#',
    '__proto__',
    'constructor',
    'toString',
  ),
);

/** Percent-encoding that is not valid (Fastify cannot decode it). */
const badEncoding = fc.constantFrom(
  '%',
  '%z',
  '%zz',
  '%E0%A4%A',
  '%C3',
  '%ED%A0%80',
  '%FF',
  '%%',
);

/** A path segment as sent: valid ids, odd text percent-encoded or raw, bad escapes, long. */
function segment(known: string, wire: boolean): fc.Arbitrary<string> {
  return oneOfWeighted<string>(
    [6, fc.constant(known)],
    [2, fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/)],
    [1, fc.constantFrom('M', 'a'.repeat(128), 'a'.repeat(129), '-x', '_x')],
    [1, fc.integer({ min: 129, max: 12_000 }).map((n) => 'a'.repeat(n))],
    [3, oddText.map((s) => encodeURIComponent(toWellFormed(s)) || 'x')],
    [wire ? 0 : 1, oddText.filter((s) => s.length > 0 && !/[/?#]/.test(s))],
    [
      wire ? 1 : 0,
      fc
        .string({ unit: latin1Unit, minLength: 1, maxLength: 12 })
        .filter((s) => !/[/?#%\s]/.test(s)),
    ],
    [
      2,
      fc
        .tuple(fc.stringMatching(/^[a-z]{0,4}$/), badEncoding)
        .map(([a, b]) => a + b),
    ],
    [
      1,
      fc.constantFrom(
        '%2F',
        '%2e%2e',
        '%00',
        '%20',
        'a%2Fb',
        '%C3%A9',
        '%F0%9F%98%80',
      ),
    ],
  );
}

/** Versions as path segments or query values. */
const versionText = fc.oneof(
  fc.constantFrom(
    '1',
    '2',
    '0',
    '-1',
    '01',
    '1.0',
    '1e3',
    '0x1',
    '999999999',
    '9999999999',
    '99999999999999999999999',
    'NaN',
    'Infinity',
    '-0',
    '+1',
    ' 1',
    '1 ',
    'latest',
    '١',
    '%31',
    '%zz',
  ),
  fc.integer().map(String),
  fc.string({ maxLength: 8 }).map((s) => encodeURIComponent(s)),
);

/** A query string, or none. */
function query(wire: boolean): fc.Arbitrary<string> {
  const value = fc.oneof(
    versionText,
    fc.constantFrom('y', 'y,y', ',', ' , ', 'x', 'zz', '', 'y,zz', '%2C'),
    oddText.map((s) => encodeURIComponent(toWellFormed(s))),
    badEncoding,
  );
  const pair = fc
    .tuple(
      fc.constantFrom(
        'version',
        'outputs',
        'version[]',
        'outputs[0]',
        '__proto__',
        'constructor',
        'x',
        '',
      ),
      value,
    )
    .map(([k, v]) => (k === '' ? v : `${k}=${v}`));
  return oneOfWeighted(
    [5, fc.constant('')],
    [
      4,
      fc
        .array(pair, { minLength: 1, maxLength: 3 })
        .map((ps) => `?${ps.join('&')}`),
    ],
    [
      1,
      fc.constantFrom(
        '?',
        '??',
        '?&',
        '?=',
        '?version',
        '?outputs',
        '?version=&version=1',
        '?outputs=y&outputs=y',
        '?version=1&version=1',
        '?outputs=y&outputs=',
        '?version=1&outputs=y&outputs=zz',
      ),
    ],
    [wire ? 0 : 1, oddText.map((s) => `?${s.replace(/#/g, '')}`)],
  );
}

/** A JSON token written as text: numbers JSON.stringify cannot write, and invalid ones. */
class Raw {
  constructor(readonly text: string) {}
}

const rawToken = fc.constantFrom(
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '-0.0',
  '123456789012345678901234567890',
  '9007199254740993',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '1.',
  '.5',
  '+1',
  '01',
  'undefined',
  "'text'",
  '"\\ud800"',
  '"\\u0000"',
  '"\\x41"',
);

/** Arrays or objects nested `depth` deep (V8's parser copes; recursion behind it may not). */
const deepNesting = fc
  .tuple(
    fc.constantFrom(8, 64, 1_000, 10_000, 100_000),
    fc.constantFrom('[', '{"a":'),
  )
  .map(
    ([depth, open]) =>
      new Raw(
        open.repeat(depth) + '1' + (open === '[' ? ']' : '}').repeat(depth),
      ),
  );

/** Any JSON value, and the texts above. */
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: rawToken.map((t) => new Raw(t)) },
  { weight: 1, arbitrary: deepNesting },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      '',
      0,
      -1,
      1.5,
      1e308,
      2 ** 53 + 2,
      [],
      {},
      [[]],
      [[1, 2, 3, 4]],
      'x'.repeat(70_000),
      '1',
      ['1'],
    ),
  },
  { weight: 1, arbitrary: oddText },
);

/** JSON text of `v`, with Raw tokens written as they are. */
export function jsonText(v: unknown): string {
  if (v instanceof Raw) return v.text;
  // Array.from, not map: a mutation may have given the array its own `constructor`.
  if (Array.isArray(v)) return `[${Array.from(v, jsonText).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** `base` with one of its fields (at any depth) replaced, removed, or an unknown one added. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, at: string[]) => {
    if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        paths.push([...at, k]);
        walk(x, [...at, k]);
      }
  };
  walk(base, []);
  return fc
    .tuple(
      fc.constantFrom(...paths),
      fc.constantFrom('replace', 'replace', 'remove', 'add'),
      weirdValue,
      fc.constantFrom('extra', '__proto__', 'constructor', ''),
    )
    .map(([path, how, value, extraKey]) => {
      const copy = structuredClone(base) as Record<string, unknown>;
      let parent: Record<string, unknown> = copy;
      for (const k of path.slice(0, -1))
        parent = parent[k] as Record<string, unknown>;
      const last = path[path.length - 1];
      if (how === 'remove') delete parent[last];
      else if (how === 'add')
        Object.defineProperty(parent, extraKey, {
          value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
      else parent[last] = value;
      return copy;
    });
}

/** Text-level damage: truncation, garbage, a BOM, duplicate keys, nothing. */
function damaged(text: string): fc.Arbitrary<string> {
  return oneOfWeighted(
    [6, fc.constant(text)],
    [
      2,
      fc
        .nat({ max: Math.max(0, text.length - 1) })
        .map((n) => text.slice(0, n)),
    ],
    [1, fc.string({ maxLength: 4 }).map((g) => text + g)],
    [1, fc.constant('\ufeff' + text)],
    [
      1,
      fc.constantFrom(
        '',
        ' ',
        'null',
        '[]',
        '"x"',
        '{',
        '}',
        '{"inputs":',
        'true',
      ),
    ],
    [1, fc.constant(text.replace(/^\{/, '{"inputs":1,'))],
  );
}

/**
 * A JSON body built from a valid one: mutated, with odd tokens, damaged as text. `fix`
 * may adjust the value first (to keep a registration from being valid).
 */
function jsonBody(
  valid: Record<string, unknown>,
  fix: (v: unknown) => unknown = (v) => v,
): fc.Arbitrary<string> {
  return oneOfWeighted<unknown>(
    [2, fc.constant(valid)],
    [6, mutated(valid)],
    [1, weirdValue],
  ).chain((v) => damaged(jsonText(fix(v))));
}

const predictBody = jsonBody({ inputs: { x: [[1, 2, 3, 4]] } });

const inferRequest = {
  id: '42',
  parameters: { binary_data_output: false },
  inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
  outputs: [{ name: 'y', parameters: { binary_data: false } }],
};

/** Raw bytes of the binary extension for a 1x4 FP32 input. */
const FLOATS = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);

interface BodyAndHeaders {
  body?: Buffer;
  headers: Record<string, string>;
}

/** An OIP binary-extension body whose header, sizes and bytes may disagree. */
const binaryInfer: fc.Arbitrary<BodyAndHeaders> = fc
  .record({
    datatype: fc.constantFrom('FP32', 'FP32', 'BOOL', 'BYTES', 'FP16', 'INT64'),
    declared: oneOfWeighted<number | Raw>(
      [4, fc.constant(16)],
      [2, fc.integer({ min: -4, max: 64 })],
      [1, rawToken.map((t) => new Raw(t))],
      [1, fc.constantFrom(2 ** 31, 2 ** 53, 1e300)],
    ),
    tensor: oneOfWeighted<Buffer>(
      [4, fc.constant(FLOATS)],
      [2, fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))],
      [1, fc.constant(Buffer.from([2, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]))],
    ),
    withData: fc.boolean(),
    header: oneOfWeighted<string | 'exact' | null>(
      [5, fc.constant('exact')],
      [1, fc.constant(null)],
      [
        3,
        fc.constantFrom(
          '-1',
          '0',
          '1',
          '',
          ' ',
          'abc',
          '1e3',
          '0x10',
          '12.5',
          '99999999999999999999',
          '9007199254740993',
          'NaN',
          '+16',
          '1,2',
        ),
      ],
      [2, fc.integer({ min: 0, max: 400 }).map(String)],
    ),
    trailing: fc.uint8Array({ maxLength: 8 }),
    type: fc.constantFrom(
      undefined,
      'application/octet-stream',
      'application/json',
      'text/plain',
    ),
  })
  .map((c) => {
    const json = Buffer.from(
      jsonText({
        inputs: [
          {
            name: 'x',
            shape: [1, 4],
            datatype: c.datatype,
            parameters: { binary_data_size: c.declared },
            ...(c.withData ? { data: [1, 2, 3, 4] } : {}),
          },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    const body = Buffer.concat([json, c.tensor, Buffer.from(c.trailing)]);
    const headers: Record<string, string> = {};
    if (c.header !== null)
      headers['inference-header-content-length'] =
        c.header === 'exact' ? String(json.length) : c.header;
    if (c.type) headers['content-type'] = c.type;
    return { body, headers };
  });

/**
 * Registrations of the model that exists already (409 at best), so that no fuzzed body
 * registers anything: an id the mutations make valid is put back to that model's.
 */
const createModelBody = (model: string) =>
  jsonBody(
    {
      id: model,
      format: 'onnx',
      description: 'd',
      memory_estimate: '1MiB',
      memory_estimate_authoritative: false,
      preload: false,
      pinned: false,
      ttl: '1h',
      labels: { team: 'red' },
    },
    (v) =>
      v !== null &&
      typeof v === 'object' &&
      typeof (v as { id?: unknown }).id === 'string' &&
      /^[a-z0-9][a-z0-9._-]{0,127}$/.test((v as { id: string }).id)
        ? { ...v, id: model }
        : v,
  );

const loadBody = jsonBody({ version: 1, copies: 1 });
const unloadBody = jsonBody({ version: 1 });
const createKeyBody = jsonBody({
  name: 'k',
  scopes: ['read'],
  rate_limit: { requests_per_second: 1, burst: 1 },
});

const contentType = oneOfWeighted<string | undefined>(
  [10, fc.constant('application/json')],
  [
    3,
    fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/json; charset=latin1',
      'application/octet-stream',
      'text/plain',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'a/b/c',
      ';;;',
      '',
      'application/json, text/plain',
      'application/json;',
      'application/*',
    ),
  ],
);

function typeHeader(type: string | undefined): Record<string, string> {
  return type === undefined ? {} : { 'content-type': type };
}

/** The body (and content type) a route is sent; JSON routes get JSON text, mostly. */
function bodyFor(route: string, model: string): fc.Arbitrary<BodyAndHeaders> {
  const json = (text: fc.Arbitrary<string>): fc.Arbitrary<BodyAndHeaders> =>
    fc.tuple(text, contentType).map(([t, type]) => ({
      body: Buffer.from(t),
      headers: typeHeader(type),
    }));
  const none = fc.constant<BodyAndHeaders>({ headers: {} });
  if (route.endsWith('/predict')) return json(predictBody);
  if (route.endsWith('/infer'))
    return oneOfWeighted(
      [3, json(jsonBody(inferRequest))],
      [3, binaryInfer],
      [1, none],
    );
  if (route === 'POST /admin/models') return json(createModelBody(model));
  if (route === 'POST /admin/keys') return json(createKeyBody);
  if (route.endsWith('/load'))
    return oneOfWeighted([1, none], [4, json(loadBody)]);
  if (route.endsWith('/unload'))
    return oneOfWeighted([1, none], [4, json(unloadBody)]);
  if (route.endsWith(':modelId/versions') && route.startsWith('POST'))
    return fc
      .tuple(
        fc.uint8Array({ maxLength: 256 }),
        fc.constantFrom(
          'application/octet-stream',
          'application/octet-stream; x=1',
          'application/json',
          undefined,
          'text/plain',
        ),
      )
      .map(
        ([b, type]): BodyAndHeaders => ({
          body: Buffer.from(b),
          headers: type === undefined ? {} : { 'content-type': type },
        }),
      );
  // GET and DELETE: usually no body, sometimes one anyway.
  return oneOfWeighted([6, none], [1, json(fc.constantFrom('{}', '{', 'x'))]);
}

/** Header values an HTTP/1.1 parser accepts: visible ASCII, spaces, tabs and latin-1. */
const latin1Unit = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)),
  fc.constant('\t'),
);

/** A key that is not valid, and the headers that present it. */
function garbageAuth(wire: boolean): fc.Arbitrary<Record<string, string>> {
  const junk = wire
    ? fc.string({ unit: latin1Unit, maxLength: 300 })
    : fc.oneof(fc.string({ unit: latin1Unit, maxLength: 300 }), oddText);
  const key = fc.oneof(
    junk,
    fc.constantFrom('pf_', 'pf_' + 'A'.repeat(32), 'x'.repeat(8_000), 'null'),
  );
  return fc.oneof(
    key.map((k) => ({ authorization: `Bearer ${k}` })),
    key.map((k) => ({ authorization: `bearer    ${k}` })),
    key.map((k) => ({ authorization: k })),
    key.map((k) => ({ 'x-api-key': k })),
    key.map((k) => ({ authorization: `Basic ${k}`, 'x-api-key': k })),
    fc.constantFrom<Record<string, string>>(
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: '' },
      { 'x-api-key': '' },
      { authorization: 'Token abc' },
    ),
  );
}

/** X-Request-Id: valid ids are echoed, anything else replaced by a UUID. */
function requestId(wire: boolean): fc.Arbitrary<Record<string, string>> {
  return oneOfWeighted(
    [6, fc.constant({})],
    [
      2,
      fc
        .stringMatching(/^[A-Za-z0-9._:-]{1,128}$/)
        .map((id) => ({ 'x-request-id': id })),
    ],
    [
      1,
      (wire ? fc.string({ unit: latin1Unit, maxLength: 200 }) : oddText).map(
        (id) => ({ 'x-request-id': id }),
      ),
    ],
    [1, fc.constant({ 'x-request-id': 'a'.repeat(129) })],
  );
}

function adminAuth(adminKey: string) {
  return fc.constantFrom<Record<string, string>>(
    { authorization: `Bearer ${adminKey}` },
    { authorization: `bearer ${adminKey}` },
    { authorization: `Bearer  ${adminKey}  ` },
    { 'x-api-key': adminKey },
    { authorization: `Basic Zm9vOmJhcg==`, 'x-api-key': adminKey },
  );
}

function fillRoute(
  route: string,
  o: FuzzOptions,
  clean: boolean,
): fc.Arbitrary<{ method: string; url: string }> {
  const [method, template] = route.split(' ');
  const names = template.match(/:[a-zA-Z]+/g) ?? [];
  // Deleting a model or a version would take the fixture away from the rest of the run
  // (and a fuzz must change nothing): these name a model that is not registered.
  const model =
    method === 'DELETE' &&
    /^\/admin\/models\/:modelId(\/versions\/:version)?$/.test(template)
      ? `${o.model}-never-registered`
      : o.model;
  const part = (name: string): fc.Arbitrary<string> => {
    if (clean)
      return fc.constant(
        name === ':version'
          ? '1'
          : name === ':id'
            ? '00000000-0000-4000-8000-000000000000'
            : model,
      );
    if (name === ':version') return versionText;
    if (name === ':id')
      return fc.oneof(
        fc.uuid(),
        segment('00000000-0000-4000-8000-000000000000', o.wire),
      );
    return segment(model, o.wire);
  };
  return fc
    .tuple(
      fc.tuple(...names.map(part)),
      clean ? fc.constant('') : query(o.wire),
      clean
        ? fc.constant(method)
        : oneOfWeighted(
            [12, fc.constant(method)],
            [
              1,
              fc.constantFrom(
                'GET',
                'POST',
                'PUT',
                'PATCH',
                'DELETE',
                'OPTIONS',
                'HEAD',
              ),
            ],
          ),
    )
    .map(([values, q, m]) => {
      let url = template;
      names.forEach((n, i) => (url = url.replace(n, values[i])));
      return { method: m, url: url + q };
    });
}

/**
 * A request to any route with the admin key (mostly), hostile in every part; or, with
 * `authOnly`, a well-formed request whose only fault may be its key.
 */
export function fuzzRequest(
  o: FuzzOptions,
  mode: 'everything' | 'authOnly' = 'everything',
): fc.Arbitrary<FuzzRequest> {
  const inventory = o.routes;
  const routes = Object.keys(inventory);
  const clean = mode === 'authOnly';
  // One arbitrary per route, built once (building them per value, in a chain, costs far
  // more than the requests do).
  const perRoute = routes.map((route) =>
    fc
      .record({
        target: fillRoute(route, o, clean),
        content: clean
          ? fc.constant<BodyAndHeaders>(cleanBody(route, o.model))
          : bodyFor(route, o.model),
        auth: clean
          ? oneOfWeighted<['garbage' | 'none', Record<string, string>]>(
              [5, garbageAuth(o.wire).map((h) => ['garbage', h])],
              [1, fc.constant(['none', {}])],
            )
          : oneOfWeighted<
              ['admin' | 'garbage' | 'none', Record<string, string>]
            >(
              [10, adminAuth(o.adminKey).map((h) => ['admin', h])],
              [1, garbageAuth(o.wire).map((h) => ['garbage', h])],
              [1, fc.constant(['none', {}])],
            ),
        id: requestId(o.wire),
        extra: oneOfWeighted<Record<string, string>>(
          [8, fc.constant({})],
          [1, fc.constant({ 'content-encoding': 'gzip' })],
          [1, fc.constant({ 'x-padding': 'p'.repeat(4_000) })],
          // Over Node's 16 KiB of headers: 431 (only a real socket has the limit).
          [o.wire ? 1 : 0, fc.constant({ 'x-padding': 'p'.repeat(20_000) })],
          [1, fc.constant({ accept: 'application/xml' })],
        ),
      })
      .map(({ target, content, auth, id, extra }) => ({
        route,
        access: inventory[route],
        method: target.method,
        url: target.url,
        headers: {
          ...(clean ? {} : extra),
          ...id,
          ...auth[1],
          ...content.headers,
        },
        ...(content.body !== undefined ? { body: content.body } : {}),
        auth: auth[0],
        cleanApartFromKey: clean,
      })),
  );
  return fc.oneof(...perRoute);
}

/** A body each route accepts (or none). */
function cleanBody(route: string, model: string): BodyAndHeaders {
  const json = (v: unknown) => ({
    body: Buffer.from(JSON.stringify(v)),
    headers: { 'content-type': 'application/json' },
  });
  if (route.endsWith('/predict'))
    return json({ inputs: { x: [[1, 2, 3, 4]] } });
  if (route.endsWith('/infer')) return json(inferRequest);
  if (route === 'POST /admin/models')
    return json({ id: model, format: 'onnx' });
  if (route === 'POST /admin/keys')
    return json({ name: 'k', scopes: ['read'] });
  if (route.endsWith(':modelId/versions') && route.startsWith('POST'))
    return {
      body: Buffer.from('not onnx'),
      headers: { 'content-type': 'application/octet-stream' },
    };
  return { headers: {} };
}

// ---------------------------------------------------------------------------------
// The oracle.

/** The codes docs/api.md ("Errors") allows for each status. */
const CODES_BY_STATUS: Readonly<Record<number, readonly string[]>> = {
  400: [
    'INVALID_REQUEST',
    'INVALID_INPUT',
    'INVALID_MODEL_ID',
    'UNSUPPORTED_FORMAT',
  ],
  401: ['UNAUTHORIZED'],
  403: ['FORBIDDEN'],
  404: [
    'MODEL_NOT_FOUND',
    'VERSION_NOT_FOUND',
    'ALIAS_NOT_FOUND',
    'ARTIFACT_NOT_FOUND',
    'KEY_NOT_FOUND',
    'NOT_FOUND',
  ],
  408: ['INVALID_REQUEST'],
  409: ['MODEL_EXISTS', 'VERSION_IN_USE', 'MODEL_IN_USE'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['INVALID_REQUEST'],
  422: ['INVALID_ARTIFACT', 'MODEL_LOAD_FAILED', 'FORMAT_UNAVAILABLE'],
  431: ['INVALID_REQUEST'],
};

const header = (r: FuzzResponse, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(', ') : v === undefined ? v : String(v);
};

/**
 * What is wrong with `res` as the answer to `req`, per docs/api.md; empty when nothing.
 * Fake peers and a healthy cluster never justify a 5xx, so none is allowed.
 */
export function contractViolations(
  req: FuzzRequest,
  res: FuzzResponse,
): string[] {
  const problems: string[] = [];
  const path = req.url.split('?')[0];
  const access = req.access;
  const requestId = header(res, 'x-request-id');
  if (!requestId) problems.push('no X-Request-Id');
  const sentId = req.headers['x-request-id'];
  // A request Node cannot parse (400, 408, 431 with Connection: close) gets a new id:
  // its headers were never read.
  const unparsed =
    header(res, 'connection') === 'close' &&
    [400, 408, 431].includes(res.status);
  if (
    requestId &&
    !unparsed &&
    sentId !== undefined &&
    /^[A-Za-z0-9._:-]{1,128}$/.test(sentId) &&
    requestId !== sentId
  )
    problems.push(`X-Request-Id ${requestId}, sent ${sentId}`);
  if (res.status >= 500) problems.push(`status ${res.status}`);
  if (res.status < 200 || (res.status >= 300 && res.status < 400))
    problems.push(`status ${res.status}`);
  if (req.cleanApartFromKey && access !== 'public' && res.status !== 401)
    problems.push(
      `status ${res.status} for a request with ${req.auth} key, not 401`,
    );
  if (
    req.cleanApartFromKey &&
    access === 'public' &&
    (res.status === 401 || res.status === 403)
  )
    problems.push(`status ${res.status} on a public route`);
  if (req.auth === 'admin' && (res.status === 401 || res.status === 403))
    problems.push(`status ${res.status} with the admin key`);
  // A fuzzed registration must never be accepted (each is invalid in some way, or the
  // model exists already): nothing the fuzz sends may register anything.
  if (
    res.status < 300 &&
    req.method === 'POST' &&
    (req.route === 'POST /admin/models' ||
      req.route === 'POST /admin/models/:modelId/versions')
  )
    problems.push(`status ${res.status}: a fuzzed registration was accepted`);
  if (req.method === 'HEAD' || res.status < 300) return problems;

  const type = header(res, 'content-type') ?? '';
  if (!type.startsWith('application/json'))
    problems.push(`error with Content-Type "${type}"`);
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    problems.push(
      `error body is not JSON: ${res.body.toString('utf8').slice(0, 200)}`,
    );
    return problems;
  }
  if (isOpenInferencePath(req.url)) {
    const ok =
      body !== null &&
      typeof body === 'object' &&
      Object.keys(body).length === 1 &&
      typeof (body as { error?: unknown }).error === 'string' &&
      (body as { error: string }).error.length > 0;
    if (!ok)
      problems.push(
        `not the /v2 error shape: ${JSON.stringify(body).slice(0, 300)}`,
      );
    return problems;
  }
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (
    !error ||
    typeof error !== 'object' ||
    typeof error.code !== 'string' ||
    typeof error.message !== 'string' ||
    typeof error.request_id !== 'string' ||
    Object.keys(body as object).length !== 1 ||
    Object.keys(error).some(
      (k) => !['code', 'message', 'details', 'request_id'].includes(k),
    )
  ) {
    problems.push(`not the error shape: ${JSON.stringify(body).slice(0, 300)}`);
    return problems;
  }
  if (!(CODES_BY_STATUS[res.status] ?? []).includes(error.code))
    problems.push(`code ${error.code} with status ${res.status}`);
  if (requestId && error.request_id !== requestId)
    problems.push(`request_id ${error.request_id}, X-Request-Id ${requestId}`);
  if (
    /\/(work|home|usr|tmp)\/|\.ts:\d|\.js:\d|node_modules/.test(error.message)
  )
    problems.push(`message names server internals: ${error.message}`);
  if (path === '' || !path.startsWith('/'))
    problems.push('path without a leading slash');
  return problems;
}

/** A short, printable account of a request, for failure messages. */
export function describeRequest(req: FuzzRequest): string {
  const body = req.body
    ? `${req.body.length} bytes: ${JSON.stringify(req.body.subarray(0, 300).toString('latin1'))}`
    : 'no body';
  const headers = Object.entries(req.headers)
    .map(
      ([k, v]) =>
        `${k}: ${JSON.stringify(v.length > 80 ? v.slice(0, 80) + '...' : v)}`,
    )
    .join('; ');
  const url =
    req.url.length > 300
      ? `${req.url.slice(0, 300)}... (${req.url.length} chars)`
      : req.url;
  return `${req.method} ${url} [${req.route}] {${headers}} ${body}`;
}

// ---------------------------------------------------------------------------------
// Reproducible runs.

/**
 * fast-check's parameters: a fixed seed, so a failure is the same failure on every
 * machine (fast-check prints the seed and the counterexample's path), and
 * PORTFOLIO_TEST_FUZZ_SEED / PORTFOLIO_TEST_FUZZ_RUNS to replay one or run long
 * (PORTFOLIO_TEST_ because the config loader refuses other unknown PORTFOLIO_ variables).
 */
export function fuzzParameters(defaultRuns: number): {
  seed: number;
  numRuns: number;
  long: boolean;
} {
  const seed = Number(process.env['PORTFOLIO_TEST_FUZZ_SEED'] ?? 20_260_101);
  const factor = Number(process.env['PORTFOLIO_TEST_FUZZ_RUNS'] ?? NaN);
  if (!Number.isSafeInteger(seed))
    throw new Error('PORTFOLIO_TEST_FUZZ_SEED must be an integer');
  const long = Number.isFinite(factor) && factor > 0;
  return { seed, numRuns: long ? Math.round(factor) : defaultRuns, long };
}

/** Cases run, by route family (counted as they run; shrinking runs included). */
export class FuzzTally {
  private readonly counts = new Map<string, number>();

  add(req: FuzzRequest): void {
    const key = `${familyOf(req.url)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  toString(): string {
    return [...this.counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  }
}

/** The string with lone surrogates replaced, which encodeURIComponent refuses. */
function toWellFormed(s: string): string {
  return s.replace(
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}
