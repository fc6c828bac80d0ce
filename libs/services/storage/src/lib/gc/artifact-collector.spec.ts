import {
  existsSync,
  mkdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import { Registry, Storage } from '@portfolio/contracts';
import { BusSubscription, InProcessBus, Messaging } from '@portfolio/messaging';
import { buildMlpModel, buildMultipart, makeTempDir } from '@portfolio/testing';

import {
  filesUnder,
  ingest,
  startStorage,
  StorageUnderTest,
} from '../storage.testing';

const MODEL = buildMlpModel({ inputSize: 4, hidden: [8], outputSize: 2 });
const OTHER = buildMlpModel({
  inputSize: 4,
  hidden: [8],
  outputSize: 2,
  seed: 9,
});
const DAY_AGO = (Date.now() - 24 * 3600_000) / 1000;

/**
 * The collector on a real storage service and local store; the registry's side is a
 * peer on the bus that says what it is told (the registry's own tests cover its query).
 */
describe('garbage collection of stored artifacts', () => {
  let root: string;
  let bus: InProcessBus;
  let storage: StorageUnderTest;
  let client: Messaging;
  let registry: BusSubscription | null;
  /** `<model>/<sha256>` that some version references. */
  let referenced: Set<string>;
  const asked: number[] = [];

  const age = (dir: string) => {
    for (const f of filesUnder(join(root, dir)))
      utimesSync(join(root, dir, f), DAY_AGO, DAY_AGO);
  };

  beforeEach(async () => {
    root = makeTempDir('storage-gc');
    bus = new InProcessBus();
    storage = await startStorage({ bus, prefix: 'test', root });
    client = new Messaging(bus, 'test', 5_000);
    referenced = new Set();
    asked.length = 0;
    registry = client.serve(Registry.referencedArtifacts, (req) => {
      asked.push(req.artifacts.length);
      return {
        referenced: req.artifacts.filter((a) =>
          referenced.has(`${a.model_id}/${a.sha256}`),
        ),
      };
    });
  });
  afterEach(async () => {
    registry?.unsubscribe();
    await storage.close();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('reports in a dry run, then deletes what no version references and is old enough', async () => {
    const kept = await ingest(client, 'a', MODEL);
    const orphan = await ingest(client, 'b', MODEL);
    const form = buildMultipart([
      { name: 'one.onnx', data: MODEL },
      { name: 'notes.txt', data: 'x' },
    ]);
    const recent = await ingest(client, 'c', form.body, {
      contentType: form.contentType,
    });
    referenced.add(`a/${kept.sha256}`);
    age('a');
    age('b');
    // Not artifacts: left alone whatever their age.
    mkdirSync(join(root, 'stray'), { recursive: true });
    writeFileSync(join(root, 'stray', 'file.txt'), 'x');

    const dry = await client.call(Storage.collectGarbage, { dry_run: true });
    expect(dry).toMatchObject({
      dry_run: true,
      scanned: { artifacts: 3, files: 4 },
      unreferenced: { artifacts: 2, too_recent: 1 },
      deleted: { artifacts: 0, bytes: 0 },
    });
    expect(
      dry.unreferenced.listed.map((l) => [l.model_id, l.files, l.collectable]),
    ).toEqual(
      expect.arrayContaining([
        ['b', 1, true],
        ['c', 2, false],
      ]),
    );
    expect(filesUnder(root).filter((f) => !f.startsWith('.'))).toHaveLength(5);

    const real = await client.call(Storage.collectGarbage, { dry_run: false });
    expect(real.deleted).toEqual({ artifacts: 1, bytes: orphan.size_bytes });
    expect(
      filesUnder(root)
        .filter((f) => !f.startsWith('.'))
        .sort(),
    ).toEqual(
      [
        join('a', kept.sha256, 'model.onnx'),
        join('c', recent.sha256, 'notes.txt'),
        join('c', recent.sha256, 'one.onnx'),
        join('stray', 'file.txt'),
      ].sort(),
    );

    // With no minimum age, the recent one goes too.
    const all = await client.call(Storage.collectGarbage, {
      dry_run: false,
      min_age_ms: 0,
    });
    expect(all.deleted.artifacts).toBe(1);
    expect(existsSync(join(root, 'c', recent.sha256))).toBe(false);
  });

  it('keeps an old orphan that an upload of the same bytes has just reused', async () => {
    const orphan = await ingest(client, 'b', OTHER);
    age('b');
    const again = await ingest(client, 'b', OTHER);
    expect(again).toEqual({ ...orphan, created: false });

    const res = await client.call(Storage.collectGarbage, { dry_run: false });

    expect(res.unreferenced.too_recent).toBe(1);
    expect(res.deleted.artifacts).toBe(0);
    expect(filesUnder(join(root, 'b'))).toHaveLength(1);
  });

  it('deletes nothing when the registry does not answer', async () => {
    await ingest(client, 'b', OTHER);
    age('b');
    registry?.unsubscribe();
    registry = null;

    await expect(
      client.call(Storage.collectGarbage, { dry_run: false }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(filesUnder(join(root, 'b'))).toHaveLength(1);
  });

  it('asks the registry in batches, and again just before deleting', async () => {
    for (let i = 0; i < 3; i++) await ingest(client, `m${i}`, MODEL);
    for (let i = 0; i < 3; i++) age(`m${i}`);
    // A version created while the collection runs: the second question sees it.
    let questions = 0;
    registry?.unsubscribe();
    registry = client.serve(Registry.referencedArtifacts, (req) => {
      asked.push(req.artifacts.length);
      questions++;
      return {
        referenced: req.artifacts.filter(
          (a) => questions > 1 && a.model_id === 'm1',
        ),
      };
    });

    const res = await client.call(Storage.collectGarbage, { dry_run: false });

    expect(asked).toEqual([3, 3]);
    expect(res.deleted.artifacts).toBe(2);
    expect(filesUnder(join(root, 'm1'))).toHaveLength(1);
  });
});
