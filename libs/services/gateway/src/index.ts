export { GatewayServiceModule } from './lib/gateway-service.module';
export type { GatewaySettings } from './lib/gateway.settings';
export { ConfiguredModelsSync } from './lib/config-sync/configured-models.sync';
export { createGatewayAdapter, listenGateway } from './lib/http/gateway-http';
export { listenGrpc } from './lib/grpc/oip-grpc.server';
export { OIP_PROTO_FILE } from './lib/grpc/oip-grpc.proto';
export { gatewaySettings } from './lib/gateway-settings.factory';
export { authWarnings } from './lib/auth/scopes';
export {
  MemoryRateLimitStore,
  NatsKvRateLimitStore,
} from './lib/limits/rate-limit-store';
export type { RateLimitStore } from './lib/limits/rate-limit-store';
export {
  buildOpenApiDocument,
  DOCS_JSON_PATH,
  DOCS_PATH,
  setUpOpenApi,
} from './lib/openapi/openapi-setup';
