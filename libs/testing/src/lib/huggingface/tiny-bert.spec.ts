import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { AutoTokenizer } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';

import { makeTempDir } from '../services/temp-dir';
import { TINY_BERT_VOCAB, writeTinyBertModel } from './tiny-bert';

describe('writeTinyBertModel', () => {
  let root: string;

  beforeAll(() => {
    root = makeTempDir('tiny-bert');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a WordPiece tokenizer that lower-cases, splits punctuation and word pieces, and adds [CLS]/[SEP]', async () => {
    const files = writeTinyBertModel(join(root, 'tok'), {
      task: 'feature-extraction',
    });
    const tokenizer = await AutoTokenizer.from_pretrained(files.dir, {
      local_files_only: true,
    });

    const ids = tokenizer.encode('Hello, WORLD! zebras playing');

    const id = (t: string) => TINY_BERT_VOCAB.indexOf(t);
    expect(ids).toEqual(
      [
        '[CLS]',
        'hello',
        ',',
        'world',
        '!',
        '[UNK]',
        'play',
        '##ing',
        '[SEP]',
      ].map(id),
    );
  });

  it.each(['feature-extraction', 'text-classification'] as const)(
    'writes a %s graph that ONNX Runtime runs with the shapes BERT exports have',
    async (task) => {
      const files = writeTinyBertModel(join(root, task), {
        task,
        hidden: 5,
        labels: ['a', 'b', 'c'],
      });
      const session = await ort.InferenceSession.create(files.onnxPath);
      const ids = (values: number[]) =>
        new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [2, 3]);

      const out = await session.run({
        input_ids: ids([2, 23, 3, 2, 3, 0]),
        attention_mask: ids([1, 1, 1, 1, 1, 0]),
        token_type_ids: ids([0, 0, 0, 0, 0, 0]),
      });
      await session.release();

      if (task === 'feature-extraction') {
        const states = out['last_hidden_state'];
        expect(states.dims).toEqual([2, 3, 5]);
        // The mask zeroes the padded token's hidden state.
        const padded = Array.from((states.data as Float32Array).slice(25));
        expect(padded.map(Math.abs)).toEqual([0, 0, 0, 0, 0]);
        expect(
          Array.from(states.data as Float32Array).some((v) => v !== 0),
        ).toBe(true);
      } else {
        expect(out['logits'].dims).toEqual([2, 3]);
      }
    },
  );
});
