import type { RankedModel } from './eviction';
import { Usage, UsageParams } from './usage';

/**
 * Everything the policy knows of one model on one runtime. Sizes are bytes: the
 * runtime's measurement once loaded, the estimate while loading.
 */
export interface ResidentModel {
  /** `<model_id>@<version>`. */
  readonly key: string;
  readonly modelId: string;
  readonly state: 'loading' | 'loaded' | 'unloading';
  readonly bytes: number;
  /** Never chosen for eviction, by any rule. */
  readonly pinned: boolean;
  /** Loaded at start and kept: exempt from TTL and soft-limit unloading, reloaded when it is missing. */
  readonly preload: boolean;
  /** Requests in flight on this copy: a model is never unloaded under them. */
  readonly inFlight: number;
  readonly loadedAtMs: number | null;
  /** Last request served by this copy (null: none since it was loaded). */
  readonly lastUsedMs: number | null;
  /** Idle time after which the model is unloaded; null: never. */
  readonly ttlMs: number | null;
  /** Quota group (the value of the configured quota label), null when the model has none. */
  readonly group: string | null;
}

/** A runtime as placement sees it. */
export interface RuntimeState {
  readonly nodeId: string;
  /** Hard limit for models: a load never takes `usedBytes` above it. */
  readonly capacityBytes: number;
  /** Background unloading brings `usedBytes` back under this. */
  readonly softLimitBytes: number;
  /** Models loaded, loading (at their expected peak) and unloading (until freed), plus reservations. */
  readonly usedBytes: number;
  readonly models: readonly ResidentModel[];
  readonly loadsInFlight: number;
  readonly requestsInFlight: number;
  /** Its models ranked for eviction (rankForEviction), when the caller keeps the ranking. */
  readonly ranked?: readonly RankedModel[];
}

/** What the policy knows of a model wherever it is (or is not) loaded. */
export interface ModelFacts {
  readonly usage?: Usage;
  /** Measured time to load it (ms), the best predictor of what evicting it costs. */
  readonly loadMs?: number | null;
  /** Measured (or declared) bytes. */
  readonly bytes?: number | null;
}

export interface CopyParams {
  /** Most copies of one model across the cluster. */
  readonly maxCopies: number;
  /** Average busy fraction of its copies' workers above which a model gets one more copy. */
  readonly scaleUpUtilization: number;
  /** Below this (and when idle enough), a model's extra copies are unloaded one at a time. */
  readonly scaleDownUtilization: number;
  /** A copy younger than this is never scaled back (no flapping). */
  readonly minCopyAgeMs: number;
}

export interface PreloadParams {
  /** Predictive preload looks this far ahead... */
  readonly horizonMs: number;
  /** ...and loads a model only if it expects at least this many requests for it there. */
  readonly minExpectedRequests: number;
  /** At most this many predictive loads per maintenance round (loads cost I/O and CPU). */
  readonly maxLoadsPerRound: number;
}

export interface PolicyParams extends UsageParams {
  /** Reload cost of a model never loaded: a fixed part plus its bytes at this throughput. */
  readonly unmeasuredLoadFixedMs: number;
  readonly unmeasuredLoadBytesPerMs: number;
  /** Background unloading (soft limit) spares models loaded or used this recently. */
  readonly minResidencyMs: number;
  readonly copies: CopyParams;
  readonly preload: PreloadParams;
}

export const DEFAULT_POLICY_PARAMS: PolicyParams = {
  halfLivesMs: [10 * 60_000, 2 * 3_600_000],
  unmeasuredLoadFixedMs: 100,
  unmeasuredLoadBytesPerMs: 200_000,
  minResidencyMs: 10_000,
  copies: {
    maxCopies: 4,
    scaleUpUtilization: 0.7,
    scaleDownUtilization: 0.2,
    minCopyAgeMs: 60_000,
  },
  preload: {
    horizonMs: 10 * 60_000,
    minExpectedRequests: 2,
    maxLoadsPerRound: 1,
  },
};

/**
 * A load holds more than the model's steady size while it runs: for a model never
 * loaded, room is made for this multiple of its expected size; once loaded, for the peak
 * its load was measured at. Measured on runtimes: 2.0 for ONNX MatMul weights, which ONNX
 * Runtime packs into a copy before freeing the original. The cache-manager and the
 * runtimes both use it, so they count a first load alike.
 */
export const DEFAULT_LOAD_PEAK_FACTOR = 2;

/** What the policy is told about the whole cluster for one decision. */
export interface PolicyContext {
  readonly nowMs: number;
  readonly params: PolicyParams;
  /** Facts per model key; absent keys are models never seen. */
  readonly facts: (key: string) => ModelFacts | undefined;
}
