import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';

import { AdminController } from './admin/admin.controller';
import { ArtifactUploader } from './admin/artifact-uploader';
import { ModelAdminService } from './admin/model-admin.service';
import { ModelCatalogService } from './catalog/model-catalog.service';
import { ConfiguredModelsSync } from './config-sync/configured-models.sync';
import { GATEWAY_SETTINGS, GatewaySettings } from './gateway.settings';
import { AdminKeyGuard } from './http/admin-key.guard';
import { GatewayErrorFilter } from './http/error.filter';
import { RoutingTableService } from './routing/routing-table.service';
import { ClusterInfoService } from './v1/cluster-info.service';
import { PredictService } from './v1/predict.service';
import { V1Controller } from './v1/v1.controller';

/** Needs MessagingModule in the app, and the Fastify adapter from createGatewayAdapter. */
@Module({})
export class GatewayServiceModule {
  static forRoot(settings: GatewaySettings): DynamicModule {
    return {
      module: GatewayServiceModule,
      controllers: [V1Controller, AdminController],
      providers: [
        { provide: GATEWAY_SETTINGS, useValue: settings },
        { provide: APP_FILTER, useClass: GatewayErrorFilter },
        AdminKeyGuard,
        ArtifactUploader,
        ClusterInfoService,
        ConfiguredModelsSync,
        ModelAdminService,
        ModelCatalogService,
        PredictService,
        RoutingTableService,
      ],
      exports: [ConfiguredModelsSync],
    };
  }
}
