import {
  DEFAULT_POLICY_PARAMS,
  ModelFacts,
  PolicyContext,
  PolicyParams,
  ResidentModel,
  RuntimeState,
} from './policy.types';
import { recordRequests, Usage } from './usage';

export const MiB = 1024 * 1024;

/** A loaded, idle, unpinned model; override what the scenario needs. */
export function resident(
  key: string,
  bytes: number,
  more: Partial<ResidentModel> = {},
): ResidentModel {
  return {
    key,
    modelId: key.split('@')[0],
    state: 'loaded',
    bytes,
    pinned: false,
    preload: false,
    inFlight: 0,
    loadedAtMs: 0,
    lastUsedMs: null,
    ttlMs: null,
    group: null,
    ...more,
  };
}

export function runtime(
  nodeId: string,
  capacityBytes: number,
  models: ResidentModel[],
  more: Partial<RuntimeState> = {},
): RuntimeState {
  return {
    nodeId,
    capacityBytes,
    softLimitBytes: Math.floor(capacityBytes * 0.9),
    usedBytes: models.reduce((n, m) => n + m.bytes, 0),
    models,
    loadsInFlight: 0,
    requestsInFlight: 0,
    ...more,
  };
}

/** Usage of a model asked for `perSecond` times a second, steadily, for `seconds` up to `nowMs`. */
export function steady(
  perSecond: number,
  nowMs: number,
  seconds = 4 * 3600,
  params: PolicyParams = DEFAULT_POLICY_PARAMS,
): Usage {
  let u: Usage | undefined;
  for (let t = nowMs - seconds * 1000; t <= nowMs; t += 1000)
    u = recordRequests(u, t, params, perSecond);
  return u as Usage;
}

export function context(
  facts: Record<string, ModelFacts>,
  nowMs: number,
  params: PolicyParams = DEFAULT_POLICY_PARAMS,
): PolicyContext {
  return { nowMs, params, facts: (key) => facts[key] };
}
