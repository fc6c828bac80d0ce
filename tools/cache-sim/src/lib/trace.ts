/**
 * The request trace format: one JSON object per line, one line per request, in time
 * order (files from several runtimes may be concatenated; readers sort by time).
 *
 *   {"time_ms": 1764672000123, "model_id": "fraud", "version": 3,
 *    "size_bytes": 524288000, "load_ms": 1840.5}
 *
 * - `time_ms`: when the request arrived, milliseconds (any epoch; only differences matter).
 * - `model_id`, `version`: what was asked for.
 * - `size_bytes`: the model's memory once loaded (measured by the runtime that served it).
 * - `load_ms`: how long its load took (measured); the cost of a miss.
 *
 * The runtime writes this format when `runtime.request_log` names a file.
 */
export interface TraceRecord {
  readonly time_ms: number;
  readonly model_id: string;
  readonly version: number;
  readonly size_bytes: number;
  readonly load_ms: number;
}

/** A trace ready to replay: models numbered densely, requests in time order. */
export interface Trace {
  readonly name: string;
  readonly kind: 'stationary' | 'shifting' | 'recorded';
  /** Per model: bytes and load time (ms). */
  readonly models: readonly TraceModel[];
  /** Request i asks for model `requests.model[i]` at `requests.timeMs[i]`. */
  readonly requests: {
    readonly timeMs: Float64Array;
    readonly model: Int32Array;
  };
}

export interface TraceModel {
  readonly key: string;
  readonly bytes: number;
  readonly loadMs: number;
}

export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
}

/**
 * Parses a JSON-lines trace. Blank lines are skipped; anything else that is not a
 * record refuses the whole trace with the line number and the field at fault. A model
 * whose size or load time changes between lines keeps the largest seen (a load measured
 * again at a larger batch, say).
 */
export function parseTrace(text: string, name: string): Trace {
  const records: TraceRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new TraceFormatError(`${name}:${i + 1}: not JSON`);
    }
    records.push(checkRecord(value, `${name}:${i + 1}`));
  });
  if (records.length === 0)
    throw new TraceFormatError(`${name}: no requests in the trace`);
  return fromRecords(records, name, 'recorded');
}

export function fromRecords(
  records: readonly TraceRecord[],
  name: string,
  kind: Trace['kind'],
): Trace {
  const sorted = [...records].sort((a, b) => a.time_ms - b.time_ms);
  const index = new Map<string, number>();
  const models: { key: string; bytes: number; loadMs: number }[] = [];
  const timeMs = new Float64Array(sorted.length);
  const model = new Int32Array(sorted.length);
  sorted.forEach((r, i) => {
    const key = `${r.model_id}@${r.version}`;
    let m = index.get(key);
    if (m === undefined) {
      m = models.length;
      index.set(key, m);
      models.push({ key, bytes: r.size_bytes, loadMs: r.load_ms });
    } else {
      models[m].bytes = Math.max(models[m].bytes, r.size_bytes);
      models[m].loadMs = Math.max(models[m].loadMs, r.load_ms);
    }
    timeMs[i] = r.time_ms;
    model[i] = m;
  });
  return { name, kind, models, requests: { timeMs, model } };
}

/** The records of a trace, e.g. to write a synthetic trace in the export format. */
export function* toRecords(trace: Trace): Generator<TraceRecord> {
  for (let i = 0; i < trace.requests.model.length; i++) {
    const m = trace.models[trace.requests.model[i]];
    const at = m.key.lastIndexOf('@');
    yield {
      time_ms: trace.requests.timeMs[i],
      model_id: m.key.slice(0, at),
      version: Number(m.key.slice(at + 1)),
      size_bytes: m.bytes,
      load_ms: m.loadMs,
    };
  }
}

function checkRecord(value: unknown, where: string): TraceRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TraceFormatError(`${where}: a record must be a JSON object`);
  const v = value as Record<string, unknown>;
  const number = (field: string, min: number, integer = false): number => {
    const x = v[field];
    if (
      typeof x !== 'number' ||
      !Number.isFinite(x) ||
      x < min ||
      (integer && !Number.isInteger(x))
    )
      throw new TraceFormatError(
        `${where}: "${field}" must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(x)}`,
      );
    return x;
  };
  const modelId = v['model_id'];
  if (typeof modelId !== 'string' || modelId === '')
    throw new TraceFormatError(
      `${where}: "model_id" must be a non-empty string`,
    );
  return {
    time_ms: number('time_ms', 0),
    model_id: modelId,
    version: number('version', 1, true),
    size_bytes: number('size_bytes', 1, true),
    load_ms: number('load_ms', 0),
  };
}
