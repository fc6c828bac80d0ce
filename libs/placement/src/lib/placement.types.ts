/** What placement knows of a runtime: all numbers in bytes, from its latest report. */
export interface RuntimeCandidate {
  readonly nodeId: string;
  readonly capacityBytes: number;
  /** Reported as used, plus loads this cache-manager has started there and not yet seen reported. */
  readonly usedBytes: number;
  readonly modelsLoaded: number;
}

export interface PlacementRequest {
  readonly bytes: number;
  /** Runtimes that must not be chosen (they just failed this request). */
  readonly exclude?: readonly string[];
}

export type PlacementDecision =
  | { readonly kind: 'place'; readonly nodeId: string }
  | { readonly kind: 'no-runtime' }
  /** Fits nowhere; `largestFreeBytes` is the most room any eligible runtime has. */
  | {
      readonly kind: 'no-room';
      readonly largestFreeBytes: number;
      readonly largestCapacityBytes: number;
    };
