import type { ModelStatus, RuntimeStatus } from './types';

/** One stretch of a runtime's memory bar. */
export interface Segment {
  readonly kind: 'model' | 'other' | 'loading' | 'unloading';
  readonly label: string;
  readonly model_id: string | null;
  readonly version: number | null;
  readonly bytes: number;
  /** Where it starts and how wide it is, as fractions of the bar. */
  readonly start: number;
  readonly width: number;
}

/** What the console draws for one runtime. */
export interface RuntimeLayout {
  readonly node_id: string;
  readonly alive: boolean;
  /** The bytes the bar's full width stands for: the hard limit, or more when used is past it. */
  readonly scale_bytes: number;
  readonly used_bytes: number;
  readonly capacity_bytes: number;
  readonly soft_limit_bytes: number;
  readonly rss_bytes: number;
  readonly base_bytes: number;
  readonly models_loaded: number;
  readonly segments: readonly Segment[];
  /** The soft and hard limits' marks, as fractions of the bar. */
  readonly soft_at: number;
  readonly hard_at: number;
}

/**
 * A runtime's memory bar: one segment per model copy it holds (measured memory, in
 * model id order), what its measured copies add up to beyond the models listed
 * (`other`), then loads and unloads in progress; the soft and hard limits as marks.
 * The status gives each model's state across runtimes, so a copy being loaded here
 * counts under `loading` (its memory is not measured yet) and one being unloaded
 * everywhere under `unloading`.
 */
export function layoutRuntime(
  runtime: RuntimeStatus,
  models: readonly ModelStatus[],
): RuntimeLayout {
  const held = models
    .filter(
      (m) =>
        m.nodes.includes(runtime.node_id) &&
        m.memory_bytes !== null &&
        m.memory_bytes > 0 &&
        m.state !== 'unloading' &&
        m.state !== 'loading',
    )
    .sort(
      (a, b) =>
        a.model_id.localeCompare(b.model_id) ||
        (a.version ?? 0) - (b.version ?? 0),
    );
  const parts: Omit<Segment, 'start' | 'width'>[] = held.map((m) => ({
    kind: 'model',
    label: `${m.model_id} v${m.version ?? '?'}`,
    model_id: m.model_id,
    version: m.version,
    bytes: m.memory_bytes ?? 0,
  }));
  const listed = parts.reduce((sum, p) => sum + p.bytes, 0);
  const rest = runtime.memory.models_bytes - listed;
  // Under 1% of the models' bytes: rounding between the status's two views, not a model.
  if (rest > Math.max(1, runtime.memory.models_bytes * 0.01))
    parts.push({
      kind: 'other',
      label: 'other',
      model_id: null,
      version: null,
      bytes: rest,
    });
  for (const kind of ['loading', 'unloading'] as const) {
    const bytes = runtime.memory[`${kind}_bytes`];
    if (bytes > 0)
      parts.push({ kind, label: kind, model_id: null, version: null, bytes });
  }
  const drawn = parts.reduce((sum, p) => sum + p.bytes, 0);
  const scale = Math.max(runtime.capacity_bytes, runtime.used_bytes, drawn, 1);
  let at = 0;
  const segments = parts.map((p) => {
    const segment = { ...p, start: at / scale, width: p.bytes / scale };
    at += p.bytes;
    return segment;
  });
  return {
    node_id: runtime.node_id,
    alive: runtime.alive,
    scale_bytes: scale,
    used_bytes: runtime.used_bytes,
    capacity_bytes: runtime.capacity_bytes,
    soft_limit_bytes: runtime.soft_limit_bytes,
    rss_bytes: runtime.rss_bytes,
    base_bytes: runtime.memory.base_bytes,
    models_loaded: runtime.models_loaded,
    segments,
    soft_at: runtime.soft_limit_bytes / scale,
    hard_at: runtime.capacity_bytes / scale,
  };
}
