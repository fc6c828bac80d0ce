import type { PortfolioConfig } from '@portfolio/config';

import { GatewaySettings } from './gateway.settings';

/** Margin over the runtime's load timeout, for the cache-manager's own round trips. */
const LOAD_MARGIN_MS = 5000;

export function gatewaySettings(config: PortfolioConfig): GatewaySettings {
  return {
    authEnabled: config.auth.enabled,
    adminKey: config.gateway.adminKey,
    defaultRateLimit: config.gateway.rateLimit,
    maxInFlightPerModel: config.gateway.maxInFlightPerModel,
    maxJsonElements: config.gateway.maxJsonElements,
    jsonOffload: config.gateway.jsonOffload,
    bodyLimitBytes: config.gateway.bodyLimitBytes,
    uploadLimitBytes: config.gateway.uploadLimitBytes,
    requestTimeoutMs: config.gateway.requestTimeoutMs,
    loadTimeoutMs: config.runtime.loadTimeoutMs + LOAD_MARGIN_MS,
    configuredModels: config.models,
  };
}
