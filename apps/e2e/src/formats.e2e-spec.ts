import { join } from 'node:path';

import {
  AppProcess,
  makeTempDir,
  writeTinyBertModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { formatsFlow } from './formats-flow.testing';
import { http, useKey } from './http.testing';
import { startStandalone } from './standalone.testing';

const ADMIN_KEY = 'formats-admin-key-0123';

/** Outputs come back as nested arrays following their shapes. */
interface Predicted {
  outputs: Record<string, unknown[]>;
}

/**
 * Every format in the standalone app (see formatsFlow), and a directory format named
 * in the configuration file, which the app uploads as the files it holds.
 */
describe('every model format in the standalone app', () => {
  const dataDir = makeTempDir('formats-data');
  const fixtures = makeTempDir('formats-fixtures');
  let app: AppProcess;
  let url = '';

  beforeAll(async () => {
    // A directory format named in the configuration file: uploaded as its files.
    writeTinyBertModel(join(fixtures, 'embedder'), {
      task: 'feature-extraction',
      hidden: 8,
    });
    ({ app, url } = await startStandalone({
      dir: fixtures,
      dataDir,
      adminKey: ADMIN_KEY,
      extraConfig: [
        'models:',
        '  embedder:',
        '    path: ./embedder',
        '    type: huggingface',
        '    aliases: [production]',
      ],
    }));
    useKey(url, ADMIN_KEY);
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  });

  async function predict(id: string, inputs: unknown): Promise<Predicted> {
    const res = await http<Predicted>(`${url}/v1/models/${id}/predict`, {
      json: { inputs },
    });
    if (res.status !== 200)
      throw new Error(
        `predict ${id}: ${res.status} ${JSON.stringify(res.body)}`,
      );
    return res.body;
  }

  it('registers a model directory named in the configuration file, as the files it holds', async () => {
    const got = await eventually(
      'the configured HuggingFace model to be registered and served',
      () =>
        predict('embedder', {
          text: {
            datatype: 'BYTES',
            shape: [2],
            data: ['a good movie', 'bad'],
          },
        }),
    );

    expect(got.outputs['embeddings']).toHaveLength(2);
    for (const row of got.outputs['embeddings'] as number[][])
      expect(row).toHaveLength(8);
  });

  formatsFlow(() => ({ url, adminKey: ADMIN_KEY }));

  it('recognizes the configured directory as the version it already is when restarted, without uploading it again', async () => {
    await app.stop();
    await app.start();
    const messages = app.logRecords().map((r) => String(r['message']));
    expect(messages.filter((m) => m.startsWith('embedder:'))).toEqual([
      expect.stringMatching(/^embedder: .*embedder is already version 1$/),
    ]);
    const versions = await http<{ versions: unknown[] }>(
      `${url}/admin/models/embedder/versions`,
      { method: 'GET' },
    );
    expect(versions.status).toBe(200);
    expect(versions.body.versions).toHaveLength(1);
  }, 120_000);
});
