import type { PolicyParams } from '@portfolio/placement';

export const CACHE_MANAGER_SETTINGS = Symbol('CACHE_MANAGER_SETTINGS');

export interface CacheManagerSettings {
  /** A runtime silent for this long is declared dead and its models re-placed on demand. */
  readonly runtimeTimeoutMs: number;
  /** How long a runtime may take to load a model. */
  readonly loadTimeoutMs: number;
  /** The routing table is re-published at least this often (new gateways, lost messages). */
  readonly routingRepublishMs: number;
  /** Idle time after which a model without a ttl of its own is unloaded; null: never. */
  readonly ttlMs?: number | null;
  /** Most copies of one hot model across the cluster. */
  readonly maxCopies?: number;
  /** Load models expected soon into memory free below the soft limits. */
  readonly predictivePreload?: boolean;
  /** Memory limits per value of one model label. */
  readonly quotas?: {
    readonly label: string;
    readonly limitsBytes: Readonly<Record<string, number>>;
  } | null;
  /** How often background work (soft limit, TTL, copies, predictive preload) runs; default 1 s. */
  readonly maintenanceIntervalMs?: number;
  /**
   * Nothing is unloaded in the background this soon after start (default: the runtime
   * timeout): the view is rebuilt from the runtimes' reports first, so a restarted
   * cache-manager never unloads on what it does not know yet.
   */
  readonly warmupMs?: number;
  /** Overrides of the policy's parameters (tests, tuning). */
  readonly policy?: Partial<PolicyParams>;
}
