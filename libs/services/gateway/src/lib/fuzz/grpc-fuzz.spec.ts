import {
  Client,
  credentials,
  Metadata,
  ServiceError,
  status,
} from '@grpc/grpc-js';
import fc from 'fast-check';

import { DATATYPES } from '@portfolio/tensor';
import { fuzzParameters } from '@portfolio/testing';

import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import { oipServiceDefinition } from '../grpc/oip-grpc.proto';
import { GRPC_ACCESS, GrpcMethod } from '../grpc/oip-grpc.server';
import { OipGrpcServer } from '../grpc/oip-grpc.server';

const ADMIN_KEY = 'fuzz-admin-key-0123456789';
const DEFINITION = oipServiceDefinition();
const METHODS = Object.keys(GRPC_ACCESS) as GrpcMethod[];

/**
 * What a call may end with: an answer, or a refusal of the request or of the caller.
 * Never INTERNAL or UNKNOWN (the server's fault), nor UNAVAILABLE (the fake runtime
 * serves every version of `m`).
 */
const ALLOWED = new Set<status>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.RESOURCE_EXHAUSTED,
  status.UNAUTHENTICATED,
  status.PERMISSION_DENIED,
]);

/** A valid ModelInferRequest of `m` (x: FP32 [-1, 4]), encoded. */
function validInfer(rows: number): Buffer {
  return DEFINITION['ModelInfer'].requestSerialize({
    model_name: 'm',
    inputs: [
      {
        name: 'x',
        datatype: 'FP32',
        shape: [rows, 4],
        contents: { fp32_contents: new Array(rows * 4).fill(1.5) },
      },
    ],
  });
}

/** Bytes on the wire: random, or a valid request truncated, corrupted or grown. */
const wireBytes = fc.oneof(
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.nat(), fc.nat())
    .chain(([rows, at, flip]) => {
      const valid = validInfer(rows);
      return fc.constantFrom(
        valid.subarray(0, at % valid.length),
        Buffer.from(
          valid.map((b, i) =>
            i === at % valid.length ? b ^ ((flip % 255) + 1) : b,
          ),
        ),
        Buffer.concat([valid, Buffer.from([at % 256, flip % 256, 0x0a])]),
      );
    }),
);

const oddString = fc.oneof(
  fc.constantFrom('m', '', 'x', '1', '2', '../m', 'm\u0000', '\ud800'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 200, maxLength: 400 }),
);

const parameter = fc.oneof(
  fc.record({ bool_param: fc.boolean() }),
  fc.record({
    int64_param: fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map(String),
  }),
  fc.record({ string_param: oddString }),
  fc.record({ double_param: fc.double() }),
);

