export {
  chooseVictims,
  evictionBlocker,
  rankForEviction,
  reloadCostMs,
  retentionValue,
} from './lib/eviction';
export type {
  EvictionPlan,
  EvictionRefusal,
  RankedModel,
} from './lib/eviction';
export { planMaintenance } from './lib/maintenance';
export type {
  LoadReason,
  MaintenanceAction,
  MaintenanceInput,
  UnloadReason,
} from './lib/maintenance';
export { groupUsage, placeModel } from './lib/placement';
export type {
  PlaceDecision,
  PlaceRequest,
  RuntimeShortfall,
  Victim,
} from './lib/placement';
export {
  DEFAULT_LOAD_PEAK_FACTOR,
  DEFAULT_POLICY_PARAMS,
} from './lib/policy.types';
export type {
  CopyParams,
  ModelFacts,
  PolicyContext,
  PolicyParams,
  PreloadParams,
  ResidentModel,
  RuntimeState,
} from './lib/policy.types';
export { recordRequests, requestRate } from './lib/usage';
export type { Usage, UsageParams } from './lib/usage';
// Room-based placement without eviction; replaced by placeModel as the cache-manager moves over.
export { chooseRuntime } from './lib/choose-runtime';
export type {
  PlacementDecision,
  PlacementRequest,
  RuntimeCandidate,
} from './lib/placement.types';
