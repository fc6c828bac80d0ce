import type { ModelFormat } from '@portfolio/contracts';

export const GATEWAY_SETTINGS = Symbol('GATEWAY_SETTINGS');

/** A model the configuration file lists: registered (idempotently) when the gateway starts. */
export interface ConfiguredModel {
  readonly id: string;
  readonly path: string;
  readonly format: ModelFormat;
  readonly memoryEstimateBytes: number | null;
  readonly preload: boolean;
  readonly pinned: boolean;
  readonly ttlMs: number | null;
  readonly description: string | null;
}

export interface GatewaySettings {
  /** When set, `/admin` requires it as a Bearer token (or X-API-Key). */
  readonly adminKey: string | null;
  readonly bodyLimitBytes: number;
  /** Deadline of one inference, from the gateway to the runtime and back. */
  readonly requestTimeoutMs: number;
  /** Deadline of a load on a miss (the runtime's own load timeout plus a margin). */
  readonly loadTimeoutMs: number;
  readonly configuredModels: readonly ConfiguredModel[];
}
