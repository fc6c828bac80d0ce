export { chooseRuntime } from './lib/choose-runtime';
export type {
  PlacementDecision,
  PlacementRequest,
  RuntimeCandidate,
} from './lib/placement.types';
