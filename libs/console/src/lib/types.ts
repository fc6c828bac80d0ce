/*
 * The JSON the console reads, as docs/api.md describes it: the fields it uses, no more.
 * The console is a client of the HTTP API like any other; it shares no code with the
 * server.
 */

export type Scope = 'predict' | 'read' | 'admin';

/** `GET /v1/auth/whoami`. */
export interface WhoAmI {
  readonly auth_enabled: boolean;
  readonly key: 'valid' | 'invalid' | 'none' | 'not_needed';
  readonly name: string | null;
  readonly key_id: string | null;
  readonly scopes: readonly Scope[];
}

export type CacheState =
  | 'unloaded'
  | 'loading'
  | 'loaded'
  | 'unloading'
  | 'failed';

export interface RuntimeStatus {
  readonly node_id: string;
  readonly alive: boolean;
  readonly capacity_bytes: number;
  readonly soft_limit_bytes: number;
  readonly used_bytes: number;
  readonly memory: {
    readonly models_bytes: number;
    readonly loading_bytes: number;
    readonly unloading_bytes: number;
    readonly base_bytes: number;
  };
  readonly rss_bytes: number;
  readonly models_loaded: number;
}

export interface ModelStatus {
  readonly model_id: string;
  /** Null for a registered model the cache-manager has not seen. */
  readonly version: number | null;
  readonly state: CacheState;
  readonly reason: string | null;
  readonly nodes: readonly string[];
  readonly memory_bytes: number | null;
  readonly hits: number;
  readonly misses: number;
  readonly loads: number;
  readonly evictions: number;
  readonly load_ms: number | null;
}

/** `GET /v1/models/status`. */
export interface ClusterStatus {
  readonly generated_at: string;
  readonly runtimes: readonly RuntimeStatus[];
  readonly models: readonly ModelStatus[];
}

export interface VersionSummary {
  readonly version: number;
  readonly status: 'ready' | 'deprecated';
  readonly size_bytes: number;
  readonly created_at: string;
}

/** `GET /v1/models/{id}/metadata` (the fields the console shows). */
export interface ModelMetadata {
  readonly id: string;
  readonly format: string;
  readonly pinned: boolean;
  readonly preload: boolean;
  readonly versions: readonly VersionSummary[];
  readonly aliases: Readonly<Record<string, number>>;
  readonly default_version: number | null;
}

/** One event of `GET /v1/models/events`. */
export interface ModelEvent {
  readonly id: string;
  readonly kind: 'loaded' | 'unloaded' | 'load_failed';
  readonly model_id: string;
  readonly version: number;
  readonly node_id: string;
  readonly bytes: number | null;
  readonly load_ms: number | null;
  readonly reason: string | null;
  readonly at: string;
}

export interface TrafficSample {
  readonly at: string;
  readonly interval_ms: number;
  readonly requests: number;
  readonly predictions: number;
  readonly errors: number;
  readonly latency_ms: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
  } | null;
  readonly hits: number;
  readonly misses: number;
  readonly hit_ratio: number | null;
}

/** `GET /v1/stats`. */
export interface TrafficStats {
  readonly interval_ms: number;
  readonly samples: readonly TrafficSample[];
}

export interface LoadAnswer {
  readonly model_id: string;
  readonly version: number;
  readonly nodes: readonly string[];
}

export interface UnloadAnswer {
  readonly model_id: string;
  readonly unloaded: readonly {
    readonly node_id: string;
    readonly version: number;
    readonly freed_bytes: number;
  }[];
}

export interface AliasAnswer {
  readonly model_id: string;
  readonly alias: string;
  readonly version: number;
  readonly previous_version: number | null;
}
