import {
  PlacementDecision,
  PlacementRequest,
  RuntimeCandidate,
} from './placement.types';

/**
 * Room-based placement: the eligible runtime with the most free memory that fits the
 * model; ties go to the one holding fewer models, then to the lower node id, so the
 * choice is deterministic. (Eviction to make room is the cache policy's job, built on
 * top of this.)
 */
export function chooseRuntime(
  runtimes: readonly RuntimeCandidate[],
  request: PlacementRequest,
): PlacementDecision {
  const excluded = new Set(request.exclude ?? []);
  const eligible = runtimes.filter((r) => !excluded.has(r.nodeId));
  if (eligible.length === 0) return { kind: 'no-runtime' };

  const free = (r: RuntimeCandidate) => r.capacityBytes - r.usedBytes;
  const ranked = [...eligible].sort(
    (a, b) =>
      free(b) - free(a) ||
      a.modelsLoaded - b.modelsLoaded ||
      a.nodeId.localeCompare(b.nodeId),
  );
  const best = ranked[0];
  if (free(best) >= request.bytes)
    return { kind: 'place', nodeId: best.nodeId };
  return {
    kind: 'no-room',
    largestFreeBytes: Math.max(0, free(best)),
    largestCapacityBytes: Math.max(...eligible.map((r) => r.capacityBytes)),
  };
}
