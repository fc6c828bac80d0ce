import type { ConfiguredModel } from '@portfolio/config';

export const GATEWAY_SETTINGS = Symbol('GATEWAY_SETTINGS');

export interface GatewaySettings {
  /** When set, `/admin` requires it as a Bearer token (or X-API-Key). */
  readonly adminKey: string | null;
  readonly bodyLimitBytes: number;
  /** Deadline of one inference, from the gateway to the runtime and back. */
  readonly requestTimeoutMs: number;
  /** Deadline of a load on a miss (the runtime's own load timeout plus a margin). */
  readonly loadTimeoutMs: number;
  /** Registered (idempotently) when the gateway starts; see ConfiguredModelsSync. */
  readonly configuredModels: readonly ConfiguredModel[];
}
