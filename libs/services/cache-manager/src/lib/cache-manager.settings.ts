export const CACHE_MANAGER_SETTINGS = Symbol('CACHE_MANAGER_SETTINGS');

export interface CacheManagerSettings {
  /** A runtime silent for this long is declared dead and its models re-placed on demand. */
  readonly runtimeTimeoutMs: number;
  /** How long a runtime may take to load a model. */
  readonly loadTimeoutMs: number;
  /** The routing table is re-published at least this often (new gateways, lost messages). */
  readonly routingRepublishMs: number;
}
