import type { RateLimit } from '@portfolio/contracts';
import type { ConfiguredModel } from '@portfolio/config';

export const GATEWAY_SETTINGS = Symbol('GATEWAY_SETTINGS');

export interface GatewaySettings {
  /** False: everyone is admin (local demos only). True: routes need keys (see AuthGuard). */
  readonly authEnabled: boolean;
  /** The bootstrap admin key (configuration or PORTFOLIO_ADMIN_KEY); null: none. */
  readonly adminKey: string | null;
  /** Keys without a rate_limit of their own get this one; null: no limit. */
  readonly defaultRateLimit?: RateLimit | null;
  readonly bodyLimitBytes: number;
  /** Largest artifact upload (streamed to storage chunk by chunk). */
  readonly uploadLimitBytes: number;
  /** Tensor elements one request may send as JSON; more get 413. */
  readonly maxJsonElements?: number;
  /** Requests in flight per (model, version) through this gateway; more get 503. */
  readonly maxInFlightPerModel?: number;
  /** False: large JSON tensors are parsed and written on the event loop (default true). */
  readonly jsonOffload?: boolean;
  /** Deadline of one inference, from the gateway to the runtime and back. */
  readonly requestTimeoutMs: number;
  /** Deadline of a load on a miss (the runtime's own load timeout plus a margin). */
  readonly loadTimeoutMs: number;
  /** Registered (idempotently) when the gateway starts; see ConfiguredModelsSync. */
  readonly configuredModels: readonly ConfiguredModel[];
  /**
   * Where the web console's files are read from (not a configuration setting: the
   * tests name a folder of their own); default `ui/` beside the app's main.js.
   */
  readonly consoleDir?: string;
}
