import {
  INTEGER_DATATYPES,
  labelOutputName,
  PortfolioError,
  Processing,
  processedSignature,
  Signature,
} from '@portfolio/contracts';
import { Datatype, Tensor, TensorData } from '@portfolio/tensor';

import type { LoadedModel } from '../model-backend';

const FLOATS: ReadonlySet<Datatype> = new Set(['FP32', 'FP64']);
const INTEGERS: ReadonlySet<string> = INTEGER_DATATYPES;

/**
 * Throws a sentence naming what does not fit where `processing` does not apply to the
 * model: an input or output it does not have, normalization of an input that is not
 * FP32 or FP64, per-position values whose count is not the input's fixed last
 * dimension, labels on an output that is neither integer class indices nor float
 * scores. Checked when the model loads, so that a bad setting fails the load, not
 * every request.
 */
export function checkProcessing(
  signature: Signature,
  processing: Processing,
): void {
  const inputs = new Map(signature.inputs.map((i) => [i.name, i]));
  const outputs = new Map(signature.outputs.map((o) => [o.name, o]));
  for (const [name, norm] of Object.entries(processing.inputs ?? {})) {
    const spec = inputs.get(name);
    if (!spec)
      throw problem(
        `processing.inputs names "${name}", which is not an input (inputs: ${[...inputs.keys()].join(', ')})`,
      );
    if (!FLOATS.has(spec.datatype))
      throw problem(
        `processing.inputs."${name}" normalizes an ${spec.datatype} input; only FP32 and FP64 inputs are normalized`,
      );
    const last = spec.shape[spec.shape.length - 1];
    for (const key of ['offset', 'scale'] as const) {
      const value = norm[key];
      if (
        Array.isArray(value) &&
        last !== undefined &&
        last >= 0 &&
        value.length !== last
      )
        throw problem(
          `processing.inputs."${name}".${key} has ${value.length} values; the input's last dimension is ${last}`,
        );
    }
  }
  for (const name of Object.keys(processing.outputs ?? {})) {
    const spec = outputs.get(name);
    if (!spec)
      throw problem(
        `processing.outputs names "${name}", which is not an output (outputs: ${[...outputs.keys()].join(', ')})`,
      );
    if (
      !INTEGERS.has(spec.datatype) &&
      !FLOATS.has(spec.datatype) &&
      spec.datatype !== 'FP16'
    )
      throw problem(
        `processing.outputs."${name}" has labels, but the output is ${spec.datatype}: labels name integer class indices, or the classes of FP32 or FP64 scores`,
      );
    if (FLOATS.has(spec.datatype) && outputs.has(labelOutputName(name)))
      throw problem(
        `processing.outputs."${name}" would add the output "${labelOutputName(name)}", which the model already has`,
      );
  }
}

function problem(message: string): PortfolioError {
  return new PortfolioError('MODEL_LOAD_FAILED', message);
}

/**
 * A loaded model with its processing around it: inputs normalized before each run,
 * outputs labelled after it (see processedSignature). Runs of a merged batch are
 * processed as one: everything here is per element or per row.
 */
export class ProcessedModel implements LoadedModel {
  readonly signature: Signature;
  readonly externalBytes?: number;

  constructor(
    private readonly inner: LoadedModel,
    private readonly processing: Processing,
  ) {
    checkProcessing(inner.signature, processing);
    this.signature = processedSignature(inner.signature, processing);
    if (inner.externalBytes !== undefined)
      this.externalBytes = inner.externalBytes;
  }

  async run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const normalized: Record<string, Tensor> = { ...inputs };
    for (const [name, norm] of Object.entries(this.processing.inputs ?? {})) {
      const t = inputs[name];
      if (t) normalized[name] = normalize(name, t, norm.offset, norm.scale);
    }
    const labelled = this.processing.outputs ?? {};
    // `<name>_label` comes from `<name>`: ask the model for that instead.
    const asked = outputNames?.map((n) => {
      const source = Object.keys(labelled).find(
        (o) => labelOutputName(o) === n,
      );
      return source ?? n;
    });
    const raw = await this.inner.run(
      normalized,
      asked ? [...new Set(asked)] : undefined,
    );
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(raw)) {
      const labels = labelled[name]?.labels;
      if (!labels) {
        out[name] = t;
        continue;
      }
      if (INTEGERS.has(t.datatype)) {
        out[name] = {
          datatype: 'BYTES',
          shape: t.shape,
          data: names(t.data, labels),
        };
        continue;
      }
      if (!outputNames || outputNames.includes(name)) out[name] = t;
      if (!outputNames || outputNames.includes(labelOutputName(name)))
        out[labelOutputName(name)] = argmaxLabels(t, labels);
    }
    return out;
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

/** `(x - offset) * scale`, into a fresh array (the caller's inputs are not changed). */
function normalize(
  name: string,
  t: Tensor,
  offset: number | number[] | undefined,
  scale: number | number[] | undefined,
): Tensor {
  const last = t.shape[t.shape.length - 1] ?? 1;
  for (const [key, v] of [
    ['offset', offset],
    ['scale', scale],
  ] as const)
    if (Array.isArray(v) && v.length !== last)
      throw new PortfolioError(
        'INVALID_INPUT',
        `input "${name}": its processing's ${key} has ${v.length} values, one per position of the last dimension, which is ${last} here`,
        { input: name },
      );
  const src = t.data as Float32Array | Float64Array;
  const dst =
    t.datatype === 'FP64'
      ? new Float64Array(src.length)
      : new Float32Array(src.length);
  const at = (v: number | number[] | undefined, i: number, fallback: number) =>
    v === undefined ? fallback : Array.isArray(v) ? v[i % last] : v;
  for (let i = 0; i < src.length; i++)
    dst[i] = (src[i] - at(offset, i, 0)) * at(scale, i, 1);
  return { datatype: t.datatype, shape: t.shape, data: dst };
}

/** Each class index's name; an index without one keeps its number, as text. */
function names(data: TensorData, labels: readonly string[]): string[] {
  const out = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) {
    const index = Number(data[i] as number | bigint);
    out[i] = labels[index] ?? String(index);
  }
  return out;
}

/** The name of the highest score along the last dimension, for each row. */
function argmaxLabels(t: Tensor, labels: readonly string[]): Tensor {
  const classes = t.shape[t.shape.length - 1] ?? 1;
  const scores = t.data as ArrayLike<number>;
  const rows = classes === 0 ? 0 : scores.length / classes;
  const data = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    data[r] = labels[best] ?? String(best);
  }
  return { datatype: 'BYTES', shape: t.shape.slice(0, -1), data };
}
