import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import {
  buildGenericModel,
  ElemType,
  float32Raw,
  int64Raw,
  InitializerSpec,
  NodeSpec,
} from '../onnx/generic-model';
import { mulberry32 } from '../onnx/prng';

/** Special tokens first, so their ids are fixed: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4. */
export const TINY_BERT_VOCAB: readonly string[] = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  '.',
  ',',
  '!',
  'a',
  'the',
  'is',
  'was',
  'this',
  'movie',
  'film',
  'good',
  'great',
  'bad',
  'awful',
  'cat',
  'sat',
  'on',
  'mat',
  'hello',
  'world',
  'play',
  '##s',
  '##ing',
  '##ed',
  'love',
  'hate',
  'it',
];

export interface TinyBertOptions {
  /**
   * 'feature-extraction': a BertModel whose output is `last_hidden_state` FP32 [batch, seq, hidden];
   * 'text-classification': a BertForSequenceClassification whose output is `logits` FP32
   * [batch, labels] (a linear layer on the [CLS] token's hidden state).
   */
  task: 'feature-extraction' | 'text-classification';
  /** Default 8. */
  hidden?: number;
  /** Class names, in id order (config.json's id2label). Default ['negative', 'positive']. */
  labels?: string[];
  /** Weight seed; the same options always give the same bytes. Default 7. */
  seed?: number;
  /** Whether the graph takes `token_type_ids` (BERT's segment ids). Default true. */
  tokenTypeIds?: boolean;
  /** Written as `portfolio.json` beside config.json when given. */
  manifest?: Record<string, unknown>;
  /** Writes the graph as `<dir>/model.onnx` rather than `<dir>/onnx/model.onnx`. Default false. */
  onnxAtTop?: boolean;
}

export interface TinyBertFiles {
  /** The model directory (absolute). */
  dir: string;
  configPath: string;
  onnxPath: string;
  tokenizerPath: string;
}

function randomMatrix(
  random: () => number,
  length: number,
  scale: number,
): Float32Array {
  const m = new Float32Array(length);
  for (let i = 0; i < length; i++) m[i] = (random() * 2 - 1) * scale;
  return m;
}

/**
 * A BERT-shaped graph, small and deterministic, with the inputs HF exports have:
 * `input_ids`, `attention_mask` (and `token_type_ids`), INT64 [batch, seq]:
 *   h = Tanh((E[input_ids] + T[token_type_ids]) · W + b) * attention_mask
 * then, for classification, `logits` = h[:, 0, :] · Wc + bc. The mask multiplies the
 * hidden states so that padding changes what a pooled embedding would be if ignored.
 */
