import {
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { PortfolioError, Storage } from '@portfolio/contracts';
import { InProcessBus, Messaging } from '@portfolio/messaging';
import {
  buildLargeModel,
  buildMlpModel,
  makeTempDir,
} from '@portfolio/testing';

import {
  filesUnder,
  ingest,
  startStorage,
  StorageUnderTest,
} from '../storage.testing';

const MODEL = buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2 });

/** Registration by URI from a local import source, through the storage service. */
describe('importing an artifact by URI', () => {
  let root: string;
  let source: string;
  let outside: string;
  let bus: InProcessBus;
  let storage: StorageUnderTest;
  let client: Messaging;
  const url = (path: string) => pathToFileURL(path).href;
  const importUri = (uri: string, sha256?: string) =>
    client.call(
      Storage.importUri,
      { model_id: 'iris', format: 'onnx', uri, ...(sha256 ? { sha256 } : {}) },
      { timeoutMs: 10_000 },
    );
  const refusal = (uri: string, sha256?: string) =>
    importUri(uri, sha256).then(
      () => {
        throw new Error('imported');
      },
      (e: unknown) => e as PortfolioError,
    );
  const stored = () => filesUnder(root).filter((f) => !f.startsWith('.'));

  beforeAll(() => {
    source = makeTempDir('import-source');
    outside = makeTempDir('import-outside');
    writeFileSync(join(source, 'iris.onnx'), MODEL);
    buildLargeModel({
      weightBytes: 16 * 1024,
      externalData: true,
      dir: join(source, 'big'),
      name: 'big',
    });
    writeFileSync(join(outside, 'secret.onnx'), MODEL);
    symlinkSync(join(outside, 'secret.onnx'), join(source, 'link.onnx'));
    mkdirSync(join(source, 'linked-dir'));
    symlinkSync(
      join(outside, 'secret.onnx'),
      join(source, 'linked-dir', 'model.onnx'),
    );
  });
  afterAll(() => {
    rmSync(source, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  beforeEach(async () => {
    root = makeTempDir('import-store');
    bus = new InProcessBus();
    storage = await startStorage({
      bus,
      prefix: 'test',
      root,
      importSources: {
        sources: [url(source)],
        driverFor: () => Promise.reject(new Error('no cloud source here')),
      },
    });
    client = new Messaging(bus, 'test', 10_000);
  });
  afterEach(async () => {
    await storage.close();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('imports a file as the same artifact an upload of it makes', async () => {
    const uploaded = await ingest(client, 'iris', MODEL);

    const imported = await importUri(url(join(source, 'iris.onnx')));

    expect(imported).toEqual({ ...uploaded, created: false });
  });

  it('imports a directory as one artifact, its model with its external data', async () => {
    const res = await importUri(url(join(source, 'big')));

    expect(res.artifact_uri).toBe(`local:iris/${res.sha256}/big.onnx`);
    expect(stored().sort()).toEqual(
      [
        join('iris', res.sha256, 'big.data'),
        join('iris', res.sha256, 'big.onnx'),
      ].sort(),
    );
    expect(readFileSync(join(root, 'iris', res.sha256, 'big.data'))).toEqual(
      readFileSync(join(source, 'big', 'big.data')),
    );
  });

  it('checks the sha256 given, storing nothing on a mismatch', async () => {
    const wrong = 'f'.repeat(64);
    const e = await refusal(url(join(source, 'iris.onnx')), wrong);

    expect(e.code).toBe('INVALID_ARTIFACT');
    expect(e.message).toMatch(/has sha256 [0-9a-f]{64}, not the f{64} given/);
    expect(stored()).toEqual([]);
    const right = (await ingest(client, 'other', MODEL)).sha256;
    await expect(
      importUri(url(join(source, 'iris.onnx')), right),
    ).resolves.toMatchObject({ sha256: right });
  });

  it.each([
    [
      'a file outside every source',
      () => url(join(outside, 'secret.onnx')),
      'INVALID_REQUEST',
      /not under a source/,
    ],
    [
      'a path with ..',
      () => `${url(source)}/../x/secret.onnx`,
      'INVALID_REQUEST',
      /not under a source/,
    ],
    [
      'a link leading out',
      () => url(join(source, 'link.onnx')),
      'INVALID_REQUEST',
      /leads out/,
    ],
    [
      'a directory holding a link',
      () => url(join(source, 'linked-dir')),
      'INVALID_ARTIFACT',
      /links are not followed/,
    ],
    [
      'nothing',
      () => url(join(source, 'missing.onnx')),
      'ARTIFACT_NOT_FOUND',
      /nothing is at/,
    ],
    [
      'another scheme',
      () => 'http://example.com/model.onnx',
      'INVALID_REQUEST',
      /not under a source/,
    ],
  ])('refuses %s, storing nothing', async (_what, uri, code, message) => {
    const e = await refusal(uri());

    expect(e).toBeInstanceOf(PortfolioError);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    expect(stored()).toEqual([]);
  });
});
