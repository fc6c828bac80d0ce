import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ConfiguredModel } from '@portfolio/config';

import { exampleRequests } from './example-requests';

describe(exampleRequests.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'portfolio-examples-'));
  const model = (id: string, folder: string): ConfiguredModel => ({
    id,
    path: join(folder, 'model.onnx'),
    format: 'onnx',
    memoryEstimateBytes: null,
    memoryEstimateAuthoritative: false,
    preload: false,
    pinned: false,
    ttlMs: null,
    description: null,
    aliases: [],
    maxBatchSize: null,
    maxQueueDelayMs: null,
    engine: null,
    processing: null,
  });

  it('prints a prediction with the inputs of samples.json beside the model', () => {
    const folder = join(dir, 'with-samples');
    mkdirSync(folder);
    writeFileSync(
      join(folder, 'samples.json'),
      JSON.stringify({ inputs: { x: [[1, 2]] }, labels: ['a'] }),
    );
    expect(exampleRequests('http://h:1', [model('m', folder)])).toEqual([
      `  predict: curl -s -X POST http://h:1/v1/models/m/predict -H 'Content-Type: application/json' -d '{"inputs":{"x":[[1,2]]}}'`,
    ]);
  });

  it('quotes single quotes for the shell', () => {
    const folder = join(dir, 'quotes');
    mkdirSync(folder);
    writeFileSync(
      join(folder, 'samples.json'),
      JSON.stringify({ inputs: { text: [["it's"]] } }),
    );
    expect(exampleRequests('http://h:1', [model('q', folder)])[0]).toContain(
      `-d '{"inputs":{"text":[["it'\\''s"]]}}'`,
    );
  });

  it('falls back to the metadata when there are no usable samples', () => {
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'samples.json'), '{ not json');
    expect(
      exampleRequests('http://h:1', [model('a', bare), model('b', broken)]),
    ).toEqual([
      '  model:   curl -s http://h:1/v1/models/a/metadata',
      '  model:   curl -s http://h:1/v1/models/b/metadata',
    ]);
  });

  it('sends $PORTFOLIO_API_KEY on every line when auth is on', () => {
    const bare = join(dir, 'keyed');
    mkdirSync(bare);
    expect(exampleRequests('http://h:1', [model('k', bare)], true)).toEqual([
      '  model:   curl -s -H "Authorization: Bearer $PORTFOLIO_API_KEY" http://h:1/v1/models/k/metadata',
    ]);
  });
});
