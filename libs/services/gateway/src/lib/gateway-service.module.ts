import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';

import { MetricsModule } from '@portfolio/telemetry';

import { AdminController } from './admin/admin.controller';
import { ArtifactUploader } from './admin/artifact-uploader';
import { CacheAdminService } from './admin/cache-admin.service';
import { VersionLifecycleService } from './admin/version-lifecycle.service';
import { AuthGuard } from './auth/auth.guard';
import { Authenticator } from './auth/authenticator.service';
import { KeyDirectory } from './auth/key-directory.service';
import { KeysController } from './auth/keys.controller';
import { WhoAmIController } from './auth/whoami.controller';
import { ConsoleController } from './console/console.controller';
import { ConsolePages } from './console/console-pages';
import { ModelEventStreams } from './console/event-stream';
import { ModelEventLog } from './console/model-event-log';
import { TrafficSampler } from './console/traffic-sampler';
import {
  MemoryRateLimitStore,
  RateLimitStore,
} from './limits/rate-limit-store';
import { RATE_LIMIT_STORE, RateLimiter } from './limits/rate-limiter.service';
import { ModelAdminService } from './admin/model-admin.service';
import { ModelCatalogService } from './catalog/model-catalog.service';
import { ConfiguredModelsSync } from './config-sync/configured-models.sync';
import { GATEWAY_SETTINGS, GatewaySettings } from './gateway.settings';
import { OipGrpcServer } from './grpc/oip-grpc.server';
import { GatewayErrorFilter } from './http/error.filter';
import { GatewayMetrics } from './metrics/gateway-metrics';
import { MetricsController } from './metrics/metrics.controller';
import { RoutingTableService } from './routing/routing-table.service';
import { ClusterInfoService } from './v1/cluster-info.service';
import { PredictService } from './v1/predict.service';
import { V1Controller } from './v1/v1.controller';
import { PredictFastPath } from './v1/predict.fast-path';
import { InferBodyReader } from './v2/infer-body.reader';
import { JsonBodyReader } from './http/json-body.reader';
import { JsonOffload } from './http/json-offload';
import { OpenInferenceService } from './v2/open-inference.service';
import { V2ModelsController, V2ServerController } from './v2/v2.controller';

/** Needs MessagingModule in the app, and the Fastify adapter from createGatewayAdapter. */
@Module({})
export class GatewayServiceModule {
  /**
   * `rateLimitStore`: where the rate limits' buckets live; gateways that share one
   * share their limits (NatsKvRateLimitStore). Default: this process's memory.
   */
  static forRoot(
    settings: GatewaySettings,
    options: { rateLimitStore?: RateLimitStore } = {},
  ): DynamicModule {
    return {
      module: GatewayServiceModule,
      imports: [MetricsModule],
      controllers: [
        V1Controller,
        V2ServerController,
        V2ModelsController,
        AdminController,
        KeysController,
        MetricsController,
        WhoAmIController,
        ConsoleController,
      ],
      providers: [
        { provide: GATEWAY_SETTINGS, useValue: settings },
        GatewayErrorFilter,
        { provide: APP_FILTER, useExisting: GatewayErrorFilter },
        { provide: APP_GUARD, useClass: AuthGuard },
        Authenticator,
        KeyDirectory,
        RateLimiter,
        {
          provide: RATE_LIMIT_STORE,
          useValue: options.rateLimitStore ?? new MemoryRateLimitStore(),
        },
        ArtifactUploader,
        CacheAdminService,
        VersionLifecycleService,
        ClusterInfoService,
        ConfiguredModelsSync,
        ConsolePages,
        GatewayMetrics,
        InferBodyReader,
        JsonOffload,
        JsonBodyReader,
        PredictFastPath,
        ModelAdminService,
        ModelCatalogService,
        ModelEventLog,
        ModelEventStreams,
        OipGrpcServer,
        OpenInferenceService,
        PredictService,
        RoutingTableService,
        TrafficSampler,
      ],
      exports: [ConfiguredModelsSync],
    };
  }
}