export function buildTinyBertOnnx(opts: TinyBertOptions): Uint8Array {
  const hidden = opts.hidden ?? 8;
  const labels = opts.labels ?? ['negative', 'positive'];
  const withTypes = opts.tokenTypeIds ?? true;
  const random = mulberry32(opts.seed ?? 7);
  const vocab = TINY_BERT_VOCAB.length;
  const f = ElemType.FLOAT;
  const initializers: InitializerSpec[] = [
    {
      name: 'word_embeddings',
      elemType: f,
      dims: [vocab, hidden],
      raw: float32Raw(randomMatrix(random, vocab * hidden, 1)),
    },
    {
      name: 'dense_W',
      elemType: f,
      dims: [hidden, hidden],
      raw: float32Raw(randomMatrix(random, hidden * hidden, 0.5)),
    },
    {
      name: 'dense_b',
      elemType: f,
      dims: [hidden],
      raw: float32Raw(randomMatrix(random, hidden, 0.1)),
    },
    {
      name: 'unsqueeze_axes',
      elemType: ElemType.INT64,
      dims: [1],
      raw: int64Raw([2]),
    },
  ];
  const nodes: NodeSpec[] = [
    {
      opType: 'Gather',
      inputs: ['word_embeddings', 'input_ids'],
      outputs: ['words'],
    },
  ];
  let embedded = 'words';
  if (withTypes) {
    initializers.push({
      name: 'token_type_embeddings',
      elemType: f,
      dims: [2, hidden],
      raw: float32Raw(randomMatrix(random, 2 * hidden, 0.5)),
    });
    nodes.push(
      {
        opType: 'Gather',
        inputs: ['token_type_embeddings', 'token_type_ids'],
        outputs: ['types'],
      },
      { opType: 'Add', inputs: ['words', 'types'], outputs: ['embedded'] },
    );
    embedded = 'embedded';
  }
  const classify = opts.task === 'text-classification';
  nodes.push(
    { opType: 'MatMul', inputs: [embedded, 'dense_W'], outputs: ['mm'] },
    { opType: 'Add', inputs: ['mm', 'dense_b'], outputs: ['pre'] },
    { opType: 'Tanh', inputs: ['pre'], outputs: ['act'] },
    {
      opType: 'Cast',
      inputs: ['attention_mask'],
      outputs: ['mask_f'],
      attributes: { to: ElemType.FLOAT },
    },
    {
      opType: 'Unsqueeze',
      inputs: ['mask_f', 'unsqueeze_axes'],
      outputs: ['mask_3d'],
    },
    {
      opType: 'Mul',
      inputs: ['act', 'mask_3d'],
      outputs: [classify ? 'hidden_states' : 'last_hidden_state'],
    },
  );
  if (classify) {
    initializers.push(
      {
        name: 'cls_index',
        elemType: ElemType.INT64,
        dims: [],
        raw: int64Raw([0]),
      },
      {
        name: 'classifier_W',
        elemType: f,
        dims: [hidden, labels.length],
        raw: float32Raw(randomMatrix(random, hidden * labels.length, 1)),
      },
      {
        name: 'classifier_b',
        elemType: f,
        dims: [labels.length],
        raw: float32Raw(randomMatrix(random, labels.length, 0.1)),
      },
    );
    nodes.push(
      {
        opType: 'Gather',
        inputs: ['hidden_states', 'cls_index'],
        outputs: ['cls'],
        attributes: { axis: 1 },
      },
      { opType: 'MatMul', inputs: ['cls', 'classifier_W'], outputs: ['cmm'] },
      { opType: 'Add', inputs: ['cmm', 'classifier_b'], outputs: ['logits'] },
    );
  }
  const ids = (name: string) => ({
    name,
    elemType: ElemType.INT64,
    shape: ['batch', 'sequence'],
  });
  return buildGenericModel({
    inputs: [
      ids('input_ids'),
      ids('attention_mask'),
      ...(withTypes ? [ids('token_type_ids')] : []),
    ],
    outputs: [
      classify
        ? { name: 'logits', elemType: f, shape: ['batch', labels.length] }
        : {
            name: 'last_hidden_state',
            elemType: f,
            shape: ['batch', 'sequence', hidden],
          },
    ],
    initializers,
    nodes,
    docString: `Tiny BERT-shaped ${opts.task} model (hidden ${hidden}, seed ${opts.seed ?? 7})`,
    metadata: { fixture: 'tiny-bert', task: opts.task },
  });
}

/**
 * A BERT WordPiece tokenizer in the `tokenizers` library's JSON format: lower-casing
 * BertNormalizer, BertPreTokenizer (whitespace and punctuation), WordPiece over `vocab`,
 * and `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` templates.
 */
export function buildWordPieceTokenizerJson(
  vocab: readonly string[] = TINY_BERT_VOCAB,
): Record<string, unknown> {
  const idOf = (token: string) => {
    const id = vocab.indexOf(token);
    if (id < 0) throw new Error(`the vocabulary lacks ${token}`);
    return id;
  };
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const specialToken = (token: string) => ({
    id: token,
    ids: [idOf(token)],
    tokens: [token],
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content) => ({
      id: idOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': specialToken('[CLS]'),
        '[SEP]': specialToken('[SEP]'),
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
    },
  };
}

/**
 * Writes a complete HuggingFace model directory, as the hub's ONNX exports lay it out:
 * `config.json`, `tokenizer.json`, `tokenizer_config.json`, `onnx/model.onnx` (and
 * `portfolio.json` when `opts.manifest` is given), under `dir` (created).
 */
export function writeTinyBertModel(
  dir: string,
  opts: TinyBertOptions,
): TinyBertFiles {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const hidden = opts.hidden ?? 8;
  const labels = opts.labels ?? ['negative', 'positive'];
  const classify = opts.task === 'text-classification';
  const json = (name: string, value: unknown) => {
    const path = join(root, name);
    writeFileSync(path, JSON.stringify(value, null, 2));
    return path;
  };
  const configPath = json('config.json', {
    model_type: 'bert',
    architectures: [classify ? 'BertForSequenceClassification' : 'BertModel'],
    hidden_size: hidden,
    vocab_size: TINY_BERT_VOCAB.length,
    max_position_embeddings: 64,
    num_attention_heads: 1,
    num_hidden_layers: 1,
    type_vocab_size: 2,
    ...(classify && {
      id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
      label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    }),
  });
  const tokenizerPath = json('tokenizer.json', buildWordPieceTokenizerJson());
  json('tokenizer_config.json', {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: 64,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    clean_up_tokenization_spaces: true,
  });
  if (opts.manifest) json('portfolio.json', opts.manifest);
  const onnxDir = opts.onnxAtTop ? root : join(root, 'onnx');
  mkdirSync(onnxDir, { recursive: true });
  const onnxPath = join(onnxDir, 'model.onnx');
  writeFileSync(onnxPath, buildTinyBertOnnx(opts));
  return { dir: root, configPath, onnxPath, tokenizerPath };
}