const contents = fc.record(
  {
    bool_contents: fc.array(fc.boolean(), { maxLength: 12 }),
    int_contents: fc.array(fc.integer(), { maxLength: 12 }),
    int64_contents: fc.array(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
      { maxLength: 12 },
    ),
    uint_contents: fc.array(fc.nat(), { maxLength: 12 }),
    fp32_contents: fc.array(fc.float(), { maxLength: 12 }),
    fp64_contents: fc.array(fc.double(), { maxLength: 12 }),
    bytes_contents: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

/** Decodable requests with hostile fields: names, datatypes, shapes, contents, raw data. */
const hostileInfer = fc.record(
  {
    model_name: oddString,
    model_version: oddString,
    id: oddString,
    parameters: fc.dictionary(oddString, parameter, { maxKeys: 3 }),
    inputs: fc.array(
      fc.record(
        {
          name: oddString,
          datatype: fc.oneof(fc.constantFrom(...DATATYPES), oddString),
          shape: fc.array(
            fc.oneof(
              fc.integer({ min: -2, max: 6 }),
              fc.constantFrom(2 ** 31, 2 ** 53, -(2 ** 40)),
            ),
            { maxLength: 5 },
          ),
          parameters: fc.dictionary(oddString, parameter, { maxKeys: 2 }),
          contents,
        },
        { requiredKeys: ['name', 'datatype', 'shape'] },
      ),
      { maxLength: 3 },
    ),
    outputs: fc.array(fc.record({ name: oddString }), { maxLength: 3 }),
    raw_input_contents: fc.array(
      fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
);

/**
 * The gateway's gRPC service, fuzzed in process (the real server and module, a raw
 * @grpc/grpc-js client, fake peers): undecodable and corrupted messages to every
 * method, and decodable ModelInfer requests with hostile fields. Every call ends with a
 * status the contract names and a sentence; the server answers ServerLive afterwards.
 * A fixed seed (PORTFOLIO_TEST_FUZZ_SEED replays, PORTFOLIO_TEST_FUZZ_RUNS runs long).
 */
describe('gRPC fuzzing (in process)', () => {
  let g: GatewayWithPeers;
  let client: Client;
  const tally = new Map<string, number>();

  beforeAll(async () => {
    g = await startInProcess({
      models: { m: 2 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    g.cacheManager.status = sampleStatus();
    const port = await g.app.get(OipGrpcServer).listen('127.0.0.1', 0);
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await g.close();
    if (fuzzParameters(0).long)
      console.log(
        `fuzzed gRPC calls: ${JSON.stringify(Object.fromEntries(tally))}`,
      );
  });

  /** One call with `bytes` as the request message, the admin key unless `key` is given. */
  function call(
    method: GrpcMethod,
    bytes: Buffer,
    key: string | null = ADMIN_KEY,
  ): Promise<{ code: status; details: string }> {
    tally.set(method, (tally.get(method) ?? 0) + 1);
    const metadata = new Metadata();
    if (key !== null) metadata.set('x-api-key', key);
    return new Promise((resolve) =>
      client.makeUnaryRequest(
        DEFINITION[method].path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        metadata,
        (e: ServiceError | null) =>
          resolve(
            e
              ? { code: e.code, details: e.details }
              : { code: status.OK, details: '' },
          ),
      ),
    );
  }

  function expectWithinContract(
    what: string,
    answer: { code: status; details: string },
  ): void {
    if (!ALLOWED.has(answer.code))
      throw new Error(
        `${what}: ${status[answer.code]} "${answer.details}" is not an answer the contract allows`,
      );
    if (answer.code !== status.OK && !/^\S[\s\S]{8,}/.test(answer.details))
      throw new Error(
        `${what}: ${status[answer.code]} without a sentence: ${JSON.stringify(answer.details)}`,
      );
    if (/\n\s+at /.test(answer.details))
      throw new Error(`${what}: a stack trace reached the client`);
  }

  const timeout = fuzzParameters(0).long ? 2 ** 31 - 1 : 60_000;

  it(
    'answers undecodable and corrupted messages to every method within the contract',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...METHODS),
          wireBytes,
          async (method, bytes) =>
            expectWithinContract(
              `${method} with ${bytes.toString('hex').slice(0, 80)}`,
              await call(method, bytes),
            ),
        ),
        fuzzParameters(600),
      );
    },
    timeout,
  );

  it(
    'answers ModelInfer requests with hostile fields within the contract',
    async () => {
      await fc.assert(
        fc.asyncProperty(hostileInfer, async (request) =>
          expectWithinContract(
            `ModelInfer ${JSON.stringify(request).slice(0, 300)}`,
            await call(
              'ModelInfer',
              DEFINITION['ModelInfer'].requestSerialize(request),
            ),
          ),
        ),
        fuzzParameters(600),
      );
    },
    timeout,
  );

  it('refuses an undecodable message without a key as unauthenticated, not as malformed', async () => {
    const answer = await call('ModelInfer', Buffer.from([0xff]), null);
    expect(answer.code).toBe(status.UNAUTHENTICATED);
  });

  it('answers an undecodable message with INVALID_ARGUMENT naming the message', async () => {
    const answer = await call('ModelInfer', Buffer.from([0xff]));
    expect(answer.code).toBe(status.INVALID_ARGUMENT);
    expect(answer.details).toMatch(
      /^the message is not a valid inference\.ModelInferRequest \(.+\)$/,
    );
  });

  it('is live after the fuzz', async () => {
    const answer = await call(
      'ServerLive',
      DEFINITION['ServerLive'].requestSerialize({}),
    );
    expect(answer.code).toBe(status.OK);
  });
});
