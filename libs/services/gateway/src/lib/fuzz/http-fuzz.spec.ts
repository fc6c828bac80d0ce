import fc from 'fast-check';

import {
  ApiKeys,
  INGEST_ID_HEADER,
  ingestChunkSubject,
  PortfolioError,
  Registry,
  Storage,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import {
  contractViolations,
  describeRequest,
  FuzzRequest,
  FuzzResponse,
  fuzzParameters,
  fuzzRequest,
  FuzzTally,
} from '@portfolio/testing';

import { INVENTORY } from '../auth/route-inventory.testing';
import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';

const ADMIN_KEY = 'fuzz-admin-key-0123456789';
const MODEL = 'm';

const PING = { instance: 'fake', started_at: '2026-01-01T00:00:00.000Z' };

/**
 * What the fake peers of gateway.testing do not answer, answered as the real services
 * would for the fuzz's requests: the registry refuses to register `m` again and knows
 * no key but the bootstrap one, storage takes any bytes and then finds them not ONNX,
 * and every service answers its ping. So no 5xx is ever the peers' doing.
 */
function serveTheRest(m: Messaging): void {
  m.serve(Registry.createModel, (req) => {
    throw new PortfolioError('MODEL_EXISTS', `model "${req.id}" exists`);
  });
  m.serve(Registry.ping, () => ({ service: 'registry', ...PING }));
  m.serve(Storage.ping, () => ({ service: 'storage', ...PING }));
  m.serve(ApiKeys.lookup, () => ({ key: null }));
  m.serve(ApiKeys.list, () => ({ keys: [] }));
  m.serve(ApiKeys.create, (req) => ({
    key: {
      id: '00000000-0000-4000-8000-000000000001',
      name: req.name,
      prefix: req.prefix,
      scopes: req.scopes,
      rate_limit: req.rate_limit ?? null,
      created_at: '2026-01-01T00:00:00.000Z',
      created_by: req.created_by ?? null,
      revoked_at: null,
    },
  }));
  m.serve(ApiKeys.revoke, (req) => {
    throw new PortfolioError('KEY_NOT_FOUND', `no API key has id ${req.id}`);
  });
  m.serve(Storage.ingestBegin, () => ({
    ingest_id: 'fuzz-ingest',
    instance: 'fuzz',
    max_chunk_bytes: 64,
    idle_timeout_ms: 10_000,
  }));
  m.serveRaw(ingestChunkSubject(m.prefix, 'fuzz'), (msg) => {
    if (msg.headers[INGEST_ID_HEADER] !== 'fuzz-ingest')
      throw new PortfolioError('INVALID_REQUEST', 'unknown ingest');
    return { data: new TextEncoder().encode('{"received_bytes":0}') };
  });
  m.serve(
    Storage.ingestCommit,
    () => {
      throw new PortfolioError(
        'INVALID_ARTIFACT',
        'the file is not a valid ONNX model (protobuf parsing failed)',
      );
    },
    { target: 'fuzz' },
  );
  m.serve(Storage.ingestAbort, () => ({}), { target: 'fuzz' });
}

/**
 * The gateway's HTTP surface, fuzzed in process (the real module on the real Fastify
 * adapter, `app.inject`, fake peers): every route of the inventory, with malformed and
 * hostile paths, queries, headers and bodies; every answer checked against docs/api.md
 * (contractViolations). A fixed seed by default; PORTFOLIO_TEST_FUZZ_SEED replays a
 * failure and PORTFOLIO_TEST_FUZZ_RUNS runs long (the count is per property).
 */
describe('HTTP fuzzing (in process)', () => {
  let g: GatewayWithPeers;
  const tally = new FuzzTally();

  beforeAll(async () => {
    g = await startInProcess({
      models: { [MODEL]: 2 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    serveTheRest(g.peers);
    // A live runtime, so health and readiness answer 200.
    g.cacheManager.status = sampleStatus();
  });
  afterAll(async () => {
    await g.close();
    if (fuzzParameters(0).long) console.log(`fuzzed cases: ${tally}`);
  });

  async function send(req: FuzzRequest): Promise<FuzzResponse> {
    const res = await g.app.inject({
      method: req.method as 'GET',
      url: req.url,
      headers: req.headers,
      ...(req.body !== undefined ? { payload: req.body } : {}),
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: res.rawPayload,
    };
  }

  const check = async (req: FuzzRequest) => {
    tally.add(req);
    const res = await send(req);
    const problems = contractViolations(req, res);
    if (problems.length)
      throw new Error(
        `${problems.join('; ')}\n  request: ${describeRequest(req)}\n  answer: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`,
      );
  };

  // Generous for 2 slow cores; a long session (PORTFOLIO_TEST_FUZZ_RUNS) has no limit.
  const timeout = fuzzParameters(0).long ? 2 ** 31 - 1 : 60_000;

  const options = {
    adminKey: ADMIN_KEY,
    model: MODEL,
    wire: false,
    routes: INVENTORY,
  };

  it(
    'answers every fuzzed request to every route within the contract',
    async () => {
      await fc.assert(
        fc.asyncProperty(fuzzRequest(options), check),
        fuzzParameters(1500),
      );
    },
    timeout,
  );

  it(
    'refuses keys that are not valid with 401 in the contract shape, on every keyed route',
    async () => {
      await fc.assert(
        fc.asyncProperty(fuzzRequest(options, 'authOnly'), check),
        fuzzParameters(300),
      );
    },
    timeout,
  );
});
