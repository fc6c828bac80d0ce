import { z } from 'zod';

import { Datatype, DATATYPES } from '@portfolio/tensor';

import { PortfolioError } from '../errors/portfolio.error';

export const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const MODEL_FORMATS = [
  'onnx',
  'tensorflow',
  'pytorch',
  'sklearn',
  'huggingface',
  'custom',
] as const;
/** Formats this build can ingest and load; the others are refused with UNSUPPORTED_FORMAT. */
export const SUPPORTED_FORMATS: readonly ModelFormat[] = [
  'onnx',
  'pytorch',
  'sklearn',
  'tensorflow',
  'huggingface',
  'custom',
];

export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** UNSUPPORTED_FORMAT (400) for a format this build cannot ingest or load. */
export function assertSupportedFormat(format: ModelFormat): void {
  if (!SUPPORTED_FORMATS.includes(format)) {
    throw new PortfolioError(
      'UNSUPPORTED_FORMAT',
      `format "${format}" is not supported by this server yet (supported: ${SUPPORTED_FORMATS.join(', ')})`,
      { format, supported: [...SUPPORTED_FORMATS] },
    );
  }
}

/** ONNX Runtime's graph optimization levels, by the names its API gives them. */
export const GRAPH_OPTIMIZATION_LEVELS = [
  'disabled',
  'basic',
  'extended',
  'all',
] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/**
 * A model's engine settings as messages carry them (see the model-formats library's
 * EngineOptions): every field optional, none: the backend's defaults.
 */
export const EngineSettingsSchema = z
  .object({
    threads: z.number().int().min(1).max(64).optional(),
    graph_optimization: z.enum(GRAPH_OPTIMIZATION_LEVELS).optional(),
    memory_arena: z.boolean().optional(),
    execution_provider: z.enum(EXECUTION_PROVIDERS).optional(),
  })
  .strict();
export type EngineSettings = z.infer<typeof EngineSettingsSchema>;

/**
 * A model's pre- and post-processing, declared by its operator: inputs normalized
 * (`x' = (x - offset) * scale`, a number for every element or one per position of the
 * last dimension) so that clients send raw values; classifier outputs mapped to names
 * (`labels[i]` for class index i). Applied by the runtime around every run.
 */
const PerChannel = z.union([
  z.number().finite(),
  z.array(z.number().finite()).min(1).max(65_536),
]);
export const ProcessingSchema = z
  .object({
    inputs: z
      .record(
        z.string().min(1),
        z
          .object({
            offset: PerChannel.optional(),
            scale: PerChannel.optional(),
          })
          .strict(),
      )
      .optional(),
    outputs: z
      .record(
        z.string().min(1),
        z
          .object({
            labels: z.array(z.string().max(1024)).min(1).max(100_000),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();
export type Processing = z.infer<typeof ProcessingSchema>;

/** The integer datatypes: what a classifier's class indices come as. */
export const INTEGER_DATATYPES: ReadonlySet<string> = new Set([
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
]);

/** The output a float classifier output's names come out as: `<name>_label`. */
export const labelOutputName = (output: string) => `${output}_label`;

/**
 * The signature a model has once `processing` applies: an integer output with labels
 * becomes BYTES of the same shape (each class index replaced by its name); a float
 * output with labels (scores per class, along its last dimension) stays, and
 * `<name>_label` follows it: BYTES, the name of the highest-scoring class, shaped as
 * the output without its last dimension. Inputs keep their signature (normalization
 * changes values, not types).
 */
export function processedSignature(
  signature: Signature,
  processing: Processing | null | undefined,
): Signature {
  const labelled = processing?.outputs ?? {};
  if (Object.keys(labelled).length === 0) return signature;
  const outputs: TensorSpecMessage[] = [];
  for (const o of signature.outputs) {
    if (!labelled[o.name]) outputs.push(o);
    else if (INTEGER_DATATYPES.has(o.datatype))
      outputs.push({ ...o, datatype: 'BYTES' });
    else
      outputs.push(o, {
        name: labelOutputName(o.name),
        datatype: 'BYTES',
        shape: o.shape.slice(0, -1),
      });
  }
  return { inputs: signature.inputs, outputs };
}

/** The formats whose models run on ONNX Runtime, to which its session settings apply. */
export const ONNX_RUNTIME_FORMATS: readonly ModelFormat[] = [
  'onnx',
  'huggingface',
];

/**
 * INVALID_REQUEST where `engine` sets ONNX Runtime's session for a format that does not
 * run on it: silently ignoring a setting would hide a mistake.
 */
export function assertEngineSettingsFor(
  format: ModelFormat,
  engine: EngineSettings | null | undefined,
): void {
  if (!engine || ONNX_RUNTIME_FORMATS.includes(format)) return;
  const session = (
    ['graph_optimization', 'memory_arena', 'execution_provider'] as const
  ).filter((k) => engine[k] !== undefined);
  if (session.length > 0)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `engine.${session[0]} applies to models that run on ONNX Runtime (${ONNX_RUNTIME_FORMATS.join(', ')}), not to ${format}; only engine.threads does`,
      { field: `engine.${session[0]}` },
    );
}

export function isModelId(value: unknown): value is string {
  return typeof value === 'string' && MODEL_ID_PATTERN.test(value);
}

export const ModelId = z
  .string()
  .regex(MODEL_ID_PATTERN, 'model ids match ^[a-z0-9][a-z0-9._-]{0,127}$');
export const ModelFormatSchema = z.enum(MODEL_FORMATS);

/** Alias names (`production`, `staging`, ...): as a model id, at most 64 characters. */
export const ALIAS_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const AliasName = z
  .string()
  .regex(ALIAS_PATTERN, 'alias names match ^[a-z0-9][a-z0-9._-]{0,63}$');
export function isAliasName(value: unknown): boolean {
  return typeof value === 'string' && ALIAS_PATTERN.test(value);
}
/** The alias a model's default version follows when it is set. */
export const DEFAULT_ALIAS = 'production';
export const VersionNumber = z.number().int().positive();
export const Bytes = z.number().int().nonnegative();
export const NodeId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const DatatypeSchema = z.enum(
  DATATYPES as readonly [Datatype, ...Datatype[]],
);

/** One input or output of a model; -1 marks a variable dimension. */
export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  datatype: DatatypeSchema,
  shape: z.array(z.number().int().min(-1)),
});
export type TensorSpecMessage = z.infer<typeof TensorSpecSchema>;

export const SignatureSchema = z.object({
  inputs: z.array(TensorSpecSchema),
  outputs: z.array(TensorSpecSchema),
});
export type Signature = z.infer<typeof SignatureSchema>;

export const Empty = z.object({});
export type Empty = z.infer<typeof Empty>;

export const PingResponse = z.object({
  service: z.string(),
  instance: z.string(),
  started_at: z.string(),
});
export type PingResponse = z.infer<typeof PingResponse>;
