// First: tracing starts before the modules it instruments load.
import './tracing';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';

import {
  announceReady,
  closeOnSignals,
  configFromArgv,
  connectNats,
  messagingModule,
  useStructuredLogs,
} from '@portfolio/bootstrap';
import {
  authWarnings,
  createGatewayAdapter,
  GatewayServiceModule,
  gatewaySettings,
  listenGateway,
  listenGrpc,
  MemoryRateLimitStore,
  NatsKvRateLimitStore,
  RateLimitStore,
  setUpOpenApi,
} from '@portfolio/gateway-service';

/**
 * Rate limits shared with the other gateways through NATS JetStream KV; where the server
 * has no JetStream, each gateway keeps its own (said at start: N gateways then allow N
 * times a key's limit).
 */
async function sharedRateLimits(nats: {
  url: string;
  subjectPrefix: string;
}): Promise<RateLimitStore> {
  try {
    return await NatsKvRateLimitStore.connect(nats.url, nats.subjectPrefix);
  } catch (e) {
    new Logger('gateway').warn(
      `rate limits are this gateway's own, not shared: NATS JetStream key-value is not available (${e instanceof Error ? e.message : String(e)}); start nats-server with -js`,
    );
    return new MemoryRateLimitStore();
  }
}

async function main(): Promise<void> {
  const config = configFromArgv();
  const bus = await connectNats(config, 'gateway');
  const rateLimitStore = await sharedRateLimits(config.nats);
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: class GatewayRoot {},
      imports: [
        messagingModule(config, bus),
        GatewayServiceModule.forRoot(gatewaySettings(config), {
          rateLimitStore,
        }),
      ],
    },
    createGatewayAdapter(config.gateway.bodyLimitBytes),
    { logger: useStructuredLogs(config, 'gateway') },
  );
  // GET /docs (Swagger UI) and /docs/json (OpenAPI 3), before listen adds no more routes.
  setUpOpenApi(app);
  closeOnSignals(app, bus, 'gateway');
  for (const warning of authWarnings(gatewaySettings(config), 'this port'))
    new Logger('gateway').warn(warning);
  await listenGateway(app, config.gateway.host, config.gateway.port);
  if (config.gateway.grpcPort !== null)
    await listenGrpc(app, config.gateway.host, config.gateway.grpcPort);
  announceReady('gateway');
}

void main();
