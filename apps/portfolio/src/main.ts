// First: tracing starts before the modules it instruments load.
import './tracing';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { join } from 'node:path';

import {
  announceReady,
  closeOnSignals,
  configFromArgv,
  ensureDirectory,
  exitOnStartupError,
  messagingModule,
  useStructuredLogs,
} from '@portfolio/bootstrap';
import { CacheManagerServiceModule } from '@portfolio/cache-manager-service';
import {
  ConfiguredModelsSync,
  authWarnings,
  createGatewayAdapter,
  GatewayServiceModule,
  gatewaySettings,
  listenGateway,
  listenGrpc,
  setUpOpenApi,
} from '@portfolio/gateway-service';
import { InProcessBus, listenOnBus } from '@portfolio/messaging';
import { ModelRegistryServiceModule } from '@portfolio/model-registry-service';
import {
  runtimeSettings,
  RuntimeServiceModule,
} from '@portfolio/runtime-service';
import { createStorageDriver } from '@portfolio/storage';
import {
  configuredImportSources,
  trialLoadOptions,
  StorageServiceModule,
} from '@portfolio/storage-service';

import { exampleRequests, KEY_HEADER } from './example-requests';

/**
 * Portfolio in one process: every service of the distributed mode, composed over an
 * in-process bus, with the registry in embedded PostgreSQL (PGlite) under the data
 * folder unless database.url names a server, and artifacts on the local filesystem.
 */
async function main(): Promise<void> {
  const config = configFromArgv();
  useStructuredLogs(config, 'portfolio');
  const logger = new Logger('portfolio');
  const registryDir = join(config.dataDir, 'registry');
  // Made here, where a folder that cannot be made stops the start with its name (exit
  // code 2): PGlite does not create its folder's parents, and TypeORM only retries it.
  try {
    ensureDirectory(
      config.dataDir,
      'data folder (data_dir, PORTFOLIO_DATA_DIR)',
    );
    if (!config.database.url)
      ensureDirectory(registryDir, 'registry folder (<data_dir>/registry)');
    if (config.storage.driver === 'local')
      ensureDirectory(
        config.storage.local.root,
        'artifact folder (storage.local.root, PORTFOLIO_STORAGE_LOCAL_ROOT)',
      );
  } catch (e) {
    exitOnStartupError(e);
  }
  const bus = new InProcessBus();
  const storage = await createStorageDriver(config.storage);
  const database = config.database.url
    ? { kind: 'postgres' as const, url: config.database.url }
    : { kind: 'pglite' as const, dataDir: registryDir };

  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: class Standalone {},
      imports: [
        messagingModule(config, bus),
        ModelRegistryServiceModule.forRoot({ database }),
        StorageServiceModule.forRoot({
          driver: storage,
          maxPayloadBytes: bus.maxPayloadBytes(),
          importSources: configuredImportSources(
            config.storage.importSources,
            config.storage,
          ),
          gc: {
            intervalMs: config.storage.gc.intervalMs ?? 0,
            minAgeMs: config.storage.gc.minAgeMs,
          },
          trialLoad: trialLoadOptions(config.storage, __dirname),
        }),
        CacheManagerServiceModule.forRoot({
          runtimeTimeoutMs: config.cache.runtimeTimeoutMs,
          loadTimeoutMs: config.runtime.loadTimeoutMs,
          routingRepublishMs: 5000,
          ttlMs: config.cache.ttlMs,
          maxCopies: config.cache.maxCopies,
          predictivePreload: config.cache.predictivePreload,
          quotas: config.cache.quotas,
        }),
        RuntimeServiceModule.forRoot({
          settings: runtimeSettings(config, {
            path: join(__dirname, 'inference-worker.js'),
          }),
          storage,
        }),
        GatewayServiceModule.forRoot(gatewaySettings(config)),
      ],
    },
    createGatewayAdapter(config.gateway.bodyLimitBytes),
    { logger: useStructuredLogs(config, 'portfolio') },
  );
  await listenOnBus(app);
  // GET /docs (Swagger UI) and /docs/json (OpenAPI 3), before listen adds no more routes.
  setUpOpenApi(app);
  closeOnSignals(app, bus, 'portfolio');
  for (const warning of authWarnings(
    gatewaySettings(config),
    `${config.gateway.host}:${config.gateway.port}`,
  ))
    logger.warn(warning);
  const url = await listenGateway(
    app,
    config.gateway.host,
    config.gateway.port,
  );
  const grpc =
    config.gateway.grpcPort === null
      ? null
      : await listenGrpc(app, config.gateway.host, config.gateway.grpcPort);
  await app.get(ConfiguredModelsSync).synced;

  const lines = [
    '',
    `Portfolio is running (standalone) at ${url}`,
    ...(grpc
      ? [
          `  gRPC:   ${grpc} (Open Inference Protocol, inference.GRPCInferenceService)`,
        ]
      : []),
    `  data:   ${config.dataDir}${config.database.url ? ' (registry in the configured PostgreSQL)' : ''}`,
    `  ui:     ${url}/ui (the web console, in a browser)`,
    `  health: curl -s ${url}/v1/health`,
    ...(config.auth.enabled
      ? [
          '  (auth is on: export PORTFOLIO_API_KEY=<an API key; the admin key will do> for these)',
        ]
      : []),
    `  status: curl -s ${config.auth.enabled ? KEY_HEADER : ''}${url}/v1/models/status`,
    ...exampleRequests(url, config.models, config.auth.enabled),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  announceReady('portfolio');
}

void main();
