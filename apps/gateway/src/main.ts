import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';

import {
  announceReady,
  closeOnSignals,
  configFromArgv,
  connectNats,
  logLevels,
  messagingModule,
} from '@portfolio/bootstrap';
import {
  createGatewayAdapter,
  GatewayServiceModule,
  gatewaySettings,
  listenGateway,
} from '@portfolio/gateway-service';

async function main(): Promise<void> {
  const config = configFromArgv();
  const bus = await connectNats(config, 'gateway');
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: class GatewayRoot {},
      imports: [
        messagingModule(config, bus),
        GatewayServiceModule.forRoot(gatewaySettings(config)),
      ],
    },
    createGatewayAdapter(config.gateway.bodyLimitBytes),
    { logger: logLevels(config) },
  );
  closeOnSignals(app, bus, 'gateway');
  if (!config.gateway.adminKey) {
    new Logger('gateway').warn(
      'no admin key configured (PORTFOLIO_ADMIN_KEY): /admin is open to anyone who can reach this port',
    );
  }
  await listenGateway(app, config.gateway.host, config.gateway.port);
  announceReady('gateway');
}

void main();
