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
  authWarnings,
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
  for (const warning of authWarnings(gatewaySettings(config), 'this port'))
    new Logger('gateway').warn(warning);
  await listenGateway(app, config.gateway.host, config.gateway.port);
  announceReady('gateway');
}

void main();
