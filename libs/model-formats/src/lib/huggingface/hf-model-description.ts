import { PortfolioError, Signature } from '@portfolio/contracts';

/** The tasks this server runs HuggingFace models for. */
export const HF_TASKS = ['feature-extraction', 'text-classification'] as const;
export type HfTask = (typeof HF_TASKS)[number];

/** How token embeddings become one embedding per text; 'none' keeps [batch, tokens, hidden]. */
export const HF_POOLINGS = ['mean', 'cls', 'none'] as const;
export type HfPooling = (typeof HF_POOLINGS)[number];

/** What a HuggingFace model directory says about how to serve it. */
export interface HfModelDescription {
  readonly task: HfTask;
  readonly modelType: string;
  /** feature-extraction only. */
  readonly pooling: HfPooling;
  /** feature-extraction only: L2-normalizes each embedding. */
  readonly normalize: boolean;
  /** text-classification only: class names by id (config.json's id2label, else LABEL_<id>). */
  readonly labels: readonly string[];
  readonly signature: Signature;
}

/**
 * `portfolio.json`, an optional manifest beside config.json that says what config.json
 * cannot: which task a model is served for and how embeddings are pooled.
 */
export interface HfManifest {
  task?: HfTask;
  pooling?: HfPooling;
  normalize?: boolean;
}

export const TEXT_INPUT = 'text';

function invalid(sentence: string): PortfolioError {
  return new PortfolioError('INVALID_ARTIFACT', sentence);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parses config.json's text; INVALID_ARTIFACT unless it is a JSON object with a `model_type`. */
export function parseHfConfig(text: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw invalid(`config.json is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(config)) throw invalid('config.json must hold a JSON object');
  if (typeof config['model_type'] !== 'string' || !config['model_type'])
    throw invalid(
      'config.json has no "model_type": it is not a HuggingFace Transformers model configuration',
    );
  return config;
}

/** Parses portfolio.json's text; INVALID_ARTIFACT naming the field that is wrong. */
export function parseHfManifest(text: string): HfManifest {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw invalid(`portfolio.json is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(manifest))
    throw invalid('portfolio.json must hold a JSON object');
  const { task, pooling, normalize } = manifest;
  if (task !== undefined && !HF_TASKS.includes(task as HfTask))
    throw invalid(
      `portfolio.json: "task" must be one of ${HF_TASKS.join(', ')}, not ${JSON.stringify(task)}`,
    );
  if (pooling !== undefined && !HF_POOLINGS.includes(pooling as HfPooling))
    throw invalid(
      `portfolio.json: "pooling" must be one of ${HF_POOLINGS.join(', ')}, not ${JSON.stringify(pooling)}`,
    );
  if (normalize !== undefined && typeof normalize !== 'boolean')
    throw invalid('portfolio.json: "normalize" must be true or false');
  return {
    task: task as HfTask | undefined,
    pooling: pooling as HfPooling | undefined,
    normalize: normalize as boolean | undefined,
  };
}

/**
 * The task: the manifest's, else config.json's `portfolio_task`, else what its
 * `architectures` name (`…ForSequenceClassification` classifies text), else
 * feature-extraction, which any encoder supports.
 */
function taskOf(config: Record<string, unknown>, manifest: HfManifest): HfTask {
  if (manifest.task) return manifest.task;
  const declared = config['portfolio_task'];
  if (declared !== undefined) {
    if (!HF_TASKS.includes(declared as HfTask))
      throw invalid(
        `config.json: "portfolio_task" must be one of ${HF_TASKS.join(', ')}, not ${JSON.stringify(declared)}`,
      );
    return declared as HfTask;
  }
  const architectures = config['architectures'];
  if (
    Array.isArray(architectures) &&
    architectures.some(
      (a) => typeof a === 'string' && a.endsWith('ForSequenceClassification'),
    )
  )
    return 'text-classification';
  return 'feature-extraction';
}

function labelsOf(config: Record<string, unknown>): string[] {
  const id2label = config['id2label'];
  const numLabels = config['num_labels'];
  if (isRecord(id2label)) {
    const ids = Object.keys(id2label).map(Number);
    if (
      ids.length === 0 ||
      ids.some((id) => !Number.isInteger(id) || id < 0 || id >= ids.length)
    )
      throw invalid(
        'config.json: "id2label" must map the ids 0..n-1 to class names',
      );
    return ids.sort((a, b) => a - b).map((id) => String(id2label[String(id)]));
  }
  if (typeof numLabels === 'number' && Number.isInteger(numLabels))
    return Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
  return [];
}

/**
 * What to serve, from config.json (and the manifest): the task, its options and the
 * signature, the same at ingest as once loaded. Input: `text` BYTES [batch]. Outputs:
 * feature-extraction `embeddings` FP32 [batch, hidden] ([batch, tokens, hidden] without
 * pooling); text-classification `label` BYTES [batch], `score` FP32 [batch] (the best
 * class's probability), `logits` and `probabilities` FP32 [batch, classes].
 */
export function describeHfModel(
  config: Record<string, unknown>,
  manifest: HfManifest = {},
): HfModelDescription {
  const task = taskOf(config, manifest);
  const hiddenSize =
    config['hidden_size'] ?? config['d_model'] ?? config['dim'];
  const hidden =
    typeof hiddenSize === 'number' && Number.isInteger(hiddenSize)
      ? hiddenSize
      : -1;
  const labels = task === 'text-classification' ? labelsOf(config) : [];
  const pooling = manifest.pooling ?? 'mean';
  const inputs = [
    { name: TEXT_INPUT, datatype: 'BYTES' as const, shape: [-1] },
  ];
  if (task === 'feature-extraction') {
    return {
      task,
      modelType: String(config['model_type']),
      pooling,
      normalize: manifest.normalize ?? false,
      labels,
      signature: {
        inputs,
        outputs: [
          {
            name: 'embeddings',
            datatype: 'FP32',
            shape: pooling === 'none' ? [-1, -1, hidden] : [-1, hidden],
          },
        ],
      },
    };
  }
  const classes = labels.length || -1;
  return {
    task,
    modelType: String(config['model_type']),
    pooling,
    normalize: false,
    labels,
    signature: {
      inputs,
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'score', datatype: 'FP32', shape: [-1] },
        { name: 'logits', datatype: 'FP32', shape: [-1, classes] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, classes] },
      ],
    },
  };
}
